"""Self-describing orbax checkpoints: train state plus the full config (representation included).

A workdir holds numbered step folders; each has `state` (params, optimizer state, step) and `config` (JSON). The
data order needs no state of its own: batch i is a function of (seed, i) and the step is saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from biaxial_jax import model
from biaxial_jax.config import Config, ConfigError
from biaxial_jax.errors import BiaxialError, brief
from biaxial_jax.music.files import read_json

FORMAT_VERSION = 1
BEST_METRIC = 'valid_nll_per_frame'
# Fields a resumed run may change: they alter how long it runs and how often it reports, not what it computes
# (model.dynamics_styles describes the data, which training reads again at each start: a run begun before the field
# existed resumes with it filled in).
RESUMABLE_CHANGES = {'train.num_steps', 'train.log_every', 'train.eval_every', 'train.eval_batch_size',
                     'train.checkpoint_every', 'train.keep_checkpoints', 'model.dynamics_styles'}


class CheckpointError(BiaxialError):
  """A missing, incompatible or unreadable checkpoint; the message names the folder."""


def open_manager(workdir: str, keep: int = 3, *, read_only: bool = False) -> ocp.CheckpointManager:
  """A manager that keeps the latest `keep` checkpoints plus the best by valid NLL (`read_only`: for
  looking only, it creates no folder). Metrics files it could not read are set aside first."""
  _set_aside_unreadable_metrics(workdir)
  policy = checkpoint_managers.AnyPreservationPolicy([
      checkpoint_managers.LatestN(n=keep),
      checkpoint_managers.BestN(get_metric_fn=lambda m: m[BEST_METRIC], reverse=True, n=1,
                                keep_checkpoints_without_metrics=False),
  ])
  # best_fn is what makes orbax write the metrics into each checkpoint, so the best is still known after a restart.
  options = ocp.CheckpointManagerOptions(create=not read_only, preservation_policy=policy,
                                         best_fn=lambda m: m[BEST_METRIC], best_mode='min')
  return ocp.CheckpointManager(os.path.abspath(workdir), options=options)


def _set_aside_unreadable_metrics(workdir: str):
  """Renames each checkpoint's metrics file that is not a small JSON object holding a finite `BEST_METRIC` to
  `metrics.unreadable-TIME` (nothing is deleted): orbax reads every step's metrics when it opens a workdir and fails
  on a damaged one, and its best-checkpoint choice fails on one without the metric. That step then has no metrics
  and cannot be chosen as the best."""
  if not os.path.isdir(workdir):
    return
  for name in sorted(os.listdir(workdir)):
    path = os.path.join(workdir, name, 'metrics', 'metrics')
    if not name.isdigit() or not os.path.lexists(path):
      continue
    try:
      metrics = read_json(path)
      value = metrics.get(BEST_METRIC) if isinstance(metrics, dict) else None
      readable = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except (OSError, ValueError):
      readable = False
    if readable:
      continue
    aside = f'{path}.unreadable-{time.time_ns()}'
    try:
      os.replace(path, aside)
    except OSError as e:
      raise CheckpointError(f'{path}: unreadable metrics that cannot be set aside ({e.strerror or e})') from None
    logging.warning('%s: unreadable metrics, kept as %s; that checkpoint cannot be chosen as the best', path, aside)


def digest(tree) -> str:
  """SHA-256 of a pytree's leaves (paths and bytes): damage that still restores is caught by comparing it."""
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    # A replicated array's first local shard is the whole array, also where other processes hold the rest.
    value = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf)
    h.update(jax.tree_util.keystr(path).encode())
    h.update(str(value.dtype).encode() + value.tobytes())
  return h.hexdigest()


def save(manager: ocp.CheckpointManager, step: int, state, config: Config, metrics: dict | None = None):
  """Starts an asynchronous save of `state` at `step` (call `manager.wait_until_finished()` before exiting).

  The JSON record beside the arrays holds the config and digests of the state and of the parameters.
  """
  record = {'format_version': FORMAT_VERSION, 'config': config.to_dict(), 'state_sha256': digest(state),
            'params_sha256': digest(state['params'])}
  record['record_sha256'] = record_digest(record)
  manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(record)),
               metrics=metrics, force=True)


def record_digest(record: dict) -> str:
  """SHA-256 of a checkpoint record's content (config, format, the arrays' digests), saved inside it."""
  content = {k: v for k, v in record.items() if k != 'record_sha256'}
  return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _read_record(manager: ocp.CheckpointManager, step: int) -> dict:
  """The JSON record of a checkpoint, verified: its own digest (a changed digit of the config is damage, not another
  config), its format, and the digests of the arrays it vouches for."""
  record = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))['config']
  if not isinstance(record, dict):
    raise CheckpointError('its record is not a JSON object')
  if record.get('format_version') != FORMAT_VERSION:
    raise CheckpointError(f'checkpoint format {record.get("format_version")!r}, this version reads {FORMAT_VERSION}')
  if not all(isinstance(record.get(k), str) for k in ('state_sha256', 'params_sha256')):
    raise CheckpointError('its record lacks the digests of its arrays (damaged)')
  if 'record_sha256' not in record:
    raise CheckpointError('its record has no digest of its own (record_sha256), so an edit could not be told from '
                          'the saved config (edited or damaged)')
  if record['record_sha256'] != record_digest(record):
    raise CheckpointError('its record does not match its digest (edited or damaged)')
  return record


