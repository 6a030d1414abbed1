"""A listening socket of its own for each worker of `serve --workers N` (Linux).

uvicorn's supervisor binds one socket and every worker waits on it. asyncio accepts every
connection waiting when it wakes (up to the listen backlog, 2048), so whichever worker
wakes first takes a burst of them: 50 connections opened at once were measured spread 48
to 2, and 50 to 0, between two workers, one saturated while the other idled. Taking one
connection per wake evened that out on a quiet machine but not on a busy one (35 to 5):
which worker got a connection still depended on which one the scheduler ran first.

With SO_REUSEPORT each worker listens on a socket of its own at the same address, and the
kernel hashes each new connection to one of them: an even spread, however busy the
machine. The parent binds the address with SO_REUSEPORT (`workers_socket`) and never
listens on it: it holds the port (a second server gets "address in use") and tells the
workers where to listen; each worker's loop (`WorkerLoop`), handed that socket by uvicorn,
listens on a new one bound to the same address instead.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any


def workers_socket(host: str, port: int) -> socket.socket:
    """The parent's socket: (host, port) bound for this server's workers to share, and for
    no one else. Sockets that share a port may be any of the same user's, a second server
    started by mistake included (it would take half the connections, silently): so the
    port is first bound the ordinary way, which fails if any socket listens on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        address = probe.getsockname()  # with port 0, the port the system chose
    return reuse_port_socket(family, address)


def reuse_port_socket(family: socket.AddressFamily, address: Any) -> socket.socket:
    """A TCP socket bound to `address` that sockets of the same user may share."""
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY on the connections accepted
    # only from a socket that says it is TCP (without it, 40 ms a response: Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _reuses_port(sock: socket.socket) -> bool:
    return sock.type == socket.SOCK_STREAM and bool(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    )


class WorkerLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, serving a port-sharing socket handed to it on a new socket of its
    own at the same address (see the module); any other socket as it is."""

    async def create_server(
        self,
        protocol_factory: Any,
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        **kwargs: Any,
    ) -> asyncio.Server:
        if sock is not None and _reuses_port(sock):
            sock = reuse_port_socket(sock.family, sock.getsockname())
        return await super().create_server(protocol_factory, host, port, sock=sock, **kwargs)
