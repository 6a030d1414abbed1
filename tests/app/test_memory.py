"""The C heap: glibc's malloc_trim and arena limit, and nothing where glibc is not."""

from __future__ import annotations

import platform
import subprocess
import sys

from app import memory

GLIBC = platform.libc_ver()[0] == "glibc"


def test_heap_trim_is_glibcs_malloc_trim_where_glibc_is_the_c_library() -> None:
    trim = memory.heap_trim()
    if not GLIBC:
        assert trim is None
        return
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was given back, 0: there was none to give


def test_the_arena_limit_is_taken_by_glibc_and_threads_still_allocate() -> None:
    code = (
        "import threading\n"
        "from app import memory\n"
        "print(memory.limit_arenas(2))\n"
        "out = []\n"
        "def work():\n"
        "    out.append(len(bytearray(1 << 20)) + len([object() for _ in range(10000)]))\n"
        "threads = [threading.Thread(target=work) for _ in range(16)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(len(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == [str(GLIBC), "16"]
