#!/usr/bin/env python3
"""A chat server with rooms on pylws_ffi.aio (the asyncio layer).

    python examples/aio_chat.py [--host 127.0.0.1] [--port 8765]

Port 0 lets the system pick one; the line "listening on ws://HOST:PORT/" says
which.  Ctrl-C / SIGTERM close every connection with 1001 and stop.

Every message is a JSON object with a "type".  A client sends:

    {"type": "nick", "nick": "alice"}             choose a nickname
    {"type": "join", "room": "lobby"}             enter a room (made on demand)
    {"type": "leave", "room": "lobby"}
    {"type": "say", "room": "lobby", "text": "hi"}
    {"type": "rooms"}                             list the rooms

and gets "welcome" (its first nickname) on connecting, "joined"/"left"/
"message"/"renamed" for what happens in its rooms (to every member, itself
included), "rooms" ({"lobby": 2, ...}) and "error" ({"error": "..."}) for a
request it got wrong.  A room's members are a set of connections; a message
to the room goes out with ``broadcast``, which skips a member too slow to keep
up (its output still queued) instead of queueing for it without bound.  A
disconnect, clean or not, leaves every room the client was in.

examples/aio_chat.html is a page for it: open the file in a browser (add
?server=ws://HOST:PORT/ for another address than ws://127.0.0.1:8765/).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
from typing import Any

from pylws_ffi import aio

MAX_NICK = 32
MAX_ROOM = 64
MAX_TEXT = 4096


class Chat:
    """The state shared by all connections: rooms and nicknames."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[aio.Connection]] = {}
        self.nicks: dict[aio.Connection, str] = {}
        self._guests = itertools.count(1)

    def send_room(self, room: str, event: dict[str, Any]) -> None:
        aio.broadcast(self.rooms.get(room, ()), json.dumps(event))

    def new_guest(self, conn: aio.Connection) -> str:
        while True:
            nick = f"guest-{next(self._guests)}"
            if nick not in self.nicks.values():
                self.nicks[conn] = nick
                return nick

    def rooms_of(self, conn: aio.Connection) -> list[str]:
        return sorted(room for room, members in self.rooms.items() if conn in members)

    def leave(self, conn: aio.Connection, room: str) -> None:
        members = self.rooms.get(room)
        if members is None or conn not in members:
            return
        members.discard(conn)
        if members:
            self.send_room(room, {"type": "left", "room": room, "nick": self.nicks[conn]})
        else:
            del self.rooms[room]

    def handle(self, conn: aio.Connection, request: dict[str, Any]) -> dict[str, Any] | None:
        """Carry out one request; returns the answer for this client alone
        (None when the room's broadcast is the answer)."""
        kind = request.get("type")
        nick = self.nicks[conn]
        if kind == "rooms":
            return {"type": "rooms", "rooms": {r: len(m) for r, m in sorted(self.rooms.items())}}
        if kind == "nick":
            new = request.get("nick")
            if not isinstance(new, str) or not 0 < len(new) <= MAX_NICK or not new.isprintable():
                return error(f"a nickname is 1 to {MAX_NICK} printable characters")
            if new != nick and new in self.nicks.values():
                return error(f"the nickname {new!r} is taken")
            self.nicks[conn] = new
            rooms = self.rooms_of(conn)
            for name in rooms:
                self.send_room(name, {"type": "renamed", "room": name, "old": nick, "nick": new})
            return None if rooms else {"type": "renamed", "old": nick, "nick": new}
        room = request.get("room")
        if not isinstance(room, str) or not 0 < len(room) <= MAX_ROOM:
            return error(f"a room is named by 1 to {MAX_ROOM} characters")
        if kind == "join":
            members = self.rooms.setdefault(room, set())
            if conn in members:
                return error(f"already in {room!r}")
            members.add(conn)
            names = sorted(self.nicks[c] for c in members)
            self.send_room(room, {"type": "joined", "room": room, "nick": nick, "members": names})
            return None
        if kind == "leave":
            if conn not in self.rooms.get(room, ()):
                return error(f"not in {room!r}")
            self.leave(conn, room)
            return {"type": "left", "room": room, "nick": nick}
        if kind == "say":
            text = request.get("text")
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                return error(f"text is a string of at most {MAX_TEXT} characters")
            if conn not in self.rooms.get(room, ()):
                return error(f"join {room!r} first")
            self.send_room(room, {"type": "message", "room": room, "nick": nick, "text": text})
            return None
        return error(f"unknown request type {kind!r}")

    async def serve(self, conn: aio.Connection) -> None:
        """The connection handler."""
        nick = self.new_guest(conn)
        try:
            await conn.send(json.dumps({"type": "welcome", "nick": nick}))
            async for message in conn:
                try:
                    request = json.loads(message)
                except ValueError:
                    answer: dict[str, Any] | None = error("not JSON")
                else:
                    if isinstance(request, dict):
                        answer = self.handle(conn, request)
                    else:
                        answer = error("a request is a JSON object")
                if answer is not None:
                    await conn.send(json.dumps(answer))
        finally:  # closed cleanly or not: out of every room
            for room in self.rooms_of(conn):
                self.leave(conn, room)
            del self.nicks[conn]


def error(why: str) -> dict[str, Any]:
    return {"type": "error", "error": why}


async def main(host: str, port: int) -> None:
    chat = Chat()
    async with aio.serve(chat.serve, host, port, max_size=64 * 1024) as server:
        print(f"listening on ws://{host}:{server.port}/", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
    print("stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
