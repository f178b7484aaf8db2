"""Training: `train_and_evaluate(config, workdir)`, data parallel over a device mesh, resumable from orbax checkpoints."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorboardX
from jax.sharding import NamedSharding, PartitionSpec as P

from biaxial_jax import checkpoint, cudnn_lstm, loss, model
from biaxial_jax import workdir as workdir_lib
from biaxial_jax.evaluation import eval_step, evaluate
from biaxial_jax.mesh import make_mesh, to_global
from biaxial_jax.generation import Composer, Controls, Request
from biaxial_jax.config import Config, ConfigError, TrainConfig
from biaxial_jax.music.batches import Batch, training_batch
from biaxial_jax.music.datasets import SPLITS, Dataset, load_dataset
from biaxial_jax.music.files import atomic_path, loads_bounded
from biaxial_jax.music.midi import write_midi
from biaxial_jax.errors import BiaxialError, TrainingError, brief


DYNAMICS_SHARE = 0.5  # a style has dynamics when at least this share of its training pieces carries velocities
DIVERGED_NLL_PER_NOTE = 2.0  # nats per note and frame: 2 ln 2 = 1.39 is a coin toss on each of its two bits


def clip_each_by_norm(max_norm: float) -> optax.GradientTransformation:
  """Scales each parameter's gradient to norm at most `max_norm` on its own (the original's clipping)."""
  def update(updates, state, params=None):
    del params
    def clip(g):
      norm = jnp.sqrt(jnp.sum(g * g))
      return g * jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-12))
    return jax.tree.map(clip, updates), state
  return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
  """Adam with global-norm clipping and warm-up + cosine decay (AdamW's decoupled decay of the weight matrices with
  `weight_decay`); or the original's Adadelta with per-parameter clipping."""
  # The schedule ignores num_steps, so that a run extended on resume follows the same curve as an unbroken one.
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, cfg.learning_rate, max(cfg.warmup_steps, 1), max(cfg.decay_steps, cfg.warmup_steps + 1),
      end_value=cfg.learning_rate * cfg.final_lr_fraction)
  if cfg.optimizer == 'adam':
    clip = optax.clip_by_global_norm(cfg.clip_norm) if cfg.clip_norm else optax.identity()
    if not cfg.weight_decay:  # plain Adam keeps the optimizer state of checkpoints written before weight decay
      return optax.chain(clip, optax.adam(schedule))
    matrices = lambda params: jax.tree.map(lambda x: x.ndim == 2, params)  # not biases
    return optax.chain(clip, optax.adamw(schedule, weight_decay=cfg.weight_decay, mask=matrices))
  clip = clip_each_by_norm(cfg.clip_norm) if cfg.clip_norm else optax.identity()
  return optax.chain(clip, optax.adadelta(schedule, rho=0.95, eps=1e-6))


def train_step(state: dict, batch: Batch, dropout_root: jax.Array, *, config: Config,
               optimizer: optax.GradientTransformation) -> tuple[dict, dict]:
  """One optimizer step; returns the new state and the batch's loss, NLL sums and gradient norm."""
  dropout_key = jax.random.fold_in(dropout_root, state['step'])

  def objective(params):
    logits = model.teacher_forced_logits(params, batch.notes_BxTxNx2, batch.bar_position_BxT, config.model,
                                         lowest=config.data.lowest, context_BxTxC=batch.context_BxTxC,
                                         style_BxY=batch.style_BxY, velocity_BxTxN=batch.velocity_BxTxN,
                                         voices_BxTxN=batch.voices_BxTxN, dropout_key=dropout_key)
    return loss.loss_fn(logits, batch.notes_BxTxNx2, batch.mask_BxT, config.train.play_only,
                        *loss.targets_of(batch, config.model))

  (value, sums), grads = jax.value_and_grad(objective, has_aux=True)(state['params'])
  updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
  params = optax.apply_updates(state['params'], updates)
  new_state = {'params': params, 'opt_state': opt_state, 'step': state['step'] + 1}
  params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))
  return new_state, {'loss': value, 'grad_norm': optax.tree.norm(grads), 'params_finite': params_finite, **sums}


