"""The demo in a real browser: headless Chromium (Debian's `chromium`, which
.ci/run installs) driven over the DevTools protocol with the `websockets`
client, against the C demo (ASan/UBSan) and the Python one.

Two pages open the demo: the counter runs on each, a stroke drawn with the
mouse on page A and one sent by A's send function are drawn on page B, and a
screenshot of B is taken (build-asan/demo-<kind>.png; docs/demo.png, shown in
the README, is written when missing or when PYLWS_UPDATE_SCREENSHOT=1).  Circles
as examples/test-client sends them, from a `websockets` client, are drawn too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from servers import ROOT, start_demo
from tls_certs import start_example
from websockets.asyncio.client import connect as aconnect

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
]
WIDTH, HEIGHT = 1100, 600


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class Chromium:
    """A headless Chromium process; ``url`` is its DevTools WebSocket.

    Its profile (``--user-data-dir``) is in ``profile``, a folder of the
    test's own, and its temporary files (TMPDIR: it makes
    org.chromium.Chromium.* folders there and leaves them when stopped) in a
    short-named folder of /tmp (its singleton socket's path must fit a
    sockaddr_un, 108 bytes, which a test's tmp_path may not); ``stop()``
    removes both."""

    def __init__(self, exe: str, profile: Path, extra_flags: tuple[str, ...] = ()) -> None:
        self.profile = profile
        self.log_path = profile.parent / f"{profile.name}-stderr.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        profile.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp = Path(tempfile.mkdtemp(prefix="pylws-chr-"))
        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile / 'data'}",
             "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=dict(os.environ, TMPDIR=str(tmp)),
            start_new_session=True,  # its helper processes share its group: stopped with it
        )  # fmt: skip
        try:
            self.url = self._devtools_url(timeout=30)
        except BaseException:
            self.stop()
            raise

    def _devtools_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(
                r"DevTools listening on (ws://\S+)", self.log_path.read_text(errors="replace")
            )
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = self.log_path.read_text(errors="replace")
        raise RuntimeError(f"no DevTools URL from chromium:\n{log[-3000:]}")

    def stop(self) -> None:
        """Stop it by its PID (then its process group), bounded in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # helpers left behind, if any
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class DevTools:
    """The DevTools protocol over one WebSocket: commands (to the browser or,
    with ``session``, to an attached page) and the events they cause."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.new_event = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self.waiting.pop(msg["id"], None)
                if fut and not fut.done():
                    if "error" in msg:
                        fut.set_exception(RuntimeError(f"DevTools: {msg['error']}"))
                    else:
                        fut.set_result(msg.get("result", {}))
            else:
                self.events.append(msg)
                self.new_event.set()

    async def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 20,
    ) -> Any:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.waiting[msg_id] = fut
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout)

    async def event(self, method: str, session: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == method and e.get("sessionId") == session:
                    self.events.remove(e)
                    return e.get("params", {})
            self.new_event.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} event")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.new_event.wait(), left)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class Page:
    """A tab of its own, attached with a flat session."""

    def __init__(self, devtools: DevTools, session: str) -> None:
        self.dt = devtools
        self.session = session

    @classmethod
    async def open(cls, devtools: DevTools, url: str) -> Page:
        target = await devtools.call(
            "Target.createTarget",
            {"url": "about:blank", "newWindow": True, "width": WIDTH, "height": HEIGHT},
        )
        attached = await devtools.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = cls(devtools, attached["sessionId"])
        await page.call("Page.enable")
        await page.call("Runtime.enable")  # to hear of uncaught exceptions
        await page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        devtools.events = [e for e in devtools.events if e.get("sessionId") != page.session]
        await page.call("Page.navigate", {"url": url})
        await devtools.event("Page.loadEventFired", page.session)
        return page

    async def call(self, method: str, params: dict | None = None) -> Any:
        return await self.dt.call(method, params, self.session)

    async def js(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def mouse(self, kind: str, x: float, y: float) -> None:
        await self.call(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1},
        )


def start_chromium(tmp_path_factory, *extra_flags: str) -> Chromium:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install --no-install-recommends chromium)")
    return Chromium(exe, tmp_path_factory.mktemp("chromium-profile"), extra_flags)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    browser = start_chromium(tmp_path_factory)
    yield browser
    browser.stop()


@pytest.fixture(scope="module")
def chromium_tls(tmp_path_factory):
    """A Chromium that takes the demo's self-signed certificate."""
    browser = start_chromium(tmp_path_factory, "--ignore-certificate-errors")
    yield browser
    browser.stop()


@pytest.fixture(params=["c", "python"])
def demo(request):
    server = start_demo(request.param)
    yield server
    server.stop()


@pytest.fixture(params=["c", "python"])
def demo_tls(request, tmp_path):
    """The demo with --ssl and its default certificate (a self-signed one,
    made in a temporary $XDG_CACHE_HOME)."""
    server = start_example("test-server", request.param, "--ssl",
                           env={"XDG_CACHE_HOME": str(tmp_path)})  # fmt: skip
    yield server
    server.stop()


BOTH_OPEN = (
    "document.getElementById('dumb-status').dataset.state === 'open' &&"
    " document.getElementById('mirror-status').dataset.state === 'open'"
)


def exercise_demo(chromium: Chromium, url: str, url_b: str | None = None) -> bytes:
    """Two pages of the demo at ``url`` (page B at ``url_b`` when given: another
    server on the same Redis): the checks; a screenshot of page B."""

    async def go() -> bytes:
        devtools = DevTools(await aconnect(chromium.url, max_size=None, open_timeout=10))
        try:
            a = await Page.open(devtools, url)
            b = await Page.open(devtools, url_b or url)
            for page in (a, b):
                await page.until(BOTH_OPEN)
                # the page's files came through the whitelist, with the right types
                assert await page.js("document.querySelector('header img').naturalWidth") == 64
                assert await page.js("document.title") == "pylws test server"
            assert (
                await a.js(
                    "fetch('/favicon.ico')"
                    ".then(r => r.status + ' ' + r.headers.get('content-type'))"
                )
                == "200 image/x-icon"
            )

            # the counter counts, about 20 a second
            first = int(
                await b.until(
                    "+document.getElementById('number').textContent >= 0 &&"
                    " document.getElementById('number').textContent"
                )
            )
            await asyncio.sleep(1.0)
            second = int(await b.js("document.getElementById('number').textContent"))
            assert 8 <= second - first <= 40, (first, second)
            # its reset button
            await a.until("+document.getElementById('number').textContent > 15")
            await a.js("document.getElementById('reset').click()")
            await a.until("+document.getElementById('number').textContent < 10", timeout=5)

            # a segment sent by page A's send function is drawn on page B (and on A)
            assert await a.js("window.sendSegment('#d12f2f', 80, 60, 280, 220)") is True
            segment = "d #d12f2f 80 60 280 220"
            for page in (b, a):
                await page.until(f"window.mirrorLog.includes({json.dumps(segment)})")
            pixel = await b.js(
                "Array.from(document.getElementById('canvas').getContext('2d')"
                ".getImageData(180, 140, 1, 1).data)"
            )
            assert pixel[0] > 150 and pixel[1] < 100 and pixel[3] > 200, pixel

            # a stroke drawn with the mouse on page A: a wave across the canvas
            box = await a.js(
                "(() => { const r = document.getElementById('canvas').getBoundingClientRect();"
                " return [r.left, r.top, r.width, r.height]; })()"
            )
            left, top, width, height = box
            before = await b.js("window.mirrorLog.length")
            points = [
                (
                    left + width * (0.08 + 0.84 * t / 60),
                    top + height * (0.62 + 0.22 * math.sin(t / 60 * 4 * math.pi)),
                )
                for t in range(61)
            ]
            await a.mouse("mousePressed", *points[0])
            for x, y in points[1:]:
                await a.mouse("mouseMoved", x, y)
            await a.mouse("mouseReleased", *points[-1])
            # (Chromium may merge mouse moves: fewer segments than moves, same line)
            await b.until(f"window.mirrorLog.length >= {before + 20}")
            assert await b.js(
                "window.mirrorLog[window.mirrorLog.length - 1].startsWith('d #1f6fd1 ')"
            )

            # a few more strokes from A's send function, for the picture
            colours = ["#2e9e5b", "#e08a1e", "#7b3fc4"]
            for k, colour in enumerate(colours):
                cx, cy, r0 = 390 + 70 * k, 120, 30 + 6 * k
                pts = [
                    (
                        cx + (r0 + 12 * t / 40) * math.cos(t / 40 * 2 * math.pi),
                        cy + (r0 + 12 * t / 40) * math.sin(t / 40 * 2 * math.pi),
                    )
                    for t in range(41)
                ]
                for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
                    await a.js(f"window.sendSegment('{colour}', {x1}, {y1}, {x2}, {y2})")
            last = f"d {colours[-1]} "
            await b.until(f"window.mirrorLog[window.mirrorLog.length - 1].startsWith('{last}')")

            thrown = [e for e in devtools.events if e.get("method") == "Runtime.exceptionThrown"]
            assert not thrown, thrown
            shot = await b.call("Page.captureScreenshot", {"format": "png"})
            return base64.b64decode(shot["data"])
        finally:
            await devtools.close()

    png = asyncio.run(asyncio.wait_for(go(), 90))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    return png


def test_demo_in_chromium(chromium, demo):
    png = exercise_demo(chromium, f"http://127.0.0.1:{demo.port}/")
    (ROOT / "build-asan").mkdir(exist_ok=True)
    kind = demo.kind.split("-")[-1]  # "c" or "python"
    (ROOT / "build-asan" / f"demo-{kind}.png").write_bytes(png)
    docs = ROOT / "docs" / "demo.png"
    if kind == "python" and (not docs.exists() or os.environ.get("PYLWS_UPDATE_SCREENSHOT") == "1"):
        docs.parent.mkdir(exist_ok=True)
        docs.write_bytes(png)
    assert demo.alive()


def test_demo_over_tls_in_chromium(chromium_tls, demo_tls):
    # https:// for the page, and the page's sockets on wss:// (location.protocol)
    png = exercise_demo(chromium_tls, f"https://127.0.0.1:{demo_tls.port}/")
    kind = demo_tls.kind.split("-")[-1]
    (ROOT / "build-asan").mkdir(exist_ok=True)
    (ROOT / "build-asan" / f"demo-tls-{kind}.png").write_bytes(png)
    assert demo_tls.alive()


def test_circles_from_a_websockets_client_in_chromium(chromium, demo):
    """test-client's circles ("c #rrggbb x y r;", through lws-mirror-protocol)
    are drawn by the page, here sent by a `websockets` client; malformed
    commands are skipped, without an exception."""
    url = f"http://127.0.0.1:{demo.port}/"
    malformed = [
        "c #d12f2f 100 100 -5;",  # a negative radius
        "c #12345 100 100 5;",  # five hex digits
        "c #d12f2f 100 100;",  # no radius
        "c d12f2f 100 100 5;",  # no '#'
        "c #d12f2f 1.5 100 5;",  # not an integer
        "circle #d12f2f 100 100 5;",
    ]
    drawn = ["c #d12f2f 300 170 40", "c #1F6FD1 80 80 20", "d #2e9e5b 450 40 550 40"]

    async def go() -> None:
        devtools = DevTools(await aconnect(chromium.url, max_size=None, open_timeout=10))
        try:
            page = await Page.open(devtools, url)
            await page.until(BOTH_OPEN)
            async with aconnect(
                demo.url, subprotocols=["lws-mirror-protocol"], open_timeout=10
            ) as ws:
                for text in malformed:
                    await ws.send(text)
                await ws.send(drawn[0] + ";")
                await ws.send(f"{drawn[1]}; {drawn[2]};")  # two in one message
                # the mirror sends them back to the sender too, in order
                for text in malformed:
                    assert await asyncio.wait_for(ws.recv(), 10) == text
            await page.until(f"window.mirrorLog.length >= {len(drawn)}")
            assert await page.js("window.mirrorLog") == drawn

            async def pixel(x: int, y: int) -> list[int]:
                return await page.js(
                    "Array.from(document.getElementById('canvas').getContext('2d')"
                    f".getImageData({x}, {y}, 1, 1).data)"
                )

            # the big red circle: its outline, not its inside
            for x, y in ((340, 170), (260, 170), (300, 130), (300, 210)):
                r, g, b, a = await pixel(x, y)
                assert r > 150 and g < 100 and b < 100 and a > 200, (x, y, r, g, b, a)
            assert (await pixel(300, 170))[3] == 0
            r, g, b, a = await pixel(100, 80)  # the blue one's rim
            assert b > 150 and r < 100 and a > 200, (r, g, b, a)
            thrown = [e for e in devtools.events if e.get("method") == "Runtime.exceptionThrown"]
            assert not thrown, thrown
        finally:
            await devtools.close()

    asyncio.run(asyncio.wait_for(go(), 60))
    assert demo.alive()
