"""Models shipped inside the package, and the export format they use: a folder with `model.json` (the config with its
representation, the training step, provenance, a parameter digest) and `params.npz` (one array per parameter path).

An export is a few hundred kilobytes to a few megabytes: parameters only, no optimizer state.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import checkpoint
from biaxial_jax.config import Config
from biaxial_jax.music.files import atomic_path

SHIPPED = {'bach': os.path.join(os.path.dirname(__file__), 'pretrained', 'bach')}
MODEL_FILE, PARAMS_FILE = 'model.json', 'params.npz'


def is_export(path: str) -> bool:
  return os.path.isfile(os.path.join(path, MODEL_FILE)) and os.path.isfile(os.path.join(path, PARAMS_FILE))


def export_params(workdir: str, out_dir: str, info: dict, best: bool = False) -> str:
  """Writes the newest checkpoint of `workdir` (`best`: the one with the lowest valid NLL) as an export; `info`
  (metrics, command, seed...) is kept."""
  config, params, step = checkpoint.restore_params(workdir, best)
  leaves = {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  record = {'format_version': checkpoint.FORMAT_VERSION, 'config': config.to_dict(), 'step': step,
            'params_sha256': checkpoint.digest(params), **info}
  with atomic_path(os.path.join(out_dir, PARAMS_FILE)) as tmp, open(tmp, 'wb') as f:
    np.savez_compressed(f, **leaves)
  with atomic_path(os.path.join(out_dir, MODEL_FILE)) as tmp, open(tmp, 'w') as f:
    json.dump(record, f, indent=2)
  return out_dir


def load_export(path: str) -> tuple[Config, dict, int, dict]:
  """(config, params, step, the whole record) of an export folder; the parameters are checked against the digest."""
  try:
    with open(os.path.join(path, MODEL_FILE)) as f:
      record = json.load(f)
    config = Config.from_dict(record['config'])
    abstract = checkpoint.abstract_params(config)
    with np.load(os.path.join(path, PARAMS_FILE), allow_pickle=False) as z:
      arrays = dict(z)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(abstract)[0]]
    leaves = [jnp.asarray(arrays[p]) for p in paths]
    params = jax.tree.unflatten(jax.tree.structure(abstract), leaves)
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise checkpoint.CheckpointError(f'{path}: not a readable model export ({type(e).__name__}: {e})') from None
  if record.get('params_sha256') != checkpoint.digest(params):
    raise checkpoint.CheckpointError(f'{path}: parameters do not match their digest (damaged files)')
  return config, params, int(record['step']), record