def init_state(config: Config, optimizer, replicated: NamedSharding) -> dict:
  params = model.init_params(jax.random.fold_in(jax.random.key(config.train.seed), 0), config.model)
  state = {'params': params, 'opt_state': optimizer.init(params), 'step': jnp.zeros((), jnp.int32)}
  return jax.device_put(state, replicated)


def check_styles(data: Dataset, config: Config):
  """A model with styles needs every piece to have one of them; the error names the styles the data has."""
  found = {p.style for split in SPLITS for p in data.split(split)}
  if config.model.styles and not found <= set(config.model.styles):
    has = ', '.join(sorted(s or '(none)' for s in found))
    raise ConfigError('model.styles', f'the data set\'s pieces have the styles {has}; the model has '
                      f'{", ".join(config.model.styles)}')
  if not config.model.styles and found - {None}:
    logging.info('the data set has styles (%s); the model is not conditioned on them (model.styles is empty)',
                 ', '.join(sorted(found - {None})))


def with_dynamics_styles(data: Dataset, config: Config) -> Config:
  """`config` with `model.dynamics_styles` filled in from the data: for a model with styles and dynamics, the styles
  at least `DYNAMICS_SHARE` of whose training pieces carry velocities (a style with a few marked pieces, such as one
  edited madrigal among 184, does not make that style dynamic). One set by hand must match."""
  m = config.model
  if not (m.styles and m.dynamics):
    return config
  found = tuple(s for s in m.styles
                if (pieces := [p for p in data.train if p.style == s])
                and sum(p.velocity is not None for p in pieces) >= DYNAMICS_SHARE * len(pieces))
  if not found:
    raise ConfigError('model.dynamics', 'no style of the data set has velocities in most of its training pieces '
                      '(dynamic markings or MIDI velocities); train without dynamics')
  if m.dynamics_styles and set(m.dynamics_styles) != set(found):
    raise ConfigError('model.dynamics_styles', f'the data set\'s styles with dynamics are {", ".join(found)}, not '
                      f'{", ".join(m.dynamics_styles)} (leave it empty: training fills it in)')
  logging.info('styles with dynamics: %s (the others are played flat)', ', '.join(found))
  return dataclasses.replace(config, model=dataclasses.replace(m, dynamics_styles=found))


def check_runnable(config: Config, workdir: str):
  """Errors a user can fix, found before any data is loaded or anything is compiled."""
  if config.model.time_axis_cudnn and not cudnn_lstm.available():
    raise ConfigError('model.time_axis_cudnn', f'needs a GPU (cuDNN); jax runs on {jax.default_backend()} here')
  devices = jax.device_count()
  if config.train.batch_size % devices:
    raise ConfigError('train.batch_size', f'{config.train.batch_size} is not divisible by the {devices} devices')
  workdir_lib.check_writable(workdir)


def read_metrics(workdir: str) -> list[dict]:
  """The records of `workdir/metrics.jsonl` (none if it is missing); a line a kill or a full disk left damaged is
  skipped."""
  records = []
  try:
    with open(os.path.join(workdir, 'metrics.jsonl'), encoding='utf-8', errors='replace') as f:
      for line in f:
        try:
          record = loads_bounded(line)
        except ValueError:  # damaged, or nested deeper than a record of this file ever is
          continue
        if isinstance(record, dict) and isinstance(record.get('step'), int) and isinstance(record.get('split'), str):
          records.append(record)
  except FileNotFoundError:
    pass
  return records


class _Recorder:
  """Metrics as JSON lines (`metrics.jsonl`) and TensorBoard event files (`tb/`) in the workdir; process 0 only."""

  def __init__(self, workdir: str):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self.tb = tensorboardX.SummaryWriter(os.path.join(workdir, 'tb')) if self.active else None

  def resume_at(self, step: int):
    """Keeps the records of steps up to `step` (a resumed run logs the later ones again), and drops damaged lines."""
    if not self.active or not os.path.exists(self.path):
      return
    kept = [r for r in read_metrics(os.path.dirname(self.path)) if r['step'] <= step]
    with atomic_path(self.path) as tmp:
      with open(tmp, 'w', encoding='utf-8') as f:
        f.writelines(json.dumps(r) + '\n' for r in kept)

  def write(self, step: int, split: str, metrics: dict):
    if not self.active:
      return
    record = {'step': step, 'split': split, 'time': time.time(), **{k: float(v) for k, v in metrics.items()}}
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    if self.tb:
      for k, v in metrics.items():
        self.tb.add_scalar(f'{split}/{k}', float(v), step)
      self.tb.flush()

  def close(self):
    if self.tb:
      self.tb.close()


