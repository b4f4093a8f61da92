"""The SQLite event writer as a process of its own, beside the web server rather than in it.

Every SQLite event goes through one writer per server process. In a thread, that writer and the
request handlers take turns on one interpreter lock, and the two together cannot use more than
one core; as a process of its own, it commits on the second core while the server parses and
answers requests. The server sends each unit of work as a length-prefixed msgpack frame over a
Unix socket pair; the writer reads everything that has arrived, stores it in one transaction
(group commit), and only then answers each unit, so an acknowledgement still means "committed".

The writer exits when the server's end of the socket closes, after storing what it had read,
so a crashed server leaves no writer behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from listening.group_commit import SqliteCommitter
from listening.ingest.jobs import Precomputed, Work
from listening.ingest.sqlite_writer import RulesCache, apply_sqlite
from listening.schemas import EventIn

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
MAX_WEIGHT = 2000  # events per transaction
# A chunk of a batch is about half a megabyte; the default socket buffer (about 200 KiB) would
# hold the rest of it in the server until the server's loop next runs, idling the writer.
SOCKET_BUFFER = 8 * 2**20  # the kernel may grant less (net.core.wmem_max)


class Job(msgspec.Struct, array_like=True):
    """One caller's events, as the server sends them to the writer."""

    id: int
    events: msgspec.Raw  # list[EventIn] as msgpack, decoded only where the writer needs them
    size: int  # how many events: a transaction's weight, known without decoding them
    now: datetime
    key_hash: str | None
    precomputed: Precomputed | None = None


class Done(msgspec.Struct, array_like=True):
    """The writer's answer to one job: its outcomes, UNAUTHORIZED, or an error message."""

    id: int
    ok: bool
    result: Any


_encode = msgspec.msgpack.Encoder().encode
_jobs = msgspec.msgpack.Decoder(list[Job])
_answers = msgspec.msgpack.Decoder(list[Done])


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def _frames(buffer: bytearray) -> list[bytes]:
    """Cut the complete frames off the front of `buffer`."""
    found = []
    while len(buffer) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + size:
            break
        found.append(bytes(buffer[_HEADER.size : _HEADER.size + size]))
        del buffer[: _HEADER.size + size]
    return found


# --- the server's side -------------------------------------------------------------------------


class _Answers(asyncio.Protocol):
    """Reads the writer's answers and settles the futures waiting for them."""

    def __init__(self, owner: WriterProcess) -> None:
        self._owner = owner
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        """Settle every job whose answer is complete."""
        self._buffer += data
        for frame in _frames(self._buffer):
            for done in _answers.decode(frame):
                self._owner.settle(done)

    def connection_lost(self, exc: Exception | None) -> None:
        """The writer went away: fail whatever still waits."""
        self._owner.lost(exc)


