"""What the experiment scripts share: one-line errors, `--config.<field>=<value>` overrides, quiet library logs."""

from __future__ import annotations

import logging
import sys

from absl import flags


def fail(message: str, code: int = 2):
  """Ends the program with one line on stderr (no traceback, no usage text)."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(code)


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


def quiet_library_logs():
  """orbax logs every file it writes, jax every backend it probes: keep their warnings only."""
  for name in ('absl', 'jax._src.xla_bridge'):
    logging.getLogger(name).setLevel(logging.WARNING)
