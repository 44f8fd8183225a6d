"""The asyncio layer's receive path: in a context made with a receivers map
(what aio.serve and aio.connect pass to create_context), RECEIVE of a wsi
found there goes to its ``_on_receive(in_, len_, flags)`` with ``in_`` typed
``char *`` and ``flags`` saying binary and final (PYLWS_RECEIVED_*;
dispatch._pylws_receive_callback); every other reason, and
RECEIVE of a wsi not found there, reaches the protocol callback as before."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from support.net import free_port
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WsClosed


class Receiver:
    """Stands in for a Connection of ``wsi`` (the object ESTABLISHED gave):
    records what _on_receive gets, echoes it (unless ``echo`` is false) and
    answers with ``answer`` (or raises it when it is an exception)."""

    def __init__(self, wsi: Any, answer: int | BaseException = 0, echo: bool = True) -> None:
        self.wsi = wsi
        self.echo = echo
        self.got: list[tuple[Any, bytes, int]] = []
        self.answer = answer

    def _on_receive(self, in_: Any, len_: int, flags: int) -> int:
        from pylws_ffi import ffi

        self.got.append((ffi.typeof(in_), ffi.unpack(in_, len_), flags))
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == 0 and self.echo:  # echo it, as the layer's handler would
            import pylws_ffi as lws

            lws.libwebsocket_write(self.wsi, ffi.unpack(in_, len_), len_, lws.LWS_WRITE_TEXT)
        return self.answer


def serve_with(
    receivers: dict[Any, Receiver], make: Any, reasons: list[tuple[int, Any]], port: int
) -> Any:
    """create_context with receivers: ESTABLISHED puts make(wsi) in it (unless
    make is None); the callback records (reason, type of in_) and echoes a
    RECEIVE that reaches it."""
    import pylws_ffi as lws
    from pylws_ffi import aio, ffi

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        reasons.append((reason, ffi.typeof(in_)))
        if reason == lws.LWS_CALLBACK_ESTABLISHED and make is not None:
            receivers[wsi] = make(wsi)
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_write(wsi, lws.payload(in_, len_), len_, lws.LWS_WRITE_TEXT)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            receivers.pop(wsi, None)
        return 0

    return aio.create_context(port, "127.0.0.1", [("echo", callback, 0)], _receivers=receivers)


async def echo_once(port: int, text: str) -> str:
    async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(text)
        return str(await ws.recv())


def test_a_known_wsi_gets_its_messages_as_char_p_and_the_callback_does_not(run):
    import pylws_ffi as lws
    from pylws_ffi import ffi, lib, registry

    port = free_port()
    receivers: dict[Any, Receiver] = {}
    made: list[Receiver] = []
    reasons: list[tuple[int, Any]] = []

    def make(wsi: Any) -> Receiver:
        made.append(Receiver(wsi))
        return made[-1]

    async def main() -> str:
        with serve_with(receivers, make, reasons, port) as ctx:
            assert registry.receivers[ctx.context] is receivers
            answer = await echo_once(port, "through the receiver")
            key = ctx.context
        assert key not in registry.receivers  # let go of with the context
        return answer

    assert run(main()) == "through the receiver"
    assert [got for r in made for got in r.got] == [
        (ffi.typeof("char *"), b"through the receiver", lib.PYLWS_RECEIVED_FINAL)
    ]
    seen = [reason for reason, _ in reasons]
    assert lws.LWS_CALLBACK_ESTABLISHED in seen and lws.LWS_CALLBACK_CLOSED in seen
    assert lws.LWS_CALLBACK_RECEIVE not in seen


def test_flags_say_binary_and_final_piece_by_piece(run):
    """Pieces of fragmented messages (whole messages are not asked for here):
    each with its message's type, the last one final."""
    from pylws_ffi import lib

    port = free_port()
    made: list[Receiver] = []

    def make(wsi: Any) -> Receiver:
        made.append(Receiver(wsi, echo=False))
        return made[-1]

    async def main() -> None:
        with serve_with({}, make, [], port):
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                # websockets sends each piece as a frame, then an empty final one
                await ws.send(["ab", "cd"])
                await ws.send([b"\x00\x01", b"\x02"])
                await ws.send(b"one")
                await ws.ping()  # answered after the messages before it were read
                await ws.close()

    run(main())
    binary, final = lib.PYLWS_RECEIVED_BINARY, lib.PYLWS_RECEIVED_FINAL
    assert [(data, flags) for r in made for _, data, flags in r.got] == [
        (b"ab", 0),
        (b"cd", 0),
        (b"", final),
        (b"\x00\x01", binary),
        (b"\x02", binary),
        (b"", binary | final),
        (b"one", binary | final),
    ]


def test_an_unknown_wsi_takes_the_common_path_with_a_void_p(run):
    import pylws_ffi as lws
    from pylws_ffi import ffi

    port = free_port()
    reasons: list[tuple[int, Any]] = []

    async def main() -> str:
        with serve_with({}, None, reasons, port):
            return await echo_once(port, "through the callback")

    assert run(main()) == "through the callback"
    assert (lws.LWS_CALLBACK_RECEIVE, ffi.typeof("void *")) in reasons


@pytest.mark.parametrize(
    "answer, code",
    [(-1, 1005), (RuntimeError("_on_receive failed (expected by the test)"), 1011)],
    ids=["returns -1", "raises"],
)
def test_what_on_receive_answers_closes_as_a_callback_would(run, caplog, answer, code):
    """-1 closes the connection (no status: the peer sees 1005); an exception
    is logged and closes it with 1011, as one raised in a protocol callback."""
    port = free_port()

    async def main() -> int | None:
        with serve_with({}, lambda wsi: Receiver(wsi, answer), [], port):
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("close me")
                with pytest.raises(WsClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return ws.close_code

    with caplog.at_level(logging.ERROR):
        assert run(main()) == code
    failed = "_on_receive failed" in caplog.text
    assert failed == isinstance(answer, BaseException)
