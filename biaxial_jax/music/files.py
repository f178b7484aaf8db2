"""Files that appear whole or not at all, and records read within bounds."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import zipfile

import numpy as np

MAX_JSON_BYTES = 1 << 20  # a record (a model's config, its digests): a few kilobytes
MAX_JSON_DEPTH = 32  # a config nests four levels deep; json.loads recurses once per level
_OPENERS = re.compile(rb'[\[{]')


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
  """Yields a temporary path beside `path` (parent folders created); renames it to `path` if the block succeeds and
  removes it otherwise, so an interrupted write never leaves a half-written file under the final name."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.splitext(path)[1])
  os.close(fd)
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plainly created file, not mkstemp's private 0600
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def read_limited(path: str | os.PathLike, limit: int, what: str) -> bytes:
  """The bytes of a regular file of at most `limit` bytes; `ValueError` naming the file otherwise (a FIFO or device
  is refused before it is opened, a file that grows past its size while read is caught too)."""
  if not stat.S_ISREG(os.stat(path).st_mode):
    raise ValueError(f'{path}: not a regular file')
  with open(path, 'rb') as f:
    raw = f.read(limit + 1)
  if len(raw) > limit:
    raise ValueError(f'{path}: over {limit:,} bytes, the limit for {what}')
  return raw


def read_json(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
  """A JSON file of at most `max_bytes` bytes nesting at most `max_depth` levels; `ValueError` saying which bound
  it breaks."""
  return loads_bounded(read_limited(path, max_bytes, 'a record'), max_depth)


def loads_bounded(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH):
  """`json.loads` of a document whose brackets nest at most `max_depth` deep (counted before parsing: a document
  nested 200,000 deep would exhaust the interpreter's recursion)."""
  data = raw.encode() if isinstance(raw, str) else raw
  if len(_OPENERS.findall(data)) > max_depth:  # cheap: only a document with many brackets is scanned in full
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
      if in_string:
        if escaped:
          escaped = False
        elif byte == 0x5C:  # backslash
          escaped = True
        elif byte == 0x22:  # quote
          in_string = False
      elif byte == 0x22:
        in_string = True
      elif byte in (0x5B, 0x7B):
        depth += 1
        deepest = max(deepest, depth)
        if deepest > max_depth:
          raise ValueError(f'nests deeper than {max_depth} levels')
      elif byte in (0x5D, 0x7D):
        depth -= 1
  return json.loads(data)


def read_npy_header(f, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
  """The shape, Fortran order and dtype of the `.npy` array `f` is positioned at (formats 1.0 and 2.0), read
  without its data."""
  version = np.lib.format.read_magic(f)
  read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
  if read_header is None:
    raise ValueError(f'{name} has .npy format {version}, not 1.0 or 2.0')
  return read_header(f)


def read_npz(path: str | os.PathLike, names: tuple[str, ...], max_elements: int) -> tuple[np.ndarray, ...]:
  """The arrays `names` of an `.npz` file, each of at most `max_elements` elements of a bool or integer type: the
  sizes are read from the arrays' headers before any is inflated (a small file can claim terabytes); `ValueError`
  naming the array and the bound."""
  out = []
  with zipfile.ZipFile(path) as z:
    for name in names:
      member = f'{name}.npy'
      if member not in z.namelist():
        raise ValueError(f'no array {name!r} (it holds {", ".join(n[:-4] for n in z.namelist()[:8])})')
      with z.open(member) as f:
        shape, fortran, dtype = read_npy_header(f, name)
        count = int(np.prod(shape, dtype=object))
        if dtype.kind not in 'biu' or dtype.hasobject:
          raise ValueError(f'{name} is {dtype}; a bool or integer array is read')
        if count > max_elements:
          raise ValueError(f'{name} is {"x".join(map(str, shape))}: {count:,} elements, over the limit of '
                           f'{max_elements:,}')
        data = f.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
          raise ValueError(f'{name} is truncated')
        array = np.frombuffer(data, dtype=dtype)
        out.append(array.reshape(shape, order='F' if fortran else 'C'))
  return tuple(out)
