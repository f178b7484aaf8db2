"""What the experiment scripts share: one-line errors (a library error's field named as the flag that sets it),
`--config.<field>=<value>` overrides, quiet library logs."""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping

import jax
from absl import flags

from biaxial_jax.errors import BiaxialError, ConfigError
from biaxial_jax.generation.constraints import MAX_STEPS
from biaxial_jax.music.corpus import cache_dir
from biaxial_jax.music.files import read_npz


def full_disk_is_one_line(main):
  """A script's `main`, with a full disk met by any writer ended as one line naming the file (each writer publishes
  whole files only, so what was written before stays whole)."""
  @functools.wraps(main)
  def guarded(argv):
    try:
      return main(argv)
    except OSError as e:
      if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise
      fail(f'{e.filename or "writing"}: the disk is full ({e.strerror}); the files written before are whole', code=1)
  return guarded


def compile_once_per_machine():
  """A script's choice, for its process: jax keeps what it compiles on disk (`$JAX_COMPILATION_CACHE_DIR` where set,
  else `compilations` in the package's cache folder, `~/.cache/biaxial_jax`), so that the next run of the same model
  on the same shapes loads the compiled sampler or train step instead of compiling it again."""
  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    jax.config.update('jax_compilation_cache_dir', os.path.join(cache_dir(), 'compilations'))
  # Also the hundred small functions (under jax's default of 1 s each) that a run compiles: together seconds.
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)


def sample_on_every_core():
  """A generating script's choice, for its process, before jax starts: one CPU device per core this process may use
  (`$JAX_NUM_CPU_DEVICES` where set), so that the sampler splits its particles' note scans over them
  (`sampler.row_mesh`): the same music, 1.5-1.8x sooner on two cores. Nothing changes on an accelerator."""
  if os.environ.get('JAX_NUM_CPU_DEVICES'):  # jax read it at import; it fails later, and obscurely, below 1
    if jax.config.jax_num_cpu_devices < 1:
      fail(f'JAX_NUM_CPU_DEVICES: expected a number of CPU devices of at least 1, got {jax.config.jax_num_cpu_devices}')
    return
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()  # macOS: no affinity
  jax.config.update('jax_num_cpu_devices', cores or 1)


def fail(message: str, code: int = 2):
  """Ends the program with one line on stderr (no traceback, no usage text).

  Exits at once: tensorstore threads still finishing a failed checkpoint read would otherwise print tracebacks into
  a closing event loop. Callers have finished their own clean-up (checkpoint saves, logs) by then.
  """
  print(f'error: {message}', file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def flag_of(error: BiaxialError, flag_names: Mapping[str, str] | None = None) -> str | None:
  """The flag that sets what `error` is about: `--config.<field>` for a config field (`--config` for the config
  file), `flag_names[field]` or `--<field>` for an argument, None where the message names a file."""
  if isinstance(error, ConfigError):
    return f'--config.{error.field}' if error.field else '--config'
  if error.field is None:
    return None
  return (flag_names or {}).get(error.field, f'--{error.field}')


def fail_with(error: BiaxialError, flag_names: Mapping[str, str] | None = None, code: int = 1):
  """`fail` with a library error, named by its flag (`flag_of`)."""
  flag = flag_of(error, flag_names)
  fail(f'{flag}: {error.message}' if flag else error.message, code)


def define_fields(cls) -> dict[str, flags.FlagHolder]:
  """A flag for each field of a dataclass whose fields carry a flag's metadata (`generation.request`: `help`,
  `kind`, `flag`), by field name. Their defaults are the fields' own."""
  holders = {}
  for field in dataclasses.fields(cls):
    meta, name = field.metadata, field.metadata['flag'] or field.name
    default, kind, help_text = field.default, meta['kind'], meta['help']
    if kind == 'integer':
      holders[field.name] = flags.DEFINE_integer(name, default, help_text)
    elif kind == 'float':
      holders[field.name] = flags.DEFINE_float(name, default, help_text)
    elif kind == 'boolean':
      holders[field.name] = flags.DEFINE_boolean(name, default, help_text)
    elif kind == 'list':
      holders[field.name] = flags.DEFINE_list(name, list(default) if default is not None else None, help_text)
    elif kind == 'enum':
      holders[field.name] = flags.DEFINE_enum(name, default, list(meta['choices']), help_text)
    else:  # string, file, npz: text
      holders[field.name] = flags.DEFINE_string(name, default, help_text + (' (a file)' if kind == 'file' else ''))
  return holders


MAX_FIXED_CELLS = MAX_STEPS * 128 * 2  # of each array of a --fixed_notes file: the longest piece, every MIDI note


def field_values(cls, holders: Mapping[str, flags.FlagHolder]) -> dict:
  """The fields' values from their flags: a file is checked to exist, an .npz file read as `(mask, values)`; a
  flag that cannot be read ends the program naming it."""
  values = {}
  for field in dataclasses.fields(cls):
    holder = holders[field.name]
    value, kind = holder.value, field.metadata['kind']
    if value is not None and kind in ('file', 'npz') and not os.path.isfile(value):
      fail(f'--{holder.name}: {value}: no such file')
    if value is not None and kind == 'npz':
      try:
        value = read_npz(value, ('mask', 'values'), MAX_FIXED_CELLS)
      except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        fail(f'--{holder.name}: {value}: expected an .npz file with arrays mask and values ({e})')
    values[field.name] = tuple(value) if kind == 'list' and value is not None else value
  return values


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


class _WithoutMetricsNote(logging.Filter):
  """Drops orbax's warning that a checkpoint was saved without metrics: by design here (only evaluation steps carry
  them), it was printed at every other save."""

  def filter(self, record: logging.LogRecord) -> bool:
    return 'Requested `tracked_metric`' not in record.getMessage()


def _drop_closed_loop_callbacks(previous):
  """After a failed checkpoint restore, tensorstore's pending reads call back into orbax's closed event loop; each
  prints a harmless 'Event loop is closed' traceback. Drop those, and only those."""

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == 'Event loop is closed'):
      previous(unraisable)
  return hook


def quiet_library_logs():
  """A script's choice, for its whole process: orbax logs every file it writes, jax every backend it probes (keep
  their warnings only), and a failed restore leaves closing-loop tracebacks (dropped)."""
  for name in ('absl', 'jax._src.xla_bridge'):
    logging.getLogger(name).setLevel(logging.WARNING)
  logging.getLogger('absl').addFilter(_WithoutMetricsNote())
  sys.unraisablehook = _drop_closed_loop_callbacks(sys.unraisablehook)
