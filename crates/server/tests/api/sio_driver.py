"""Drives python-socketio clients for the Rust chat tests.

Reads one JSON command per line on stdin and answers each with one JSON line
on stdout carrying the same "seq". Clients are named; every event a client
receives is buffered until a "wait" or "drain" takes it.

Commands (all take "seq"; most take "client"):
  connect     url, auth?, headers?, reconnection?  -> ok, error? (connect_error message)
  emit        event, data, timeout?                 -> ok, ack (the server's ack)
  send        event, data (no ack asked)            -> ok
  wait        event, timeout?, match? (subset)      -> ok, data   (first buffered match)
  drain       event                                 -> ok, items  (all buffered, cleared)
  connects    -                                     -> ok, count  (successful connects so far)
  disconnect  -                                     -> ok
"""

import asyncio
import json
import sys

import socketio


class Client:
    def __init__(self, reconnection):
        self.sio = socketio.AsyncClient(
            reconnection=reconnection,
            reconnection_delay=0.2,
            reconnection_delay_max=1,
        )
        self.events = []
        self.changed = asyncio.Event()
        self.connect_error = None
        self.connects = 0

        @self.sio.on("*")
        async def any_event(event, data=None):
            self.events.append((event, data))
            self.changed.set()

        @self.sio.event
        async def connect():
            self.connects += 1
            self.changed.set()

        @self.sio.event
        async def connect_error(data):
            self.connect_error = data
            self.changed.set()


def matches(data, pattern):
    if pattern is None:
        return True
    if not isinstance(data, dict):
        return False
    return all(data.get(k) == v for k, v in pattern.items())


clients = {}


async def handle(cmd):
    op = cmd["op"]
    name = cmd.get("client")
    if op == "connect":
        client = Client(cmd.get("reconnection", False))
        clients[name] = client
        try:
            await client.sio.connect(
                cmd["url"],
                auth=cmd.get("auth"),
                headers=cmd.get("headers") or {},
                transports=cmd.get("transports") or ["websocket"],
                wait_timeout=10,
            )
            return {"ok": True}
        except socketio.exceptions.ConnectionError as e:
            err = client.connect_error
            message = err.get("message") if isinstance(err, dict) else (err or str(e))
            return {"ok": False, "error": message}
    client = clients[name]
    if op == "emit":
        try:
            ack = await client.sio.call(
                cmd["event"], cmd.get("data"), timeout=cmd.get("timeout", 10)
            )
            return {"ok": True, "ack": ack}
        except socketio.exceptions.TimeoutError:
            return {"ok": False, "error": "ack timeout"}
    if op == "send":
        await client.sio.emit(cmd["event"], cmd.get("data"))
        return {"ok": True}
    if op == "wait":
        deadline = asyncio.get_running_loop().time() + cmd.get("timeout", 10)
        while True:
            for i, (event, data) in enumerate(client.events):
                if event == cmd["event"] and matches(data, cmd.get("match")):
                    del client.events[i]
                    return {"ok": True, "data": data}
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return {"ok": False, "error": "timeout"}
            client.changed.clear()
            try:
                await asyncio.wait_for(client.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
    if op == "drain":
        items = [d for (e, d) in client.events if e == cmd["event"]]
        client.events = [(e, d) for (e, d) in client.events if e != cmd["event"]]
        return {"ok": True, "items": items}
    if op == "connects":
        return {"ok": True, "count": client.connects, "connected": client.sio.connected}
    if op == "disconnect":
        await client.sio.disconnect()
        return {"ok": True}
    return {"ok": False, "error": f"unknown op {op}"}


async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def run(cmd):
        try:
            out = await handle(cmd)
        except Exception as e:  # report, never die: the test reads the error
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out["seq"] = cmd.get("seq")
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()

    tasks = set()
    while True:
        line = await reader.readline()
        if not line:
            break
        task = asyncio.create_task(run(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for c in clients.values():
        if c.sio.connected:
            await c.sio.disconnect()


asyncio.run(main())
