"""Bernoulli negative log-likelihood of the notes, from logits, and the metrics reported in papers.

Units: nats. "Per frame" sums over the notes of a step and averages over the (unpadded) steps, the unit that
polyphonic-music papers report; "per note" averages over steps x notes; "play" counts the play bits only (what
frame-level benchmarks score); the articulate term counts only where the target note plays. A model with dynamics
also has a velocity term: the categorical NLL of the velocity bin of every struck note of a piece with dynamics,
reported apart ("velocity per struck note") and added to what training minimizes, never to the note metrics, so
those stay comparable with models without dynamics. A model with voices likewise has a voice term: the categorical
NLL of the voice set of every played note whose voices are known ("voice per voiced note").
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from biaxial_jax import features, voicing


def nll_terms(logits_BxTxNx2: jnp.ndarray, notes_BxTxNx2: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-cell NLL `[B, T, N]` of the play bit, and of the articulate bit where the note plays (else 0)."""
  targets = notes_BxTxNx2.astype(jnp.float32)
  nll = optax.sigmoid_binary_cross_entropy(logits_BxTxNx2[..., :2].astype(jnp.float32), targets)
  return nll[..., 0], nll[..., 1] * targets[..., 0]


def velocity_terms(logits_BxTxNxL: jnp.ndarray, velocity_BxTxN: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-cell NLL `[B, T, N]` of the velocity bin where a note is struck with a known velocity (else 0), and
  where that is."""
  known = velocity_BxTxN > 0
  nll = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxNxL[..., 2:2 + features.VELOCITY_BINS].astype(jnp.float32), features.velocity_bin(velocity_BxTxN))
  return jnp.where(known, nll, 0.0), known


def voice_terms(logits_BxTxNxL: jnp.ndarray, voices_BxTxN: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-cell NLL `[B, T, N]` of the voice set where a note sounds with known voices (else 0), from the last 15
  logits, and where that is."""
  known = voices_BxTxN > 0
  nll = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxNxL[..., -voicing.NUM_CLASSES:].astype(jnp.float32), voicing.class_of(jnp.maximum(voices_BxTxN, 1)))
  return jnp.where(known, nll, 0.0), known


def nll_sums(logits_BxTxNx2: jnp.ndarray, notes_BxTxNx2: jnp.ndarray, mask_BxT: jnp.ndarray,
             velocity_BxTxN: jnp.ndarray | None = None, voices_BxTxN: jnp.ndarray | None = None) -> dict:
  """Summed NLL terms and counts of a batch (sums, so they add up over batches and devices). The velocity term and
  its count of struck notes come from a model with dynamics given `velocity_BxTxN`, the voice term and its count
  of voiced notes from a model with voices given `voices_BxTxN`; else they are 0."""
  play_nll, articulate_nll = nll_terms(logits_BxTxNx2, notes_BxTxNx2)
  mask = mask_BxT.astype(jnp.float32)[..., None]
  play = jnp.sum(play_nll * mask)
  articulate = jnp.sum(articulate_nll * mask)
  velocity = struck = voice = voiced = jnp.zeros(())
  if velocity_BxTxN is not None:
    velocity_nll, known = velocity_terms(logits_BxTxNx2, velocity_BxTxN)
    velocity, struck = jnp.sum(velocity_nll * mask), jnp.sum(known * mask)
  if voices_BxTxN is not None:
    voice_nll, known = voice_terms(logits_BxTxNx2, voices_BxTxN)
    voice, voiced = jnp.sum(voice_nll * mask), jnp.sum(known * mask)
  return {'play': play, 'articulate': articulate, 'frames': jnp.sum(mask),
          'cells': jnp.sum(mask) * notes_BxTxNx2.shape[2], 'velocity': velocity, 'struck': struck, 'voice': voice,
          'voiced': voiced}


def targets_of(batch, config) -> tuple[jnp.ndarray | None, jnp.ndarray | None]:
  """`(velocities, voices)` of a `Batch` that a model scores: those of its outputs (`config`: the `ModelConfig`),
  None for the others."""
  return (batch.velocity_BxTxN if config.dynamics else None, batch.voices_BxTxN if config.voices else None)


def metrics_from_sums(sums: dict) -> dict:
  """Per-frame, per-note and play-only NLL from (possibly accumulated) `nll_sums` (and, where there were struck
  notes with velocities, the velocity NLL per struck note)."""
  frames = jnp.maximum(sums['frames'], 1.0)
  total = sums['play'] + sums['articulate']
  out = {'nll_per_frame': total / frames, 'nll_per_note': total / jnp.maximum(sums['cells'], 1.0),
         'play_nll_per_frame': sums['play'] / frames, 'frames': sums['frames']}
  if float(sums.get('struck', 0)) > 0:
    out['velocity_nll_per_struck_note'] = sums['velocity'] / sums['struck']
  if float(sums.get('voiced', 0)) > 0:
    out['voice_nll_per_voiced_note'] = sums['voice'] / sums['voiced']
  return out


def objective_of(sums: dict, play_only: bool = False) -> jnp.ndarray:
  """What training minimizes: NLL per frame, of the play bits alone if `play_only`, plus the velocity and voice terms
  per frame (checkpoints are chosen by the notes' part alone, `metrics_from_sums`, comparable across models)."""
  total = sums['play'] if play_only else sums['play'] + sums['articulate']
  return (total + sums['velocity'] + sums.get('voice', 0.0)) / jnp.maximum(sums['frames'], 1.0)


def loss_fn(logits_BxTxNx2, notes_BxTxNx2, mask_BxT, play_only: bool = False,
            velocity_BxTxN: jnp.ndarray | None = None,
            voices_BxTxN: jnp.ndarray | None = None) -> tuple[jnp.ndarray, dict]:
  """Training loss (`objective_of`); and the batch's sums for metrics."""
  sums = nll_sums(logits_BxTxNx2, notes_BxTxNx2, mask_BxT, velocity_BxTxN, voices_BxTxN)
  return objective_of(sums, play_only), sums