def write_sample(params, config: Config, workdir: str, step: int, num_bars: int = 4) -> str:
  """A few bars sampled from the current parameters, `workdir/samples/step_NNNNNNN.mid`, to hear progress."""
  composer = Composer(config, params, step)
  piece = composer.generate(Request(num_steps=num_bars * 4 * config.data.steps_per_quarter),
                            Controls(seed=config.train.seed)).pieces[0]
  return write_midi(piece, os.path.join(workdir, 'samples', f'step_{step:07d}.mid'))


def _eta(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds // 60 % 60:02d}m' if seconds >= 3600 else f'{seconds // 60}m{seconds % 60:02d}s'


def train_and_evaluate(config: Config, workdir: str) -> dict:
  """Trains (or resumes) in `workdir` up to `config.train.num_steps`; returns the last valid metrics.

  Ctrl-C saves a checkpoint and returns; re-running the same command resumes from the newest readable checkpoint.
  """
  check_runnable(config, workdir)
  with workdir_lib.workdir_lock(workdir), workdir_lib.StopRequests() as stop:
    return _train_and_evaluate(config, workdir, stop)


def _train_and_evaluate(config: Config, workdir: str, stop: workdir_lib.StopRequests) -> dict:
  cfg = config.train
  try:
    data = load_dataset(config.data.dataset, grid=config.data.grid, out_of_range=config.data.out_of_range)
  except BiaxialError as e:
    raise ConfigError('data.dataset', str(e)) from None
  if not data.train:
    raise ConfigError('data.dataset', f'{config.data.dataset} has no training pieces')
  logging.info('%s', data.summary())
  check_styles(data, config)
  config = with_dynamics_styles(data, config)
  checkpoint.check_compatible(workdir, config)
  valid = data.valid or data.train

  mesh = make_mesh()
  replicated, batch_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P('data'))
  optimizer = make_optimizer(cfg)
  state = init_state(config, optimizer, replicated)
  workdir_lib.check_disk_space(workdir, state, cfg.keep_checkpoints)
  logging.info('model: %d parameters; %d devices (%s)', model.count_params(state['params']), jax.device_count(),
               jax.devices()[0].platform)
  manager = checkpoint.open_manager(workdir, cfg.keep_checkpoints)
  restored = checkpoint.restore_latest(manager, checkpoint.abstract_of(state))
  if restored is not None:
    state = restored
    logging.info('resumed from step %d in %s', int(state['step']), workdir)
  step = int(state['step'])

  step_fn = jax.jit(functools.partial(train_step, config=config, optimizer=optimizer), donate_argnums=0)
  eval_fn = jax.jit(functools.partial(eval_step, config=config))
  dropout_root = jax.random.fold_in(jax.random.key(cfg.seed), 1)
  recorder = _Recorder(workdir)
  recorder.resume_at(step)
  valid_metrics = {}
  window, window_start, window_steps = None, time.perf_counter(), 0
  pending = None  # (step, metrics, batch) of the step dispatched last, until its metrics are read back
  try:
    def batch_at(index: int):
      batch = training_batch(data.train, batch_size=cfg.batch_size, seq_len=config.data.seq_len, seed=cfg.seed,
                             step=index, max_transpose=config.data.max_transpose, styles=config.model.styles,
                             hide_voices=config.data.hide_voices if config.model.voices else 0.0)
      return batch, to_global(batch, batch_sharding)

    def settle(index: int, metrics, batch):
      """Reads a dispatched step's metrics back and stops on anything non-finite, before its state is used."""
      nonlocal window, window_steps
      metrics = jax.device_get(metrics)
      if not (math.isfinite(metrics['loss']) and math.isfinite(metrics['grad_norm']) and metrics['params_finite']):
        pieces = [f'{data.train[i].name}@{s}' for i, s in zip(batch.piece_B, batch.start_B)]
        raise TrainingError(f'non-finite loss ({metrics["loss"]}), gradient norm ({metrics["grad_norm"]}) or updated '
                            f'parameters at step {index}, batch pieces {pieces} (is train.learning_rate too high?); '
                            f'the last good checkpoint is kept in {workdir}')
      window = metrics if window is None else jax.tree.map(np.add, window, metrics)
      window_steps += 1

    # The host never waits on the step it has just dispatched: it builds and transfers the next batch meanwhile,
    # and reads each step's metrics back one step later, or at once where the state is about to be used.
    upcoming = batch_at(step) if step < cfg.num_steps else None
    while step < cfg.num_steps:
      if stop.signal is not None:
        raise KeyboardInterrupt
      batch, global_batch = upcoming
      state, metrics = step_fn(state, global_batch, dropout_root)
      if pending:
        settle(*pending)
      pending = (step, metrics, batch)
      step += 1
      upcoming = batch_at(step) if step < cfg.num_steps else None
      evaluate_now = step == cfg.num_steps or (cfg.eval_every and step % cfg.eval_every == 0)
      if step % cfg.log_every == 0 or evaluate_now or step % cfg.checkpoint_every == 0:
        settle(*pending)
        pending = None
      if step % cfg.log_every == 0 or step == cfg.num_steps:
        rate = window_steps / (time.perf_counter() - window_start)
        summary = loss.metrics_from_sums(window)
        logging.info('step %d/%d  nll/frame %.3f  play %.3f  grad norm %.2f  %.2f steps/s  ETA %s', step,
                     cfg.num_steps, summary['nll_per_frame'], summary['play_nll_per_frame'],
                     window['grad_norm'] / window_steps, rate, _eta((cfg.num_steps - step) / rate))
        recorder.write(step, 'train', {**summary, 'steps_per_second': rate})
        if summary['nll_per_frame'] > DIVERGED_NLL_PER_NOTE * config.data.num_notes:
          logging.warning('the training NLL is %.3g nats/frame, above what guessing every note gives: the run is '
                          'diverging (train.learning_rate %g too high?)', summary['nll_per_frame'], cfg.learning_rate)
        window, window_start, window_steps = None, time.perf_counter(), 0
      if evaluate_now:
        valid_metrics = evaluate(state['params'], valid, eval_fn, config, batch_sharding)
        logging.info('step %d  valid nll/frame %.4f  per note %.5f  play-only %.4f', step,
                     valid_metrics['nll_per_frame'], valid_metrics['nll_per_note'], valid_metrics['play_nll_per_frame'])
        recorder.write(step, 'valid', valid_metrics)
        if jax.process_index() == 0:
          write_sample(state['params'], config, workdir, step)
      if step % cfg.checkpoint_every == 0 or step == cfg.num_steps:
        metrics_for_ckpt = None
        if evaluate_now:
          chosen_by = valid_metrics['play_nll_per_frame' if cfg.play_only else 'nll_per_frame']
          metrics_for_ckpt = {checkpoint.BEST_METRIC: chosen_by}
        checkpoint.save(manager, step, state, config, metrics_for_ckpt)
  except KeyboardInterrupt:
    if pending:
      settle(*pending)  # a non-finite last step raises here: nothing is saved
    step = int(state['step'])  # the state may be one step ahead of the loop's count
    logging.warning('interrupted at step %d: saving a checkpoint; run the same command to resume', step)
    if step not in manager.all_steps():
      checkpoint.save(manager, step, state, config)
  except (OSError, ValueError) as e:  # a checkpoint, metrics or sample written into a full disk
    if workdir_lib.is_disk_full(e):
      raise workdir_lib.disk_full_error(workdir, e) from None
    raise
  finally:
    try:
      manager.wait_until_finished()
    except (OSError, ValueError) as e:  # orbax writes into a temporary folder first: finished checkpoints stay whole
      if workdir_lib.is_disk_full(e):
        raise workdir_lib.disk_full_error(workdir, e) from None
      raise TrainingError(f'saving a checkpoint in {workdir} failed ({brief(e)}); the earlier checkpoints are '
                          'intact') from None
    finally:
      recorder.close()
  return valid_metrics
