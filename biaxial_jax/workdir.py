"""A run's workdir and process: writable, held by one run at a time, with room for its checkpoints; and the signals
that ask the run to stop."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import tempfile
import threading

import jax

from biaxial_jax.errors import TrainingError


def check_writable(workdir: str):
  """Makes `workdir` and checks that files can be written in it."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise TrainingError(f'cannot write to {workdir} ({e.strerror or e})', 'workdir') from None


class StopRequests:
  """Ctrl-C (SIGINT) and SIGTERM (what `timeout` and schedulers send) ask the run to stop: the first one only sets
  `signal`, which the loop checks between steps, then it saves and exits; an exception raised inside XLA's compiler
  or a callback instead crashed the interpreter. A second signal stops at once."""

  def __init__(self):
    self.signal = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signal is not None:
      self._restore()
      raise KeyboardInterrupt
    self.signal = signum
    logging.warning('%s received: stopping after this step with a checkpoint (again to stop at once)',
                    signal.Signals(signum).name)

  def _restore(self):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def __exit__(self, *exc):
    self._restore()


@contextlib.contextmanager
def workdir_lock(workdir: str):
  """Holds an advisory lock on `workdir/.lock` for a run: a second run on the same workdir is refused, naming the
  process that holds it. The kernel drops the lock when its holder dies, so a killed run never blocks a resume.
  Of a multi-process run, which shares one workdir, process 0 holds it."""
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(workdir, '.lock')
  with open(path, 'a+', encoding='utf-8') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      raise TrainingError(f'{workdir} is in use by another training run (process {holder}); wait for it or '
                          'stop it', 'workdir') from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def is_disk_full(error: BaseException) -> bool:
  """Whether an error says the disk (or the user's quota) is full: an `OSError` of ENOSPC or EDQUOT, or one of
  orbax's, which come from tensorstore as `ValueError`s with its status code RESOURCE_EXHAUSTED in the text."""
  if isinstance(error, OSError):
    return error.errno in (errno.ENOSPC, errno.EDQUOT)
  text = str(error)
  return 'RESOURCE_EXHAUSTED' in text and ('No space left' in text or 'quota' in text.lower())


def disk_full_error(workdir: str, error: BaseException) -> TrainingError:
  reason = error.strerror if isinstance(error, OSError) else 'no space left on device'
  return TrainingError(f'{workdir}: the disk is full ({reason}); the checkpoints finished before are intact: free '
                       'some space and run the same command to resume', 'workdir')


def check_disk_space(workdir: str, state, keep: int):
  """Refuses to start when the kept checkpoints (latest, best, one being written) cannot fit on the disk."""
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
  need = (keep + 2) * state_bytes + (16 << 20)
  free = shutil.disk_usage(workdir).free
  if free < need:
    raise TrainingError(f'{workdir} has {free / 2**20:.1f} MiB free; checkpoints need about '
                        f'{need / 2**20:.1f} MiB (train.keep_checkpoints={keep})', 'workdir')
