"""pylws_ffi.aio over TLS, with the test CA of tests/tls_certs.py (made per
session with the openssl command line): aio.serve(certfile=, keyfile=)
against the ``websockets`` client, aio.connect("wss://...") against a
``websockets`` TLS server and against aio.serve, certificates refused with
InvalidCertificate, and bad TLS options.  Server and client share one loop
(asyncio's and uvloop), every wait bounded."""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from support.net import free_port
from tls_certs import Certs
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidHandshake as WsInvalidHandshake

from pylws_ffi import aio

LOCAL = "127.0.0.1"
MIB = 1 << 20
# what a TLS client sees when the server refuses its handshake (or drops it)
REFUSED = (ssl.SSLError, OSError, EOFError, WsClosed, WsInvalidHandshake, TimeoutError)


async def echo(conn: aio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def ws_echo(ws: Any) -> None:
    with contextlib.suppress(WsClosed):
        async for message in ws:
            await ws.send(message)


def ws_tls_server(certs: Certs, pair: Any, **kw: Any) -> Any:
    """A websockets echo server over TLS with ``pair`` on 127.0.0.1, port 0."""
    kw.setdefault("compression", None)
    kw.setdefault("max_size", None)
    return ws_serve(ws_echo, LOCAL, 0, ssl=certs.server_context(pair), **kw)


def port_of(ws_server: Any) -> int:
    return ws_server.sockets[0].getsockname()[1]


# ---- aio.serve over TLS, the websockets client ----


def test_tls_server_websockets_client(run, tls_certs):
    port = free_port()
    big = os.urandom(MIB)

    async def main() -> None:
        async with aio.serve(
            echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=tls_certs.server.key,
            max_size=2 * MIB,
        ) as server:  # fmt: skip
            ctx = tls_certs.client_context()
            async with ws_connect(
                f"wss://{LOCAL}:{port}/tls?x=1", ssl=ctx, max_size=None, compression=None
            ) as ws:
                for message in ["hello over wss", "é" * 1000, b"", big]:
                    await ws.send(message)
                    assert await ws.recv() == message
                (conn,) = server.connections
                assert conn.path == "/tls?x=1"
            assert ws.close_code == 1000
            # by name, with SNI
            async with ws_connect(
                f"wss://localhost:{port}/", ssl=ctx, server_hostname="localhost", compression=None
            ) as ws:
                await ws.send("by name")
                assert await ws.recv() == "by name"
            # a client that does not trust the test CA refuses the server
            with pytest.raises(ssl.SSLCertVerificationError):
                async with ws_connect(
                    f"wss://{LOCAL}:{port}/", ssl=ssl.create_default_context(), open_timeout=10
                ):
                    pass
            # plain ws:// to the TLS port gets nowhere
            with pytest.raises(REFUSED):
                async with ws_connect(f"ws://{LOCAL}:{port}/", open_timeout=5):
                    pass
            # and the server still serves
            async with ws_connect(f"wss://{LOCAL}:{port}/", ssl=ctx) as ws:
                await ws.send(b"still")
                assert await ws.recv() == b"still"

    run(main())


def test_tls_server_key_in_the_certificate_file(run, tls_certs, tmp_path):
    both = tmp_path / "server-and-key.pem"
    both.write_bytes(
        Path(tls_certs.server.cert).read_bytes() + Path(tls_certs.server.key).read_bytes()
    )
    port = free_port()

    async def main() -> None:
        ctx = tls_certs.client_context()
        serving = aio.serve(echo, LOCAL, port, certfile=both)  # keyfile: from certfile
        async with serving, ws_connect(f"wss://{LOCAL}:{port}/", ssl=ctx) as ws:
            await ws.send("one file")
            assert await ws.recv() == "one file"

    run(main())


# ---- aio.connect wss://, a websockets server ----


def test_wss_client_websockets_server(run, tls_certs):
    hosts: list[str] = []

    def record(connection: Any, request: Any) -> None:
        hosts.append(request.headers["Host"])

    async def main() -> None:
        async with ws_tls_server(tls_certs, tls_certs.server, process_request=record) as server:
            port = port_of(server)
            async with aio.connect(
                f"wss://{LOCAL}:{port}/", cafile=tls_certs.ca.cert, max_size=2 * MIB
            ) as conn:
                for message in ["hello over wss", b"\x00" * 70_000, os.urandom(MIB)]:
                    await conn.send(message)
                    assert await conn.recv() == message
            assert conn.close_code == 1000
            # by name (SNI, the certificate's DNS name)
            async with aio.connect(f"wss://localhost:{port}/p", cafile=tls_certs.ca.cert) as conn:
                await conn.send("by name")
                assert await conn.recv() == "by name"
            assert hosts == [f"{LOCAL}:{port}", f"localhost:{port}"]

    run(main())


def test_wss_both_ends_ours_with_client_certificates(run, tls_certs):
    """aio.connect to aio.serve over TLS; the server's cafile makes a client
    certificate required, given by certfile/keyfile."""
    port = free_port()
    ca = tls_certs.ca.cert

    async def main() -> None:
        async with aio.serve(
            echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=tls_certs.server.key,
            cafile=ca,
        ):  # fmt: skip
            async with aio.connect(
                f"wss://{LOCAL}:{port}/",
                cafile=ca,
                certfile=tls_certs.client.cert,
                keyfile=tls_certs.client.key,
            ) as conn:
                await conn.send("mutual")
                assert await conn.recv() == "mutual"
            # no client certificate, or one from a CA the server does not know
            for extra in [{}, {"certfile": tls_certs.rogue_client.cert,
                               "keyfile": tls_certs.rogue_client.key}]:  # fmt: skip
                with pytest.raises(aio.InvalidHandshake):
                    async with aio.connect(
                        f"wss://{LOCAL}:{port}/", cafile=ca, open_timeout=10, **extra
                    ):
                        pass

    run(main())


# ---- certificates refused ----


@pytest.mark.parametrize(
    ("which", "host", "cafile", "expected", "code"),
    [
        ("server", LOCAL, False, "unable to get local issuer certificate", 20),
        ("other_host", LOCAL, True, "IP address mismatch", 64),
        ("other_host", "localhost", True, "hostname mismatch", 62),
        ("expired", LOCAL, True, "certificate has expired", 10),
        ("self_signed", LOCAL, True, "self-signed certificate", 18),
    ],
)
def test_wss_refused_certificate(run, tls_certs, which, host, cafile, expected, code):
    async def main() -> None:
        async with ws_tls_server(tls_certs, getattr(tls_certs, which)) as server:
            url = f"wss://{host}:{port_of(server)}/"
            start = time.monotonic()
            with pytest.raises(aio.InvalidCertificate) as info:
                await aio.connect(
                    url, cafile=tls_certs.ca.cert if cafile else None, open_timeout=10
                )
            assert time.monotonic() - start < 5
            e = info.value
            # what the ssl module would raise, and what aio raises for a failed opening
            assert isinstance(e, ssl.SSLCertVerificationError)
            assert isinstance(e, aio.InvalidHandshake) and isinstance(e, ConnectionError)
            assert str(e) == f"TLS: server certificate refused: {expected}"
            assert e.verify_message == expected
            assert e.verify_code == code

    run(main())


def test_wss_allow_self_signed(run, tls_certs):
    async def main() -> None:
        async with ws_tls_server(tls_certs, tls_certs.self_signed) as server:
            port = port_of(server)
            async with aio.connect(f"wss://{LOCAL}:{port}/", allow_self_signed=True) as conn:
                await conn.send("self-signed is fine")
                assert await conn.recv() == "self-signed is fine"
        # a certificate of an unknown CA is no self-signed one
        async with ws_tls_server(tls_certs, tls_certs.server) as server:
            with pytest.raises(aio.InvalidCertificate, match="local issuer"):
                await aio.connect(
                    f"wss://{LOCAL}:{port_of(server)}/", allow_self_signed=True, open_timeout=10
                )

    run(main())


def test_wss_to_a_plain_server_fails(run):
    async def main() -> None:
        async with ws_serve(ws_echo, LOCAL, 0) as server:
            with pytest.raises(aio.InvalidHandshake, match="^TLS") as info:
                await aio.connect(f"wss://{LOCAL}:{port_of(server)}/", open_timeout=10)
            assert not isinstance(info.value, aio.InvalidCertificate)

    run(main())


# ---- bad TLS options ----


def test_tls_options_checked(run, tls_certs, tmp_path):
    missing = str(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    port = free_port()

    # at once
    with pytest.raises(FileNotFoundError, match="missing.pem"):
        aio.connect(f"wss://{LOCAL}:1/", cafile=missing)
    with pytest.raises(FileNotFoundError, match="missing.pem"):
        aio.serve(echo, LOCAL, port, certfile=missing)
    with pytest.raises(FileNotFoundError, match="missing.pem"):
        aio.serve(echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=missing)
    with pytest.raises(ValueError, match="certfile"):
        aio.serve(echo, LOCAL, port, keyfile=tls_certs.server.key)
    with pytest.raises(ValueError, match="certfile"):
        aio.connect(f"wss://{LOCAL}:1/", keyfile=tls_certs.client.key)
    with pytest.raises(TypeError):
        aio.connect(f"wss://{LOCAL}:1/", cafile=ssl.create_default_context())  # type: ignore

    async def main() -> None:
        # files OpenSSL cannot use: ssl.SSLError (an OSError), saying which
        with pytest.raises(ssl.SSLError, match="cannot load the private key .*wrong.key"):
            await aio.serve(
                echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=tls_certs.wrong_key
            )
        with pytest.raises(ssl.SSLError, match="cannot load the certificate .*garbage.pem"):
            await aio.serve(echo, LOCAL, port, certfile=garbage, keyfile=tls_certs.server.key)
        with pytest.raises(ssl.SSLError, match="cannot load the CA file .*garbage.pem"):
            await aio.serve(
                echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=tls_certs.server.key,
                cafile=garbage,
            )  # fmt: skip
        async with ws_tls_server(tls_certs, tls_certs.server) as server:
            url = f"wss://{LOCAL}:{port_of(server)}/"
            with pytest.raises(ssl.SSLError, match="cannot load the CA file .*garbage.pem"):
                await aio.connect(url, cafile=garbage, open_timeout=10)
            with pytest.raises(ssl.SSLError, match="cannot load the private key .*wrong.key"):
                await aio.connect(
                    url, cafile=tls_certs.ca.cert, certfile=tls_certs.client.cert,
                    keyfile=tls_certs.wrong_key, open_timeout=10,
                )  # fmt: skip
            # the port was never taken by the failed servers
            serving = aio.serve(
                echo, LOCAL, port, certfile=tls_certs.server.cert, keyfile=tls_certs.server.key
            )
            url = f"wss://{LOCAL}:{port}/"
            async with serving, aio.connect(url, cafile=tls_certs.ca.cert) as c:
                await c.send("fine")
                assert await c.recv() == "fine"

    run(main())
