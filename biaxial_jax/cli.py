"""What the experiment scripts share: one-line errors, `--config.<field>=<value>` overrides, quiet library logs."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile

from absl import flags


def fail(message: str, code: int = 2):
  """Ends the program with one line on stderr (no traceback, no usage text).

  Exits at once: tensorstore threads still finishing a failed checkpoint read would otherwise print tracebacks into
  a closing event loop. Callers have finished their own clean-up (checkpoint saves, logs) by then.
  """
  print(f'error: {message}', file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def split_config_overrides(argv: list[str]) -> tuple[list[str], dict[str, str]]:
  """Separates `--config.<section>.<field>=<value>` arguments from the rest."""
  rest, overrides = [], {}
  for arg in argv:
    if arg.startswith('--config.'):
      path, eq, value = arg[len('--config.'):].partition('=')
      if not eq:
        fail(f'{arg}: write --config.{path}=VALUE')
      overrides[path] = value
    else:
      rest.append(arg)
  return rest, overrides


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that reports a bad flag in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e))


def writable_dir(flag: str, path: str):
  """Makes sure files can be written under `path`, or ends with one line naming `flag`. Leaves no trace: folders
  made for the check are removed again (the program makes them when it writes)."""
  first_missing = os.path.abspath(path)
  while not os.path.exists(os.path.dirname(first_missing)) and os.path.dirname(first_missing) != first_missing:
    first_missing = os.path.dirname(first_missing)
  created = not os.path.exists(first_missing)
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as e:
    fail(f'{flag}: cannot write to {path} ({e.strerror or e})')
  finally:
    if created and os.path.isdir(first_missing):
      shutil.rmtree(first_missing, ignore_errors=True)


def quiet_library_logs():
  """orbax logs every file it writes, jax every backend it probes: keep their warnings only."""
  for name in ('absl', 'jax._src.xla_bridge'):
    logging.getLogger(name).setLevel(logging.WARNING)
