"""Likelihood of whole pieces under a trained model, and the Boulanger-Lewandowski 88-key protocol.

The BL benchmarks score the play bits of 88 keys (MIDI 21..108) per frame, summed over keys and averaged over all frames
of the split. A model over a narrower range cannot predict the other keys; they are scored honestly by each key's own
frequency in the training split (add-one smoothed), the same for every frame, and the output says so.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from biaxial_jax import loss, model
from biaxial_jax.mesh import make_mesh, to_global
from biaxial_jax.generation import Composer
from biaxial_jax.music import structure
from biaxial_jax.config import Config
from biaxial_jax.music.batches import Batch, piece_batches
from biaxial_jax.music.datasets import Dataset, load_dataset
from biaxial_jax.music.piece import PLAY, Grid

PIANO_LOWEST, PIANO_KEYS = 21, 88
MAX_EVAL_STEPS_PER_ROW = 1024  # a batch of whole pieces holds at most eval_batch_size x this many padded steps


def eval_step(params, batch: Batch, *, config: Config) -> dict:
  """NLL sums of a batch of whole pieces, no dropout."""
  logits = model.teacher_forced_logits(params, batch.notes_BxTxNx2, batch.bar_position_BxT, config.model,
                                       lowest=config.data.lowest, context_BxTxC=batch.context_BxTxC,
                                       style_BxY=batch.style_BxY, velocity_BxTxN=batch.velocity_BxTxN,
                                       voices_BxTxN=batch.voices_BxTxN)
  return loss.nll_sums(logits, batch.notes_BxTxNx2, batch.mask_BxT, *loss.targets_of(batch, config.model))


def evaluate(params, pieces, eval_fn, config: Config, sharding: NamedSharding) -> dict:
  """Per-frame, per-note and play-only NLL over whole pieces (padding masked)."""
  batch_size = -(-config.train.eval_batch_size // jax.device_count()) * jax.device_count()
  ordered = sorted(pieces, key=lambda p: p.num_steps)  # similar lengths share a padded shape
  totals = None
  for batch in piece_batches(ordered, batch_size=batch_size, length_multiple=128, styles=config.model.styles,
                             max_steps=batch_size * MAX_EVAL_STEPS_PER_ROW, row_multiple=jax.device_count()):
    sums = jax.device_get(eval_fn(params, to_global(batch, sharding)))
    totals = sums if totals is None else jax.tree.map(np.add, totals, sums)
  return {k: float(v) for k, v in loss.metrics_from_sums(totals).items()}


def likelihood(composer: Composer, pieces, batch_size: int = 16) -> dict:
  """NLL per frame, per note and play-only per frame over whole pieces (the first frame predicted from silence)."""
  mesh = make_mesh()
  eval_fn = jax.jit(functools.partial(eval_step, config=composer.config))
  params = jax.device_put(composer.params, NamedSharding(mesh, P()))
  config = dataclasses.replace(composer.config,
                               train=dataclasses.replace(composer.config.train, eval_batch_size=batch_size))
  return evaluate(params, pieces, eval_fn, config, NamedSharding(mesh, P('data')))


def outside_keys_nll(train_pieces, test_pieces, model_lowest: int, model_notes: int) -> tuple[float, list[int]]:
  """Summed play NLL, over all test frames, of the piano keys outside the model's range, each scored by its
  add-one-smoothed frequency in the training frames; and the keys so scored."""
  keys = [k for k in range(PIANO_LOWEST, PIANO_LOWEST + PIANO_KEYS)
          if not model_lowest <= k < model_lowest + model_notes]
  if not keys:
    return 0.0, []
  index = np.array(keys) - PIANO_LOWEST
  on = sum(p.roll[:, index, PLAY].sum(axis=0) for p in train_pieces)
  frames = sum(p.num_steps for p in train_pieces)
  prob = (on + 1) / (frames + 2)
  test_on = sum(p.roll[:, index, PLAY].sum(axis=0) for p in test_pieces)
  test_frames = sum(p.num_steps for p in test_pieces)
  nll = -(test_on * np.log(prob) + (test_frames - test_on) * np.log1p(-prob)).sum()
  return float(nll), keys


def benchmark_likelihood(composer: Composer, dataset: str, split: str, batch_size: int = 16) -> dict:
  """The BL protocol on a benchmark file: 88 keys, play bits only, mean over all frames of `split`."""
  data = composer.config.data
  # Notes outside the model's range are dropped for the model (not folded: they are scored separately below).
  inside = load_dataset(dataset, grid=data.grid, out_of_range='drop')
  piano = load_dataset(dataset, grid=Grid(PIANO_LOWEST, PIANO_KEYS, data.steps_per_quarter), out_of_range='drop')
  result = likelihood(composer, inside.split(split), batch_size)
  outside, keys = outside_keys_nll(piano.train, piano.split(split), data.lowest, data.num_notes)
  result['bl_play_nll_per_frame_88_keys'] = result['play_nll_per_frame'] + outside / result['frames']
  result['keys_outside_model'] = len(keys)
  result['outside_keys_scored_by'] = ('each key\'s add-one-smoothed frequency in the training split'
                                      if keys else 'none: the model covers all 88 keys')
  return result


def dataset_for(composer: Composer, name_or_path: str) -> Dataset:
  """A data set in the model's own representation."""
  data = composer.config.data
  return load_dataset(name_or_path, grid=data.grid, out_of_range=data.out_of_range)


