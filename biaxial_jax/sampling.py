"""One compiled sampler: `lax.scan` over time steps, and inside each step a `lax.scan` over the notes, low to high.

At each step the time axis advances once for all notes from the features of the previous sampled step (computed inside
the scan: no host round trip), then every note is sampled in turn: play ~ Bernoulli, articulate ~ Bernoulli where
played, each sampled pair feeding the next note. Constraints are masks the sampler obeys exactly:
- `fixed_mask` / `fixed_values` `[B, T, N, 2]`: cells whose (play, articulate) are given (a primer, a melody);
- `force_articulate` `[B, T, N]`: a note played there must be struck anew (keeps a fixed melody note's length exact).
A note that starts sounding is always articulated, so every sampled roll is a valid `Piece` roll. A model trained on
the play bits alone (`train.play_only`) never learned articulation: it then articulates at onsets only, as its data.
"""

from __future__ import annotations

import functools
import typing

import jax
import jax.numpy as jnp

from biaxial_jax import features, model
from biaxial_jax.config import ModelConfig


class Controls(typing.NamedTuple):
  """Per-run sampling controls (traced: changing them does not recompile).

  temperature: logits are divided by it (> 0; < 1 sharper, > 1 wilder).
  conservativity: exponent on P(play) (the original's; > 1 fewer notes, < 1 more).
  adaptive: 1.0 turns on the original's anti-silence mode: while fewer than 2 notes sound the exponent drops by 0.02
    per step, otherwise it moves back toward 1 by 0.02 per step.
  """
  temperature: jnp.ndarray
  conservativity: jnp.ndarray
  adaptive: jnp.ndarray


def _sample_note(params, config: ModelConfig, learned_articulation: bool, controls: Controls, conservativity,
                 carry, per_note):
  """One note of one step for the whole batch; carry = (note-axis states, the lower note's pair)."""
  states, lower_Bx2 = carry  # conservativity: [B], one exponent per sample
  h_gates_Bx4H, uniform_Bx2, mask_Bx2, values_Bx2, force_art_B, prev_play_B = per_note
  first = params['note'][0]
  lower_gates_Bx4H = lower_Bx2 @ first['w_in'][-2:]  # the lower note's share; the time-axis share came precomputed
  states, out_BxH = model.stack_step_from_gates(params['note'], states, h_gates_Bx4H + lower_gates_Bx4H)
  logits_Bx2 = model.output_logits(params, out_BxH)
  p_Bx2 = jax.nn.sigmoid(logits_Bx2 / controls.temperature)
  p_play = p_Bx2[:, 0] ** conservativity
  play = jnp.where(mask_Bx2[:, 0], values_Bx2[:, 0], uniform_Bx2[:, 0] < p_play)
  drawn = uniform_Bx2[:, 1] < p_Bx2[:, 1] if learned_articulation else jnp.zeros_like(play)
  art = jnp.where(mask_Bx2[:, 1], values_Bx2[:, 1], drawn)
  art = play & (art | force_art_B | ~prev_play_B)  # articulate only if played; always at an onset
  pair_Bx2 = jnp.stack([play, art], axis=-1).astype(jnp.float32)
  return (states, pair_Bx2), (pair_Bx2, logits_Bx2)


@functools.partial(jax.jit, static_argnames=('config', 'lowest', 'learned_articulation'))
def sample_rolls(params, key: jax.Array, bar_position_T: jnp.ndarray, fixed_mask_BxTxNx2: jnp.ndarray,
                 fixed_values_BxTxNx2: jnp.ndarray, force_articulate_BxTxN: jnp.ndarray, controls: Controls, *,
                 config: ModelConfig, lowest: int,
                 learned_articulation: bool = True) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Samples `B` rolls of `T` steps; returns them (`uint8[B, T, N, 2]`) and the logits each note was drawn from.
  `learned_articulation=False` (a model trained with `train.play_only`) articulates at onsets only.

  The logits equal `model.apply` on the returned rolls (teacher forcing the samples), before temperature.
  """
  b, t, n, _ = fixed_mask_BxTxNx2.shape
  time_states = model.zero_state(params['time'], b * n)
  note_init = model.zero_state(params['note'], b)

  def time_step(carry, per_step):
    time_states, prev_BxNx2, conservativity = carry
    step_key, bar_position, mask_BxNx2, values_BxNx2, force_BxN = per_step
    x_BxNxF = features.note_features(prev_BxNx2, jnp.full((b,), bar_position), lowest=lowest)
    time_states, h = model.stack_step(params['time'], time_states, x_BxNxF.reshape(b * n, -1))
    uniform_BxNx2 = jax.random.uniform(step_key, (b, n, 2))
    first = params['note'][0]
    # The note axis's first layer sees [time output, lower note]: the time output's share of its gates is computed
    # for all notes in one matmul here, not once per note inside the note scan.
    h_gates = h @ first['w_in'][:-2] + first['b']
    per_note = (h_gates.reshape(b, n, -1), uniform_BxNx2, mask_BxNx2, values_BxNx2, force_BxN, prev_BxNx2[..., 0] > 0)
    per_note = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), per_note)  # notes lead: the scan runs over them
    note = functools.partial(_sample_note, params, config, learned_articulation, controls, conservativity)
    _, (pairs_NxBx2, logits_NxBx2) = jax.lax.scan(note, (note_init, jnp.zeros((b, 2))), per_note)
    notes_BxNx2 = jnp.swapaxes(pairs_NxBx2, 0, 1)
    sounding_B = notes_BxNx2[..., 0].sum(axis=-1)
    adapted = jnp.where(sounding_B < 2, conservativity - 0.02,
                        conservativity + jnp.clip(1 - conservativity, -0.02, 0.02))
    conservativity = jnp.where(controls.adaptive > 0, adapted, conservativity)
    return (time_states, notes_BxNx2, conservativity), (notes_BxNx2, jnp.swapaxes(logits_NxBx2, 0, 1))

  def time_major(x):
    return jnp.swapaxes(x, 0, 1)

  per_step = (jax.random.split(key, t), bar_position_T, time_major(fixed_mask_BxTxNx2),
              time_major(fixed_values_BxTxNx2), time_major(force_articulate_BxTxN))
  init = (time_states, jnp.zeros((b, n, 2)), jnp.full((b,), controls.conservativity, jnp.float32))
  _, (notes_TxBxNx2, logits_TxBxNx2) = jax.lax.scan(time_step, init, per_step)
  return time_major(notes_TxBxNx2).astype(jnp.uint8), time_major(logits_TxBxNx2)
