"""Steady load through the load balancer while a test changes what runs behind it, and a
small WebSocket client. The load generator counts every answer that is not a 2xx and every
connection error, and records which version answered, so a test can say "no request failed
and after the roll only the new version answered"."""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    ok: int = 0
    failed: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    # (time, version) of every answer, to see what answered when.
    timeline: list = field(default_factory=list)
    # (time, kind, detail) of every failure, to see when things failed.
    failure_timeline: list = field(default_factory=list)
    first_failures: list = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def summary(self) -> str:
        return (f"{self.ok} ok, {self.failures} failed {dict(self.failed)}, versions {dict(self.versions)}, "
                f"first failures {self.first_failures[:5]}")


class Load:
    """`workers` threads, each sending GET `path` with `host` (or each of `host`'s names in
    turn) over one keep-alive connection at a time, back to back (or every `pause` seconds),
    until stopped."""

    def __init__(self, port: int, path: str = "/", host: str | list[str] | None = None, workers: int = 4,
                 pause: float = 0.0, timeout: float = 30.0, tls: ssl.SSLContext | None = None):
        self.port, self.path, self.host, self.workers = port, path, host, workers
        self.tls = tls
        self.pause, self.timeout = pause, timeout
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> "Load":
        for _ in range(self.workers):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.tally

    def _record(self, version: str | None, failure: str | None) -> None:
        with self._lock:
            if failure is None:
                self.tally.ok += 1
                self.tally.versions[version] += 1
                self.tally.timeline.append((time.monotonic(), version))
            else:
                self.tally.failed[failure.split(":")[0]] += 1
                self.tally.failure_timeline.append((time.monotonic(), failure.split(":")[0], failure))
                if len(self.tally.first_failures) < 20:
                    self.tally.first_failures.append(failure)

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        # TLS names `host` (the certificate's name) while the connection goes to loopback.
        connection = http.client.HTTPSConnection(self.host or "127.0.0.1", self.port, timeout=self.timeout,
                                                 context=self.tls)
        connection._create_connection = lambda address, *args: socket.create_connection(("127.0.0.1", address[1]), *args)
        return connection

    def _run(self) -> None:
        connection = None
        hosts = self.host if isinstance(self.host, list) else [self.host]
        turn = 0
        while not self._stop.is_set():
            if connection is None:
                connection = self._connect()
            host = hosts[turn % len(hosts)]
            turn += 1
            try:
                connection.request("GET", self.path, headers={"Host": host} if host else {})
                response = connection.getresponse()
                body = response.read().decode(errors="replace").strip()
                if 200 <= response.status < 300:
                    self._record(body, None)
                else:
                    self._record(None, f"HTTP {response.status}: {body[:120]}")
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                self._record(None, f"{type(error).__name__}: {error}")
                connection.close()
                connection = None
            if self.pause:
                self._stop.wait(self.pause)
        if connection is not None:
            connection.close()


def get(port: int, path: str = "/", host: str | None = None, timeout: float = 10) -> tuple[int, str]:
    """One request on a fresh connection: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host} if host else {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace").strip()
    finally:
        connection.close()


class WebSocket:
    """A minimal RFC 6455 client for text frames, enough to hold a connection open through
    the load balancer and see which version echoes."""

    def __init__(self, port: int, path: str = "/ws", host: str = "127.0.0.1", timeout: float = 10,
                 tls: ssl.SSLContext | None = None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during the handshake after {head!r}")
            head += chunk
        head, self._buffered = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"handshake refused: {status.decode(errors='replace')}")

    def _read(self, n: int) -> bytes:
        while len(self._buffered) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buffered += chunk
        out, self._buffered = self._buffered[:n], self._buffered[n:]
        return out

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        first, second = self._read(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        payload = self._read(length)
        if opcode == 0x8:
            raise ConnectionError("closed by the server")
        return payload.decode()

    def ask(self, text: str) -> str:
        self.send(text)
        return self.receive()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