@functools.partial(jax.jit, static_argnames=('config', 'lowest'))
def _step_nll(params, notes_BxTxNx2, bar_position_BxT, context_BxTxC, style_BxY, velocity_BxTxN, voices_BxTxN, *,
              config, lowest):
  logits = model.teacher_forced_logits(params, notes_BxTxNx2, bar_position_BxT, config, lowest=lowest,
                                       context_BxTxC=context_BxTxC, style_BxY=style_BxY,
                                       velocity_BxTxN=velocity_BxTxN, voices_BxTxN=voices_BxTxN)
  play, articulate = loss.nll_terms(logits, notes_BxTxNx2)
  return (play + articulate).sum(axis=-1)


def step_nll(composer: Composer, pieces, length_multiple: int = 64) -> list[np.ndarray]:
  """The model's NLL of each step of each piece, `float[T]` in nats (play and articulate terms summed over notes,
  as training scores them, a model with styles told each piece's own style where it is one of them, a model with
  voices each piece's voices where it has them); pieces are
  padded to a multiple of `length_multiple` steps to share compilations."""
  styles = composer.config.model.styles
  out = []
  for piece in pieces:
    t = -(-piece.num_steps // length_multiple) * length_multiple
    notes = np.zeros((1, t, piece.num_notes, 2), np.uint8)
    notes[0, :piece.num_steps] = piece.roll
    bar = np.zeros((1, t), np.int32)
    bar[0, :piece.num_steps] = piece.bar_position
    context = np.full((1, t, structure.CONTEXT_SIZE), structure.UNKNOWN, np.int32)
    context[0, :piece.num_steps] = structure.context_of(piece)
    style = np.zeros((1, len(styles)), np.float32)
    if piece.style in styles:
      style[0, styles.index(piece.style)] = 1
    velocity = np.zeros(notes.shape[:3], np.uint8)
    if piece.velocity is not None:
      velocity[0, :piece.num_steps] = piece.velocity
    voices = np.zeros(notes.shape[:3], np.uint8)
    if piece.voices is not None:
      voices[0, :piece.num_steps] = piece.voices
    nll = _step_nll(composer.params, notes, bar, context, style, velocity, voices, config=composer.config.model,
                    lowest=composer.lowest)
    out.append(np.asarray(nll[0, :piece.num_steps]))
  return out