def _read_config(manager: ocp.CheckpointManager, step: int) -> Config:
  return Config.from_dict(_read_record(manager, step)['config'])


def _verified(record: dict, key: str, tree):
  if record[key] != digest(tree):
    raise CheckpointError('its arrays do not match the digest saved with them (damaged files)')
  return tree


def config_differences(saved: Config, current: Config) -> list[str]:
  """`section.field` names whose values differ, except the ones a resumed run may change."""
  diffs = []
  for section in dataclasses.fields(Config):
    a, b = getattr(saved, section.name), getattr(current, section.name)
    for field in dataclasses.fields(a):
      name = f'{section.name}.{field.name}'
      if getattr(a, field.name) != getattr(b, field.name) and name not in RESUMABLE_CHANGES:
        diffs.append(f'{name}: checkpoint {getattr(a, field.name)!r}, now {getattr(b, field.name)!r}')
  return diffs


def check_compatible(workdir: str, config: Config):
  """Raises if `workdir` holds a run whose config differs from `config` in more than run length and reporting."""
  if not os.path.isdir(workdir):
    return
  manager = open_manager(workdir, read_only=True)
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      saved = _read_config(manager, step)
    except Exception:  # pylint: disable=broad-except  # a damaged checkpoint: restore_latest reports it
      continue
    diffs = config_differences(saved, config)
    if diffs:
      raise CheckpointError(f'{workdir}: this workdir holds a run with another config (' + '; '.join(diffs)
                            + '); use a new --workdir or the same config')
    return


def restore_latest(manager: ocp.CheckpointManager, abstract_state):
  """The newest readable checkpoint's state, or None in an empty workdir.

  A checkpoint that fails to restore (damaged files) is reported and the previous one is tried.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    return None
  errors = []
  for step in steps:
    try:
      restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
      state = _verified(_read_record(manager, step), 'state_sha256', restored['state'])
    except Exception as e:  # pylint: disable=broad-except  # orbax raises many types for damaged files
      errors.append(f'step {step}: {brief(e)}')
      logging.warning('checkpoint at step %d is unreadable, trying an older one: %s', step, errors[-1])
      continue
    if errors:
      # Set the unreadable ones aside (nothing is deleted) so that training can save those steps again.
      for bad in steps[:len(errors)]:
        folder = os.path.join(manager.directory, str(bad))
        os.replace(folder, f'{folder}.unreadable-{int(time.time())}')
      manager.reload()
      logging.warning('resumed from step %d; unreadable newer checkpoints were renamed *.unreadable-*: %s', step,
                      '; '.join(errors))
    return state
  raise CheckpointError(f'{manager.directory}: no readable checkpoint ({"; ".join(errors)}); move the folder away to '
                        'start afresh')


def abstract_of(tree):
  """Shapes, dtypes and shardings of a pytree of arrays: what orbax restores into."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _open_chosen(path: str, best: bool) -> tuple[ocp.CheckpointManager, Config, int]:
  """A read-only manager of a workdir, and the config and step of its newest (or `best`) checkpoint."""
  if not os.path.isdir(path):
    raise CheckpointError(f'{path}: no such checkpoint folder')
  manager = open_manager(path, read_only=True)
  if manager.latest_step() is None:
    raise CheckpointError(f'{path}: holds no checkpoint')
  step = manager.best_step() if best else manager.latest_step()
  if step is None:
    raise CheckpointError(f'{path}: no checkpoint was evaluated on the valid split, so none is best; drop the '
                          'best choice to use the newest')
  try:
    return manager, _read_config(manager, step), step
  except Exception as e:  # pylint: disable=broad-except  # a missing, empty or malformed record: orbax raises many
    raise CheckpointError(f'{path}: checkpoint at step {step}: '
                          f'{e if isinstance(e, (ConfigError, CheckpointError)) else brief(e)}') from None


def load_config(path: str, best: bool = False) -> tuple[Config, int]:
  """The config and step of the newest checkpoint in a workdir, or (`best`) of the one with the lowest valid NLL."""
  return _open_chosen(path, best)[1:]


def abstract_params(config: Config):
  """Shapes and dtypes of the parameters a config describes (nothing is computed)."""
  return jax.eval_shape(lambda: model.init_params(jax.random.key(0), config.model))


def restore_params(path: str, best: bool = False) -> tuple[Config, dict, int]:
  """The config, parameters and step of the newest checkpoint in a workdir (`best`: the one with the lowest valid
  NLL); all a sampler needs."""
  manager, config, step = _open_chosen(path, best)
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                          abstract_params(config))
  try:
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(item={'params': abstract}, partial_restore=True,
                                     restore_args=ocp.checkpoint_utils.construct_restore_args({'params': abstract}))))
    params = _verified(_read_record(manager, step), 'params_sha256', restored['state']['params'])
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(f'{path}: checkpoint at step {step} is unreadable ({brief(e)})') from None
  return config, params, step
