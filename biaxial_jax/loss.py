"""Bernoulli negative log-likelihood of the notes, from logits, and the metrics reported in papers.

Units: nats. "Per frame" sums over the notes of a step and averages over the (unpadded) steps, the unit that
polyphonic-music papers report; "per note" averages over steps x notes; "play" counts the play bits only (what
frame-level benchmarks score); the articulate term counts only where the target note plays.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def nll_terms(logits_BxTxNx2: jnp.ndarray, notes_BxTxNx2: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-cell NLL `[B, T, N]` of the play bit, and of the articulate bit where the note plays (else 0)."""
  targets = notes_BxTxNx2.astype(jnp.float32)
  nll = optax.sigmoid_binary_cross_entropy(logits_BxTxNx2.astype(jnp.float32), targets)
  return nll[..., 0], nll[..., 1] * targets[..., 0]


def nll_sums(logits_BxTxNx2: jnp.ndarray, notes_BxTxNx2: jnp.ndarray, mask_BxT: jnp.ndarray) -> dict:
  """Summed NLL terms and counts of a batch (sums, so they add up over batches and devices)."""
  play_nll, articulate_nll = nll_terms(logits_BxTxNx2, notes_BxTxNx2)
  mask = mask_BxT.astype(jnp.float32)[..., None]
  play = jnp.sum(play_nll * mask)
  articulate = jnp.sum(articulate_nll * mask)
  return {'play': play, 'articulate': articulate, 'frames': jnp.sum(mask),
          'cells': jnp.sum(mask) * notes_BxTxNx2.shape[2]}


def metrics_from_sums(sums: dict) -> dict:
  """Per-frame, per-note and play-only NLL from (possibly accumulated) `nll_sums`."""
  frames = jnp.maximum(sums['frames'], 1.0)
  total = sums['play'] + sums['articulate']
  return {'nll_per_frame': total / frames, 'nll_per_note': total / jnp.maximum(sums['cells'], 1.0),
          'play_nll_per_frame': sums['play'] / frames, 'frames': sums['frames']}


def objective_of(sums: dict, play_only: bool = False) -> jnp.ndarray:
  """What training minimizes and checkpoints are chosen by: NLL per frame, of the play bits alone if `play_only`."""
  total = sums['play'] if play_only else sums['play'] + sums['articulate']
  return total / jnp.maximum(sums['frames'], 1.0)


def loss_fn(logits_BxTxNx2, notes_BxTxNx2, mask_BxT, play_only: bool = False) -> tuple[jnp.ndarray, dict]:
  """Training loss (`objective_of`); and the batch's sums for metrics."""
  sums = nll_sums(logits_BxTxNx2, notes_BxTxNx2, mask_BxT)
  return objective_of(sums, play_only), sums
