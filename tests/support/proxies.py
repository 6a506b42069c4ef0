"""Two tiny proxies on 127.0.0.1 (port 0) that record what they were asked.

- :class:`HttpProxy`: an HTTP/1.1 forward proxy. ``GET http://host:port/path``
  (absolute form) is forwarded to that origin in origin form, one request per
  connection (``Connection: close`` upstream); ``CONNECT host:port`` opens a
  tunnel. Each request is recorded as a :class:`ProxiedRequest`.
- :class:`Socks5Proxy`: a SOCKS5 server (RFC 1928) offering either no
  authentication or, when given credentials, only username/password
  (RFC 1929), accepting the CONNECT command with an IPv4 address or a domain
  name. Each handshake is recorded as a :class:`SocksRequest`.

Both relay bytes both ways until either side closes. Every read of a
handshake is bounded (size and time). Use them as async context managers:
leaving closes the listening socket and every connection and cancels every
task they started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

__all__ = ["HttpProxy", "ProxiedRequest", "Socks5Proxy", "SocksRequest"]

HANDSHAKE_TIMEOUT = 10.0  # seconds for one handshake read or an upstream connect
_CHUNK = 65536


@dataclass
class ProxiedRequest:
    """One request an :class:`HttpProxy` received."""

    method: str
    target: str
    """As on the request line: ``http://host:port/path`` (forward) or ``host:port`` (CONNECT)."""
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    upstream: tuple[str, int] | None = None
    """Where the proxy connected (``None`` when the target could not be parsed)."""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive name), decoded as latin-1."""
        key = name.lower().encode("ascii")
        for n, v in self.raw_headers:
            if n.lower() == key:
                return v.decode("latin-1")
        return None


@dataclass
class SocksRequest:
    """One SOCKS5 handshake as a :class:`Socks5Proxy` saw it."""

    methods: list[int]
    """The authentication methods the client offered (0 = none, 2 = username/password)."""
    username: str | None = None
    password: str | None = None
    command: int | None = None
    """1 = CONNECT; ``None`` when the handshake ended before the request."""
    address_type: str | None = None
    """``"ipv4"``, ``"domain"`` or ``"ipv6"``, as the client sent the address."""
    host: str | None = None
    port: int | None = None
    connected: bool = False
    """Whether the proxy reached the destination and told the client so."""


class _Proxy:
    """What both proxies share: a listener, the connections' tasks and writers, closing."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed = asyncio.Event()
        self.connections = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening, close every connection and cancel every task (idempotent)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            pass  # a client that went away or spoke nonsense: drop it
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def _recorded(self) -> None:
        self._changed.set()

    async def _wait(self, count: int, current: Sized, within: float) -> None:
        async with asyncio.timeout(within):
            while len(current) < count:
                self._changed.clear()
                await self._changed.wait()

    async def _open_upstream(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        return reader, writer

    async def _relay(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        """Copy bytes both ways until either side closes; then close both."""

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(_CHUNK):
                    dst.write(data)
                    await dst.drain()

        pumps = [
            asyncio.create_task(pump(client[0], upstream[1])),
            asyncio.create_task(pump(upstream[0], client[1])),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (upstream[1], client[1]):
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.close()


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        return await reader.readexactly(size)


class HttpProxy(_Proxy):
    """An HTTP forward proxy: absolute-form requests are forwarded, CONNECT tunnels."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ProxiedRequest] = []

    async def wait_for_requests(self, count: int, within: float = 10.0) -> None:
        """Wait until at least ``count`` requests have arrived (at most ``within`` seconds)."""
        await self._wait(count, self.requests, within)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")  # bounded by the reader's 64 KiB limit
        lines = head[:-4].split(b"\r\n")
        method, target, _version = lines[0].decode("latin-1").split(" ", 2)
        raw_headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            raw_headers.append((name.strip(), value.strip(b" \t")))
        request = ProxiedRequest(method=method, target=target, raw_headers=raw_headers)
        self.requests.append(request)
        self._recorded()

        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            address = (host.strip("[]"), int(port_text)) if host and port_text.isdigit() else None
        else:
            parts = urlsplit(target)
            address = None
            if parts.scheme == "http" and parts.hostname:
                address = (parts.hostname, parts.port or 80)
        if address is None:
            await _answer(writer, "400 Bad Request")
            return
        request.upstream = address
        try:
            upstream = await self._open_upstream(*address)
        except (OSError, TimeoutError):
            await _answer(writer, "502 Bad Gateway")
            return

        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            hop_by_hop = {b"connection", b"proxy-connection", b"proxy-authorization", b"keep-alive"}
            forwarded = [f"{method} {path} HTTP/1.1".encode("latin-1")]
            forwarded += [n + b": " + v for n, v in raw_headers if n.lower() not in hop_by_hop]
            forwarded.append(b"Connection: close")
            upstream[1].write(b"\r\n".join(forwarded) + b"\r\n\r\n")
            await upstream[1].drain()
        await self._relay((reader, writer), upstream)


async def _answer(writer: asyncio.StreamWriter, status: str) -> None:
    writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy: no auth, or username/password when ``username`` is given; CONNECT only."""

    NO_AUTH = 0x00
    USERNAME_PASSWORD = 0x02

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.requests: list[SocksRequest] = []

    async def wait_for_requests(self, count: int, within: float = 10.0) -> None:
        """Wait until at least ``count`` handshakes have begun (at most ``within`` seconds)."""
        await self._wait(count, self.requests, within)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await _read_exactly(reader, 2)
        if version != 5:
            return
        methods = list(await _read_exactly(reader, count))
        request = SocksRequest(methods=methods)
        self.requests.append(request)
        self._recorded()

        wanted = self.NO_AUTH if self.username is None else self.USERNAME_PASSWORD
        if wanted not in methods:
            writer.write(b"\x05\xff")  # no acceptable methods
            await writer.drain()
            return
        writer.write(bytes([5, wanted]))
        await writer.drain()
        if wanted == self.USERNAME_PASSWORD:
            sub_version, user_len = await _read_exactly(reader, 2)
            username = (await _read_exactly(reader, user_len)).decode("utf-8", "replace")
            (pass_len,) = await _read_exactly(reader, 1)
            password = (await _read_exactly(reader, pass_len)).decode("utf-8", "replace")
            request.username, request.password = username, password
            self._recorded()
            ok = sub_version == 1 and (username, password) == (self.username, self.password)
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            await writer.drain()
            if not ok:
                return

        _version, command, _reserved, address_type = await _read_exactly(reader, 4)
        request.command = command
        if address_type == 0x01:
            request.address_type = "ipv4"
            request.host = str(ipaddress.IPv4Address(await _read_exactly(reader, 4)))
        elif address_type == 0x03:
            request.address_type = "domain"
            (length,) = await _read_exactly(reader, 1)
            request.host = (await _read_exactly(reader, length)).decode("idna")
        elif address_type == 0x04:
            request.address_type = "ipv6"
            request.host = str(ipaddress.IPv6Address(await _read_exactly(reader, 16)))
            await _socks_reply(writer, 0x08)  # address type not supported
            return
        else:
            await _socks_reply(writer, 0x08)
            return
        (request.port,) = struct.unpack("!H", await _read_exactly(reader, 2))
        self._recorded()
        if command != 0x01:
            await _socks_reply(writer, 0x07)  # command not supported
            return
        try:
            upstream = await self._open_upstream(request.host, request.port)
        except (OSError, TimeoutError):
            await _socks_reply(writer, 0x05)  # connection refused
            return
        request.connected = True
        self._recorded()
        await _socks_reply(writer, 0x00)
        await self._relay((reader, writer), upstream)


async def _socks_reply(writer: asyncio.StreamWriter, code: int) -> None:
    # VER REP RSV ATYP=IPv4 BND.ADDR=0.0.0.0 BND.PORT=0
    writer.write(bytes([5, code, 0, 1]) + socket.inet_aton("0.0.0.0") + b"\x00\x00")
    await writer.drain()
