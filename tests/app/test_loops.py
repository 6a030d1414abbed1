"""app/loops.py: each worker of `serve --workers N` listens on a socket of its own at the
address, and the kernel spreads connections between them."""

from __future__ import annotations

import asyncio
import errno
import socket
import sys

import pytest

from app.loops import WorkerLoop, reuse_port_socket, workers_socket

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads on Linux")


def _counting(counts: list[int], index: int) -> type[asyncio.Protocol]:
    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # Each response goes out at once (Nagle's 40 ms wait is off), as with uvicorn's.
            sock = transport.get_extra_info("socket")
            if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                counts[index] += 1
            transport.close()

    return Counting


def test_the_parents_socket_holds_the_port_for_sockets_that_share_it() -> None:
    held = reuse_port_socket(socket.AF_INET, ("127.0.0.1", 0))
    port = held.getsockname()[1]
    try:
        shared = reuse_port_socket(socket.AF_INET, ("127.0.0.1", port))  # a worker's
        shared.close()
        plain = socket.socket()
        with pytest.raises(OSError, match="in use") as refused:  # anyone else's
            plain.bind(("127.0.0.1", port))
        plain.close()
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        held.close()


def test_a_second_server_cannot_take_the_workers_port() -> None:
    """Another server of the same user could share a port-sharing socket's port: the
    parent's is bound only where nothing listens, so a second server started by mistake
    gets "address in use" instead of half the connections."""
    first = workers_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    worker = reuse_port_socket(socket.AF_INET, ("127.0.0.1", port))
    worker.listen()
    try:
        with pytest.raises(OSError, match="in use") as refused:
            workers_socket("127.0.0.1", port)
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        worker.close()
        first.close()


def test_two_workers_handed_the_parents_socket_share_its_connections() -> None:
    """Two servers of WorkerLoop given the same port-sharing socket (as uvicorn hands it to
    each worker) each listen on one of their own at its address; 40 connections opened at
    once are spread between them by the kernel, not all taken by one, and each answers
    without delay (TCP_NODELAY: only connections counted with it)."""
    held = reuse_port_socket(socket.AF_INET, ("127.0.0.1", 0))
    port = held.getsockname()[1]
    loop = WorkerLoop()
    counts = [0, 0]
    clients: list[socket.socket] = []
    try:
        servers = [
            loop.run_until_complete(loop.create_server(_counting(counts, i), sock=held))
            for i in range(2)
        ]
        own = [s.sockets[0] for s in servers]
        assert all(listening.getsockname() == ("127.0.0.1", port) for listening in own)
        assert held.fileno() not in [listening.fileno() for listening in own]
        for _ in range(40):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))

        async def all_accepted() -> None:
            while sum(counts) < len(clients):
                await asyncio.sleep(0.01)

        loop.run_until_complete(asyncio.wait_for(all_accepted(), 5))
        assert min(counts) >= 8, counts
        for server in servers:
            server.close()
            loop.run_until_complete(server.wait_closed())
    finally:
        for client in clients:
            client.close()
        held.close()
        loop.close()


def test_any_other_socket_is_served_as_it_is() -> None:
    plain = socket.create_server(("127.0.0.1", 0))
    loop = WorkerLoop()
    try:
        server = loop.run_until_complete(loop.create_server(asyncio.Protocol, sock=plain))
        assert server.sockets[0].fileno() == plain.fileno()
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()
