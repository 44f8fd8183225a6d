#!/usr/bin/env python3
"""Checks echo_load against a deliberately awkward echo server.

    python bench/check_echo_load.py [--echo-load PATH]

The server here is a small hand-written RFC 6455 server (asyncio streams, no
library) that checks every frame echo_load sends (masked, a fresh mask per
frame, valid opcodes and continuation order, UTF-8 for text, a 1000 close) and
replies in ways a benchmark server rarely does: messages cut into random
fragments (empty ones included), pings between fragments, every reply written
in small pieces so frame headers straddle recv() calls, and 16-bit / 64-bit
length encodings.  Other modes break the protocol on purpose (corrupt, short
or long payloads, masked or RSV frames, a bad accept key, a refused upgrade,
a close in the middle) and echo_load must fail with the right message.

Prints one line per case and 'N passed, N failed' at the end.
"""

import argparse
import asyncio
import base64
import hashlib
import os
import random
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def unmask(data, mask):
    if not data:
        return data
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ m).to_bytes(n, "little")


def frame(op, payload, fin=True, rsv=0, mask=None):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        h = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        h = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        return h + mask + unmask(payload, mask)
    return h + payload


class Stats:
    def __init__(self):
        self.problems = []
        self.masks = set()
        self.frames = 0
        self.pings = 0
        self.pongs = 0
        self.messages = 0
        self.clean_close = 0
        self.unanswered = 0  # pings still unanswered when the client's Close came


async def handle(reader, writer, mode, st, seed):
    rng = random.Random(seed)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        req = await reader.readuntil(b"\r\n\r\n")
        headers = {}
        for line in req.split(b"\r\n")[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.strip().lower()] = v.strip()
        if (
            not req.startswith(b"GET ")
            or headers.get(b"upgrade", b"").lower() != b"websocket"
            or headers.get(b"sec-websocket-version") != b"13"
            or len(base64.b64decode(headers.get(b"sec-websocket-key", b""))) != 16
        ):
            st.problems.append("bad request: %r" % req)
        if mode == "refuse":
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        acc = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + GUID).digest())
        if mode == "badaccept":
            acc = base64.b64encode(hashlib.sha1(b"nope").digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
            b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n"
        )
        await writer.drain()
        msg_op, parts = None, []
        ping_out = []
        while True:
            b0, b1 = await reader.readexactly(2)
            fin, rsv, op = b0 & 0x80, b0 & 0x70, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            if not b1 & 0x80:
                st.problems.append("client frame not masked")
                return
            mask = await reader.readexactly(4)
            st.masks.add(mask)
            st.frames += 1
            payload = unmask(await reader.readexactly(n), mask)
            if rsv:
                st.problems.append("client set RSV bits")
            if op == 8:
                if payload[:2] != b"\x03\xe8":
                    st.problems.append("close payload %r" % payload)
                st.clean_close += 1
                # a client that has sent its Close sends nothing more: pings
                # that crossed it legitimately stay unanswered
                st.unanswered += len(ping_out)
                writer.write(frame(8, payload[:2]))
                await writer.drain()
                return
            if op == 10:
                if not ping_out or ping_out.pop(0) != payload:
                    st.problems.append("unexpected pong %r" % payload)
                st.pongs += 1
                continue
            if op == 9:
                writer.write(frame(10, payload))
                continue
            if op in (1, 2):
                if msg_op is not None:
                    st.problems.append("data frame inside a message")
                msg_op, parts = op, [payload]
            elif op == 0:
                if msg_op is None:
                    st.problems.append("continuation outside a message")
                parts.append(payload)
            else:
                st.problems.append("client opcode %d" % op)
            if not fin:
                continue
            msg = b"".join(parts)
            op, msg_op = msg_op, None
            if op == 1:
                try:
                    msg.decode("utf-8")
                except UnicodeDecodeError:
                    st.problems.append("text message not UTF-8")
            st.messages += 1
            await reply(writer, rng, mode, op, msg, st, ping_out)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def reply(writer, rng, mode, op, msg, st, ping_out):
    k = st.messages
    if mode == "corrupt" and k == 50 and msg:
        i = rng.randrange(len(msg))
        msg = msg[:i] + bytes([msg[i] ^ 0x20]) + msg[i + 1 :]
    elif mode == "short" and k == 50:
        msg = msg[:-1]
    elif mode == "long" and k == 50:
        msg = msg + b"x"
    elif mode == "close" and k == 50:
        writer.write(frame(8, b"\x03\xe9going away"))
        await writer.drain()
        return
    elif mode == "tcpclose" and k == 50:
        writer.transport.abort()
        return
    if mode == "masked" and k == 50:
        writer.write(frame(op, msg, mask=b"abcd"))
        return
    if mode == "rsv" and k == 50:
        writer.write(frame(op, msg, rsv=0x40))
        return
    if mode != "split":
        writer.write(frame(op, msg))
        await writer.drain()
        return
    # split: random fragments, empty fragments, pings in between, written in pieces
    out = []
    pos, first = 0, True
    while True:
        choice = rng.random()
        if choice < 0.1:
            n = 0
        elif choice < 0.5:
            n = rng.randint(1, 10)
        else:
            n = rng.randint(1, max(1, len(msg)))
        chunk = msg[pos : pos + n]
        pos += len(chunk)
        last = pos >= len(msg) and rng.random() < 0.8
        out.append(frame(op if first else 0, chunk, fin=last))
        first = False
        if rng.random() < 0.15:
            p = os.urandom(rng.randint(0, 125))
            ping_out.append(p)
            st.pings += 1
            out.append(frame(9, p))
        if rng.random() < 0.05:
            out.append(frame(10, b"unsolicited"))
        if last:
            break
    data = b"".join(out)
    i = 0
    while i < len(data):
        n = rng.choice((1, 1, 2, 3, 5, 13, 64, 1000, 70000))
        writer.write(data[i : i + n])
        i += n
        if rng.random() < 0.3:
            await writer.drain()
            await asyncio.sleep(0)
    await writer.drain()


