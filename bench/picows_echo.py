#!/usr/bin/env python3
"""Echo server built on picows (with uvloop), a peer for bench/run.py.

    python bench/picows_echo.py --port 9000

picows hands the listener every frame as it arrives (not whole messages); the
frame is echoed at once with the same type and FIN bit, so fragmented
messages go back fragmented the same way.  A Close is answered and ends the
connection; picows answers pings itself.  No compression (picows has none),
no keepalive pings, frames up to 64 MiB.
"""

import argparse

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code() or WSCloseCode.OK)
            transport.disconnect()
        elif t is WSMsgType.BINARY or t is WSMsgType.TEXT or t is WSMsgType.CONTINUATION:
            # the frame's payload is only valid during this call: send copies it
            transport.send(t, frame.get_payload_as_memoryview(), frame.fin)


async def main(host: str, port: int) -> None:
    server = await ws_create_server(
        lambda request: Echo(),
        host,
        port,
        max_frame_size=64 * 1024 * 1024,
        enable_auto_ping=False,
    )
    print("picows echo server on ws://%s:%d/" % (host, port), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    args = ap.parse_args()
    import uvloop

    uvloop.run(main(args.host, args.port))
