"""Keep freed host memory for reuse: on a CPU, XLA's temporaries of a train step are mapped fresh at every step.

The default train step needs 2.8 GB of temporaries. XLA's CPU runtime allocates them with `malloc` from a worker
thread at every execution; glibc serves a request that large from a fresh `mmap` and unmaps it on `free`, so every
step touches 690,000 new pages, each a page fault the kernel fills with zeros: 1.4 s of system time, about 0.5 s of
a 2-core step. Told to keep one arena, never `mmap` and never trim, glibc keeps the
freed block and the next step reuses it without a fault. Nothing computed changes.

The allocator is the process's, so this is a script's choice, never a library import's: the training and benchmark
scripts call `keep_freed_memory` first thing, before XLA's threads first allocate; `BIAXIAL_JAX_KEEP_HOST_MEMORY=0`
(or false, no, off) in the environment leaves the allocator as it was. Under TCMalloc (`LD_PRELOAD`, as
`scripts/main.sh` trains where the library is installed) nothing is set: it keeps freed blocks by itself, and a
default train step ran 6-7% faster with it than with these settings (docs/results.md, "Speed"). Elsewhere than
glibc (macOS, musl), and where a GPU or TPU plugin of jax is installed (the step's temporaries then live on the
device, and one arena for many host threads was never measured there), it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from biaxial_jax.platforms import accelerator_plugin_installed

ENV = 'BIAXIAL_JAX_KEEP_HOST_MEMORY'

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def tcmalloc_preloaded() -> bool:
  """Whether TCMalloc serves this process's `malloc` (through `LD_PRELOAD`): it keeps freed blocks by itself, and
  measured faster than glibc so set (docs/results.md, "Speed")."""
  return 'tcmalloc' in os.environ.get('LD_PRELOAD', '')


def keep_freed_memory() -> bool:
  """Set glibc's allocator to keep freed memory (one arena, no `mmap`, no trimming); True where it was set.

  Applied once, before XLA's threads first allocate: threads already holding an arena keep it. The process's
  resident memory then stays at its peak rather than shrinking between steps."""
  off = os.environ.get(ENV, '1').strip().lower() in ('0', 'false', 'no', 'off')
  if off or tcmalloc_preloaded() or not sys.platform.startswith('linux') or accelerator_plugin_installed():
    return False
  try:
    mallopt = ctypes.CDLL(ctypes.util.find_library('c') or None).mallopt
  except (OSError, AttributeError):  # not glibc
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  # One arena: a worker thread's own arena serves large blocks by mmap whatever the other settings say.
  # A trim threshold of -1 is glibc's "never" (an int taken as size_t); the largest positive int, 2 GiB, is smaller
  # than the step's temporaries.
  return all(mallopt(param, value) == 1 for param, value in
             ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