async def serve_and_run(mode, cmd, seed):
    st = Stats()
    conn_seed = [seed]

    def on_conn(r, w):
        conn_seed[0] += 1
        return handle(r, w, mode, st, conn_seed[0])

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        *cmd, "-p", str(port), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        err += b"\n(timed out)"
    server.close()
    await server.wait_closed()
    return proc.returncode, out.decode(), err.decode(), st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo-load", default=os.path.join(HERE, "echo_load"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not os.path.exists(args.echo_load):
        subprocess.check_call(
            [
                "gcc",
                "-O2",
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-o",
                args.echo_load,
                os.path.join(HERE, "echo_load.c"),
            ]
        )
    el = [args.echo_load, "-q", "--timeout", "20"]
    # (name, server mode, echo_load args, expect ok, expected stderr text, check)
    good = [
        ("selftest", None, ["--selftest"], True, "", None),  # SHA-1 / accept vectors
        (
            "plain binary",
            "plain",
            ["-c", "3", "-i", "4", "-s", "300", "-n", "3000", "-w", "0", "-V"],
            True,
            "",
            3000,
        ),
        (
            "plain 64-bit length",
            "plain",
            ["-c", "1", "-i", "2", "-s", "70000", "-n", "40", "-w", "0", "-V"],
            True,
            "",
            40,
        ),
        (
            "plain duration",
            "plain",
            ["-c", "5", "-i", "3", "-s", "64", "-d", "0.5", "-w", "0.2", "-V"],
            True,
            "",
            None,
        ),
        (
            "split binary 200",
            "split",
            ["-c", "3", "-i", "4", "-s", "200", "-n", "1500", "-w", "0", "-V"],
            True,
            "",
            1500,
        ),
        (
            "split text 1000",
            "split",
            ["-c", "2", "-i", "3", "-s", "1000", "-n", "600", "-w", "0", "-V", "-t"],
            True,
            "",
            600,
        ),
        (
            "split 1..9 bytes",
            "split",
            ["-c", "2", "-i", "2", "-s", "9", "-n", "1000", "-w", "0", "-V"],
            True,
            "",
            1000,
        ),
        (
            "split empty",
            "split",
            ["-c", "2", "-i", "2", "-s", "0", "-n", "500", "-w", "0", "-V"],
            True,
            "",
            500,
        ),
        (
            "split 70000",
            "split",
            ["-c", "2", "-i", "2", "-s", "70000", "-n", "60", "-w", "0", "-V"],
            True,
            "",
            60,
        ),
        (
            "client fragments",
            "split",
            ["-c", "2", "-i", "3", "-s", "5000", "-f", "700", "-n", "300", "-w", "0", "-V", "-t"],
            True,
            "",
            300,
        ),
        (
            "client fragments 126/127",
            "plain",
            ["-c", "1", "-i", "2", "-s", "200000", "-f", "65536", "-n", "20", "-w", "0", "-V"],
            True,
            "",
            20,
        ),
    ]
    bad = [
        (
            "corrupt byte",
            "corrupt",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0", "-V"],
            False,
            "payload mismatch",
            None,
        ),
        (
            "short message",
            "short",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "echoed message has 99 bytes",
            None,
        ),
        (
            "long message",
            "long",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "longer than sent",
            None,
        ),
        (
            "server close",
            "close",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "server closed the connection (code 1001",
            None,
        ),
        (
            "tcp reset",
            "tcpclose",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "",
            None,
        ),
        (
            "masked frame",
            "masked",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "masked frame",
            None,
        ),
        (
            "rsv bits",
            "rsv",
            ["-s", "100", "-i", "4", "-n", "200", "-w", "0"],
            False,
            "RSV bits",
            None,
        ),
        (
            "bad accept",
            "badaccept",
            ["-n", "10", "-w", "0"],
            False,
            "bad Sec-WebSocket-Accept",
            None,
        ),
        (
            "refused",
            "refuse",
            ["-n", "10", "-w", "0"],
            False,
            "handshake refused: HTTP/1.1 400",
            None,
        ),
    ]
    passed = failed = 0
    for name, mode, extra, want_ok, want_err, want_msgs in good + bad:
        if mode is None:
            p = subprocess.run([args.echo_load] + extra, capture_output=True, text=True)
            rc, out, err, st = p.returncode, p.stdout, p.stderr, None
        else:
            rc, out, err, st = asyncio.run(serve_and_run(mode, el + extra, args.seed))
        why = []
        if want_ok and rc != 0:
            why.append("exit %d" % rc)
        if not want_ok and rc == 0:
            why.append("exit 0 but the server misbehaved")
        if want_err and want_err not in err:
            why.append("stderr lacks %r" % want_err)
        if st is not None:
            why += st.problems
            if want_ok:
                if st.frames > 20 and len(st.masks) < st.frames // 2:
                    why.append(
                        "masks repeat: %d distinct of %d frames" % (len(st.masks), st.frames)
                    )
                if st.pongs + st.unanswered != st.pings:
                    why.append(
                        "%d pings, %d pongs, %d crossed the close"
                        % (st.pings, st.pongs, st.unanswered)
                    )
                if not st.clean_close:
                    why.append("no close frame from echo_load")
        if want_msgs is not None and ("msgs=%d " % want_msgs) not in out:
            why.append("result line lacks msgs=%d" % want_msgs)
        if want_ok and mode is not None and "errors=0" not in out:
            why.append("result line lacks errors=0")
        if not want_ok and mode != "refuse" and mode != "badaccept" and "errors=" not in out:
            why.append("no result line")
        status = "ok" if not why else "FAIL"
        detail = (" pings=%d frames=%d" % (st.pings, st.frames)) if st and want_ok else ""
        print(
            "%-4s %-26s %s%s"
            % (
                status,
                name,
                "; ".join(why) or (out.strip().splitlines() or [""])[-1][:90]
                if want_ok
                else "; ".join(why) or err.strip().splitlines()[-1][:90],
                detail,
            )
        )
        if why:
            failed += 1
            sys.stderr.write(err)
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