class WriterProcess:
    """The server's handle on its writer process: starts it, sends jobs, hands back answers.

    `decode(result)` turns a job's answer back into what callers get. A writer that died is
    started afresh by the next job; the jobs it was holding fail (their callers get a 500 and
    may send them again: event ids make that safe).
    """

    def __init__(
        self,
        path: str,
        secret_key: str,
        decode: Callable[[Any], Any] = lambda r: r,
    ) -> None:
        self.path = path
        self._secret_key = secret_key
        self._decode = decode
        self._process: subprocess.Popen | None = None
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._starting: asyncio.Future | None = None

    async def ready(self) -> None:
        """Start the writer for the running loop unless it already runs."""
        loop = asyncio.get_running_loop()
        while self._transport is None or self._loop is not loop or self._transport.is_closing():
            if self._starting is not None and self._loop is loop:
                # Another caller is starting it: wait for that instead of starting a second.
                await asyncio.shield(self._starting)
                continue
            self._loop = loop
            self._starting = loop.create_future()
            try:
                await self._start(loop)
            finally:
                self._starting.set_result(None)
                self._starting = None

    def enqueue(
        self,
        events: list[EventIn],
        now: datetime,
        key_hash: str | None,
        precomputed: Precomputed | None = None,
    ) -> asyncio.Future:
        """Send a job now (after `ready`); the future holds its decoded answer once its batch
        committed."""
        loop = asyncio.get_running_loop()
        assert self._transport is not None and self._loop is loop, "call ready() first"
        self._next_id += 1
        future = loop.create_future()
        self._waiting[self._next_id] = future
        job = Job(
            self._next_id, msgspec.Raw(_encode(events)), len(events), now, key_hash, precomputed
        )
        self._transport.write(_frame(_encode([job])))
        return future

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop_process()
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        config = {"path": self.path, "secret_key": self._secret_key, "fd": theirs.fileno()}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "listening.writer_process"],
            stdin=subprocess.PIPE,
            pass_fds=[theirs.fileno()],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
        assert self._process.stdin is not None
        # The secret key travels through a pipe, never through the command line.
        self._process.stdin.write(json.dumps(config).encode())
        self._process.stdin.close()
        theirs.close()
        transport, _ = await loop.create_unix_connection(lambda: _Answers(self), sock=ours)
        self._transport = transport
        self._loop = loop

    def settle(self, done: Done) -> None:
        """Hand one answer to the caller waiting for it."""
        future = self._waiting.pop(done.id, None)
        if future is None or future.done():
            return
        if done.ok:
            future.set_result(self._decode(done.result))
        else:
            future.set_exception(RuntimeError(f"the event writer failed: {done.result}"))

    def lost(self, exc: Exception | None) -> None:
        """Fail every job still waiting; the next job starts a new writer."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(RuntimeError(f"the event writer stopped ({exc})"))
        self._transport = None

    def _stop_process(self) -> None:
        # Before starting a writer: the old one died, or it served an event loop that is gone
        # (and its callers with it). Never blocks the loop: the old process is reaped aside.
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        threading.Thread(target=_reap, args=(process,), daemon=True).start()

    async def close(self) -> None:
        """Wait for the jobs sent, then let the writer finish and exit."""
        pending = [f for f in self._waiting.values() if not f.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        process, self._process = self._process, None
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, _reap, process)


def _reap(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the writer's side -------------------------------------------------------------------------


def _receive(sock: socket.socket, buffer: bytearray, *, wait: bool) -> bool:
    """Add what has arrived to `buffer` (waiting for something first when `wait`); False once
    the server has closed its end."""
    sock.setblocking(wait)
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return False
            buffer += data
            sock.setblocking(False)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def serve(
    sock: socket.socket,
    commit: Callable[[list[Job]], list[tuple[bool, Any]]],
) -> None:
    """Read jobs, commit what has arrived a batch at a time, answer each job; return once the
    server has closed its end and every job read is answered."""
    buffer = bytearray()
    queued: deque[Job] = deque()
    server_open = True
    while queued or server_open:
        if server_open:
            # Idle: wait for work. Busy: take what arrived during the last commit, no waiting.
            server_open = _receive(sock, buffer, wait=not queued)
            for frame in _frames(buffer):
                queued.extend(_jobs.decode(frame))
        if not queued:
            continue
        batch = [queued.popleft()]
        weight = max(1, batch[0].size)
        while queued and weight + queued[0].size <= MAX_WEIGHT:
            job = queued.popleft()
            batch.append(job)
            weight += max(1, job.size)
        outcomes = commit(batch)
        answers = [
            Done(job.id, ok, value if ok else f"{type(value).__name__}: {value}")
            for job, (ok, value) in zip(batch, outcomes, strict=True)
        ]
        with contextlib.suppress(OSError):  # the server is gone, and its callers with it
            sock.sendall(_frame(_encode(answers)))


def main() -> None:
    """Entry point of the writer process: configuration on stdin, the socket as an open fd."""
    config = json.loads(sys.stdin.read())
    sock = socket.socket(fileno=config["fd"])
    secret_key = config["secret_key"]
    rules_cache = RulesCache()
    committer = SqliteCommitter(
        config["path"],
        lambda conn, jobs: apply_sqlite(
            conn,
            [Work(None, j.now, j.key_hash, j.precomputed, j.events) for j in jobs],
            secret_key,
            rules_cache,
        ),
    )
    try:
        serve(sock, committer.commit)
    finally:
        committer.close()
        sock.close()


if __name__ == "__main__":
    main()
