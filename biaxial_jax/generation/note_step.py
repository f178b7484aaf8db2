"""One step of the sampler along the note axis: each note of the step drawn in turn, low to high, for every particle,
with the log-weight of what the constraints fixed (`sampler` scans it over the notes of each step).
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp

from biaxial_jax import features, lstm, model, voicing
from biaxial_jax.generation import smc
from biaxial_jax.generation import voice_leading as voice_leading_lib


class StepVoices(typing.NamedTuple):
  """What the note scan of a model with voices needs of its step: where each voice sang at the previous step
  (`[B, 4]` note indices, -1 silent), the voices closed to generated notes (`[B]` bits), and the voices' ranges
  (`[4, 2]` MIDI)."""
  prev_Bx4: jnp.ndarray
  closed_B: jnp.ndarray
  ranges_Vx2: jnp.ndarray


def tempered_log_normalizer(logit_B: jnp.ndarray, temperature) -> jnp.ndarray:
  """`log(sigmoid(l)^(1/T) + sigmoid(-l)^(1/T))`: the weight that turns a bit drawn at temperature T into a share
  of the whole piece tempered (see the module docstring); 0 at T = 1."""
  return jnp.logaddexp(jax.nn.log_sigmoid(logit_B) / temperature, jax.nn.log_sigmoid(-logit_B) / temperature)


def sample_note(params, chord_inputs: bool, learned_articulation: bool, temperature, conservativity_B, max_notes,
                 lowest: int, step_voices: StepVoices | None, carry, per_note):
  """One note of one step for every particle; carry = (note-axis states, the lower note's pair, the chord drawn
  below: `features.ChordCarry`, whose `voices_B` also counts the notes sounding so far at this step for
  `max_notes`; the voices placed so far: `voicing.VoiceCarry`); `reserved_B` in `per_note` counts the given notes
  still to come above this one."""
  states, lower_Bx2, chord, voice_carry = carry
  (time_gates_Bx4H, uniform_Bx2, gumbel_BxV, dynamics_BxD, mask_Bx2, values_Bx2, force_B, prev_play_B, reserved_B,
   note_B, previous_voices_BxD, given_voices_B, prev_bits_B, gumbel_BxC) = per_note
  below = chord.features(lower_Bx2, chord_inputs)
  if step_voices is not None:
    voices_below = voicing.below_features(note_B, voice_carry.placed_Bx4, step_voices.prev_Bx4)
    below = jnp.concatenate([below, voices_below], axis=-1)
  gates = time_gates_Bx4H + model.note_gates_from_below(params, below)
  states, out_BxH = lstm.stack_step_from_gates(params['note'], states, gates)
  logits_Bx2 = model.output_logits(params, out_BxH)
  p_Bx2 = jax.nn.sigmoid(logits_Bx2 / temperature)
  p_play = p_Bx2[:, 0] ** conservativity_B
  full_B = (chord.voices_B + reserved_B >= max_notes) & ~mask_Bx2[:, 0]  # no room left: silence, weighed as given
  if step_voices is not None:  # and no voice left that may sing it
    open_B = voice_leading_lib.open_voices(voice_carry, step_voices.closed_B)
    take_B = voice_leading_lib.takeable(lowest + note_B, open_B, prev_bits_B, step_voices.ranges_Vx2)
    may_take_B = voice_leading_lib.may_take(mask_Bx2[:, 0], given_voices_B, open_B, take_B)
    full_B |= (take_B == 0) & ~mask_Bx2[:, 0]
  play = jnp.where(mask_Bx2[:, 0], values_Bx2[:, 0], ~full_B & (uniform_Bx2[:, 0] < p_play))
  if step_voices is not None:  # a note held on whose voices all went elsewhere is struck anew by another
    force_B = force_B | (play & prev_play_B & ((prev_bits_B & may_take_B) == 0) & ~mask_Bx2[:, 1])
  drawn = uniform_Bx2[:, 1] < p_Bx2[:, 1] if learned_articulation else jnp.zeros_like(play)
  art = jnp.where(mask_Bx2[:, 1], values_Bx2[:, 1], drawn)
  art = play & (art | force_B | ~prev_play_B)  # articulate only if played; always at an onset
  pair_Bx2 = jnp.stack([play, art], axis=-1).astype(jnp.float32)
  constrained_Bx2 = mask_Bx2 | jnp.stack([full_B, force_B], axis=-1)
  log_w = smc.constrained_log_prob(logits_Bx2, pair_Bx2, prev_play_B, constrained_Bx2, temperature,
                                   conservativity_B, learned_articulation)
  art_drawn = play & prev_play_B & learned_articulation
  log_w += jnp.where(temperature == 1, 0.0, tempered_log_normalizer(logits_Bx2[:, 0], temperature)
                     + jnp.where(art_drawn, tempered_log_normalizer(logits_Bx2[:, 1], temperature), 0.0))
  log_lik = smc.model_log_prob(logits_Bx2, pair_Bx2)
  velocity_B = jnp.zeros(play.shape, jnp.int32)
  if 'velocity' in params:  # a velocity bin for a struck note, drawn at the temperature (Gumbel-max)
    velocity_logits = model.velocity_logits(params, out_BxH, dynamics_BxD)
    bin_B = jnp.argmax(velocity_logits / temperature + gumbel_BxV, axis=-1)
    velocity_B = jnp.where(art, features.bin_velocity(bin_B), 0)
    log_lik += jnp.where(art, jnp.take_along_axis(jax.nn.log_softmax(velocity_logits), bin_B[:, None], -1)[:, 0], 0.0)
  bits_B = jnp.zeros(play.shape, jnp.int32)
  if step_voices is not None:
    head = jnp.concatenate([art[:, None].astype(jnp.float32), previous_voices_BxD, voices_below], axis=-1)
    bits_B, voice_log_w, voice_log_lik = voice_leading_lib.draw(
        model.voice_logits(params, out_BxH, head), gumbel_BxC, play, play & ~art, mask_Bx2[:, 0], given_voices_B,
        may_take_B, prev_bits_B)
    log_w, log_lik = log_w + voice_log_w, log_lik + voice_log_lik
    voice_carry = voice_carry.step(note_B, bits_B)
  return ((states, pair_Bx2, chord.step(play, chord_inputs), voice_carry),
          (pair_Bx2, log_w, log_lik, velocity_B, bits_B))
