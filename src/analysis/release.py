"""Memory a finished step has freed, handed back to the system.

The run's processes live long: the runner waits beside the notebooks' kernel, and the kernel
runs every notebook in turn. Freed memory stays with the allocators otherwise (pyarrow's
pool, and the C library's heap for the many mid-sized buffers of pandas and numpy), so a
process stays the size of the largest step it ran. On 40 million rows by 10 million
customers, handing it back lowered the run's peak while notebooks 02 and 03 ran by 0.7 and
1.0 GiB (the peaks of 04 and 05 are their own work, and stayed).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa

__all__ = ["hand_back"]


def hand_back() -> None:
    """Collect garbage, then return what pyarrow's pool and the C heap hold free (the C heap
    where the C library can: glibc's ``malloc_trim``; elsewhere it is left as it is)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # no glibc (macOS, musl)
        pass
