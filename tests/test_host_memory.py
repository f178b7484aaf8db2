"""The scripts' allocator setting keeps freed host memory for reuse (glibc only): a large block freed by a thread is
reused by its next allocation without the kernel mapping fresh pages, as XLA's per-step temporaries are. Importing
biaxial_jax leaves the allocator alone."""

import os
import platform
import subprocess
import sys

import pytest

from biaxial_jax import host_memory, platforms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Allocates, touches and frees 64 MiB twice with malloc on a new thread (as XLA's worker threads do; numpy would ask
# for huge pages); prints the page faults of the second round.
PROBE = """
import ctypes, resource, sys, threading
import biaxial_jax
from biaxial_jax import host_memory
if sys.argv[1] == 'keep':
  host_memory.keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.memset.argtypes = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
libc.free.argtypes = ctypes.c_void_p,
faults = []
def work():
  for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(64 << 20)
    libc.memset(block, 1, 64 << 20)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=work)
thread.start()
thread.join()
print(faults[1])
"""

PAGES = (64 << 20) // os.sysconf('SC_PAGE_SIZE')


def second_round_faults(keep: str, call: str = 'keep') -> int:
  env = dict(os.environ, **{host_memory.ENV: keep})
  result = subprocess.run([sys.executable, '-c', PROBE, call], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=True)
  return int(result.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux') or platform.libc_ver()[0] != 'glibc', reason='glibc only')
def test_a_freed_block_is_reused_without_new_pages():
  assert second_round_faults('0') > PAGES // 2  # the system allocator maps fresh pages every time
  assert second_round_faults('1') < PAGES // 20
  assert second_round_faults('1', call='import only') > PAGES // 2  # importing the package changed nothing


def test_it_leaves_the_allocator_to_tcmalloc_where_that_is_preloaded(monkeypatch):
  monkeypatch.delenv(host_memory.ENV, raising=False)
  monkeypatch.setenv('LD_PRELOAD', '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4')
  assert host_memory.keep_freed_memory() is False


@pytest.mark.parametrize('value', ['0', 'false', 'Off', 'no'])
def test_the_environment_variable_turns_it_off(monkeypatch, value):
  monkeypatch.setenv(host_memory.ENV, value)
  assert host_memory.keep_freed_memory() is False


def test_it_leaves_the_allocator_alone_where_jax_has_an_accelerator_plugin(monkeypatch):
  monkeypatch.delenv(host_memory.ENV, raising=False)
  monkeypatch.delenv('JAX_PLATFORMS', raising=False)
  monkeypatch.setattr(platforms.importlib.metadata, 'entry_points', lambda group: ['xla_cuda13'])
  assert platforms.accelerator_plugin_installed()
  assert host_memory.keep_freed_memory() is False
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')  # the plugin is there but jax is told to run on the CPU
  assert not platforms.accelerator_plugin_installed()
