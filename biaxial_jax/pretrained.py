"""Models shipped inside the package, and the export format they use: a folder with `model.json` (the config with its
representation, the training step, provenance, a parameter digest) and `params.npz` (one array per parameter path).

An export is a few hundred kilobytes to a few megabytes: parameters only, no optimizer state.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import jax
import numpy as np

from biaxial_jax import checkpoint
from biaxial_jax.config import Config
from biaxial_jax.music.files import atomic_path, read_json, read_npy_header

SHIPPED = {name: os.path.join(os.path.dirname(__file__), 'pretrained', name)
           for name in ('bach', 'styles', 'styles_dynamics')}
MODEL_FILE, PARAMS_FILE = 'model.json', 'params.npz'
COVERED = ('config', 'step', 'params_sha256')  # what `record_sha256` vouches for: all that generation reads
NPY_HEADER_BYTES = 4096  # room for a .npy member's header beyond its data


def _record_digest(record: dict) -> str:
  return hashlib.sha256(json.dumps({k: record.get(k) for k in COVERED}, sort_keys=True).encode()).hexdigest()


def is_export(path: str) -> bool:
  return os.path.isfile(os.path.join(path, MODEL_FILE)) and os.path.isfile(os.path.join(path, PARAMS_FILE))


def export_params(workdir: str, out_dir: str, info: dict, best: bool = False) -> str:
  """Writes the newest checkpoint of `workdir` (`best`: the one with the lowest valid NLL) as an export; `info`
  (metrics, command, seed...) is kept."""
  config, params, step = checkpoint.restore_params(workdir, best)
  return write_export(out_dir, config, params, step, info)


def write_export(out_dir: str, config: Config, params, step: int, info: dict | None = None) -> str:
  """Writes `params` of a model with `config`, trained for `step` steps, as an export folder (see the module)."""
  leaves = {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  record = {'format_version': checkpoint.FORMAT_VERSION, 'config': config.to_dict(), 'step': int(step),
            'params_sha256': checkpoint.digest(params), **(info or {})}
  record['record_sha256'] = _record_digest(record)
  with atomic_path(os.path.join(out_dir, PARAMS_FILE)) as tmp, open(tmp, 'wb') as f:
    np.savez_compressed(f, **leaves)
  with atomic_path(os.path.join(out_dir, MODEL_FILE)) as tmp, open(tmp, 'w') as f:
    json.dump(record, f, indent=2)
  return out_dir


def _read_arrays(path: str, abstract) -> dict:
  """The parameter arrays of `params.npz`, each checked against its expected shape and dtype from its header, and
  its size from the zip directory, before any data is read: a damaged or hostile file cannot make us allocate more
  than the model's own size."""
  expected = {jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  arrays = {}
  with zipfile.ZipFile(path) as z:
    members = {info.filename: info for info in z.infolist()}
    for name, leaf in expected.items():
      info = members.get(f'{name}.npy')
      if info is None:
        raise KeyError(f'{name} is missing')
      nbytes = int(np.prod(leaf.shape)) * np.dtype(leaf.dtype).itemsize
      if info.file_size > nbytes + NPY_HEADER_BYTES:
        raise ValueError(f'{name} declares {info.file_size:,} bytes, more than its {nbytes:,}')
      with z.open(info) as f:
        shape, fortran, dtype = read_npy_header(f, name)
        if fortran:
          raise ValueError(f'{name} is stored in Fortran order')
        if tuple(shape) != tuple(leaf.shape) or dtype != np.dtype(leaf.dtype):
          raise ValueError(f'{name} is {dtype}{list(shape)}, the config asks for {np.dtype(leaf.dtype)}'
                           f'{list(leaf.shape)}')
        arrays[name] = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape)
        if arrays[name].size != int(np.prod(leaf.shape)):
          raise ValueError(f'{name} is truncated')
  return arrays


def load_export(path: str) -> tuple[Config, dict, int, dict]:
  """(config, params, step, the whole record) of an export folder; the record and the parameters are checked
  against their digests, the arrays against the config before they are read, the values for finiteness."""
  try:
    record = read_json(os.path.join(path, MODEL_FILE))
    if not isinstance(record, dict):
      raise ValueError(f'{MODEL_FILE} holds no record')
    if 'record_sha256' not in record:
      raise checkpoint.CheckpointError(f'{path}: {MODEL_FILE} has no digest of its own (record_sha256), so an edit '
                                       'could not be told from the exported config (edited or damaged)')
    if record['record_sha256'] != _record_digest(record):
      raise checkpoint.CheckpointError(f'{path}: {MODEL_FILE} does not match its digest (edited or damaged)')
    step = record.get('step')
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
      raise ValueError(f'step must be a whole number >= 0, got {step!r}')
    config = Config.from_dict(record['config'])
    abstract = checkpoint.abstract_params(config)
    arrays = _read_arrays(os.path.join(path, PARAMS_FILE), abstract)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(abstract)[0]]
    finite = all(np.isfinite(arrays[p]).all() for p in paths)
    params = jax.tree.unflatten(jax.tree.structure(abstract), [jax.device_put(arrays[p]) for p in paths])
  except checkpoint.CheckpointError:
    raise
  except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as e:
    raise checkpoint.CheckpointError(f'{path}: not a readable model export ({type(e).__name__}: '
                                     f'{str(e)[:300]})') from None
  if record.get('params_sha256') != checkpoint.digest(params):
    raise checkpoint.CheckpointError(f'{path}: parameters do not match their digest (damaged files)')
  if not finite:
    raise checkpoint.CheckpointError(f'{path}: parameters hold NaN or infinity')
  return config, params, step, record
