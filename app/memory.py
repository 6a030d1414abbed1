"""The C heap under a long-running server: glibc's malloc keeps what Python frees.

A round change frees a snapshot of the whole event and a view per phone, and the next one
allocates them again, of another size; the worker threads that load snapshots each get a
malloc arena of their own (up to 8 per core), and memory freed in one arena is not reused by
another. Both made the server's resident memory grow at every round change with nothing
leaking (docs/benchmarks.md, "Third pass"). Elsewhere than glibc (musl, macOS, Windows) both
functions do nothing.
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Callable
from functools import partial

# mallopt's parameter for the most arenas (glibc's malloc.h).
_M_ARENA_MAX = -8


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def heap_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`: hands the free pages of the C heap back to the system. None
    where the C library is another, whose allocator does without."""
    libc = _glibc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return partial(trim, 0)  # ctypes lets the other threads run meanwhile


def limit_arenas(most: int = 2) -> bool:
    """At most `most` malloc arenas for this process's threads from now on (what
    MALLOC_ARENA_MAX=2 does from the start); True if glibc took it. Called before the
    worker threads start: arenas already made stay."""
    libc = _glibc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, most))
