"""Per-note input features, computed in `jax.numpy` from the previous step's note states.

The one place that defines the feature layout (`NUM_FEATURES` = 80 values per note per step):

| slice   | size | content                                                                                      |
|---------|------|----------------------------------------------------------------------------------------------|
| 0       | 1    | position: note index scaled to [0, 1] (raw 0..77 saturates the gates)                          |
| 1:13    | 12   | pitch class of the note (MIDI `lowest + n`), one-hot                                          |
| 13:63   | 50   | vicinity: previous `(play, articulate)` of the notes at offsets -12..+12, zeros off the range |
| 63:75   | 12   | context: previous count of sounding notes per pitch class, element k = pitch class (own + k)  |
| 75:80   | 5    | beat: bits of the predicted step's position in its bar, least significant first, as -1/+1     |

With `model.structure` (phrase and key inputs, from `music.structure.context_of` of the predicted step), 20 more:

| slice   | size | content                                                                                      |
|---------|------|----------------------------------------------------------------------------------------------|
| 80:92   | 12   | key: one-hot of the tonic's pitch class relative to the note's own, (tonic - own) mod 12       |
| 92      | 1    | mode: +1 major, -1 minor                                                                      |
| 93:100  | 7    | phrase: one-hot of the steps left in the phrase, in bins 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ |

An unknown key or phrase (MIDI without a key signature, benchmark files) leaves its slots at zero, so one model
trains and samples with and without them; transposition moves the tonic with the notes (`transpose_context`).

Differences from the original: the position is scaled; the vicinity is zero-padded rather than wrapped around; the beat
is the position within the bar from the time signature (not the step count mod 16 from the segment start), of the step
being predicted, and uses the original's unused constant slot 79 as a fifth bit so bars of up to 32 steps are told apart.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

VICINITY_RADIUS = 12
BEAT_BITS = 5
POSITION = slice(0, 1)
PITCH_CLASS = slice(1, 13)
VICINITY = slice(13, 13 + 2 * (2 * VICINITY_RADIUS + 1))
CONTEXT = slice(VICINITY.stop, VICINITY.stop + 12)
BEAT = slice(CONTEXT.stop, CONTEXT.stop + BEAT_BITS)
NUM_FEATURES = BEAT.stop
KEY = slice(NUM_FEATURES, NUM_FEATURES + 12)
MODE = slice(KEY.stop, KEY.stop + 1)
PHRASE_BINS = 7
PHRASE = slice(MODE.stop, MODE.stop + PHRASE_BINS)
NUM_STRUCTURE_FEATURES = PHRASE.stop


def num_features(structure: bool) -> int:
  """Input features per note: 80, or 100 with the phrase and key inputs."""
  return NUM_STRUCTURE_FEATURES if structure else NUM_FEATURES


def _structure_features(context_XxC: jnp.ndarray, pitch_class_N: np.ndarray) -> jnp.ndarray:
  """`[..., N, 20]` key, mode and phrase inputs from `[..., 3]` contexts (see the table above)."""
  from biaxial_jax.music.structure import MODE as MODE_COLUMN, TO_PHRASE_END, TONIC  # numpy only
  context = jnp.asarray(context_XxC, jnp.int32)
  tonic = context[..., TONIC, None]  # [..., 1]
  relative = (tonic - pitch_class_N) % 12
  key = jnp.where(tonic[..., None] >= 0, jax.nn.one_hot(relative, 12), 0.0)  # [..., N, 12]
  mode = jnp.where(context[..., MODE_COLUMN] < 0, 0.0, 2.0 * context[..., MODE_COLUMN] - 1.0)
  to_end = context[..., TO_PHRASE_END]
  bins = jnp.clip(jnp.floor(jnp.log2(jnp.maximum(to_end, 1))).astype(jnp.int32), 0, PHRASE_BINS - 1)
  phrase = jnp.where(to_end[..., None] > 0, jax.nn.one_hot(bins, PHRASE_BINS), 0.0)
  n = pitch_class_N.shape[0]
  lead = context.shape[:-1]
  return jnp.concatenate([key, jnp.broadcast_to(mode[..., None, None], (*lead, n, 1)),
                          jnp.broadcast_to(phrase[..., None, :], (*lead, n, PHRASE_BINS))], axis=-1)


def note_features(prev_notes_XxNx2: jnp.ndarray, bar_position_X: jnp.ndarray, *, lowest: int,
                  context_XxC: jnp.ndarray | None = None) -> jnp.ndarray:
  """Features `float32[..., N, F]` for every note of a step (F = 80, or 100 with a context).

  Args:
    prev_notes_XxNx2: `(play, articulate)` of each note at the previous step (zeros before the first), any leading
      dims `X` (batch, time).
    bar_position_X: position of the step being predicted within its bar, in steps, same leading dims.
    lowest: MIDI note number of note index 0 (a static Python int).
    context_XxC: the predicted step's structure context (`music.structure`), for a model with phrase and key inputs.
  """
  prev = jnp.asarray(prev_notes_XxNx2, jnp.float32)
  *lead, num_notes, _ = prev.shape
  pitch_class_N = (lowest + np.arange(num_notes)) % 12
  one_hot_Nx12 = np.eye(12, dtype=np.float32)[pitch_class_N]

  position_N = np.arange(num_notes, dtype=np.float32) / max(num_notes - 1, 1)
  padded = jnp.pad(prev, [(0, 0)] * len(lead) + [(VICINITY_RADIUS, VICINITY_RADIUS), (0, 0)])
  vicinity = jnp.concatenate([padded[..., k:k + num_notes, :] for k in range(2 * VICINITY_RADIUS + 1)], axis=-1)

  counts_Xx12 = jnp.einsum('...n,nc->...c', prev[..., 0], one_hot_Nx12)
  rotation_Nx12 = (pitch_class_N[:, None] + np.arange(12)[None, :]) % 12
  context = counts_Xx12[..., rotation_Nx12]

  bits = (jnp.asarray(bar_position_X, jnp.int32)[..., None] >> np.arange(BEAT_BITS)) & 1
  beat = jnp.broadcast_to((2 * bits - 1).astype(jnp.float32)[..., None, :], (*lead, num_notes, BEAT_BITS))

  def per_note(x_NxK):
    return jnp.broadcast_to(x_NxK, (*lead, *x_NxK.shape))

  parts = [per_note(position_N[:, None]), per_note(one_hot_Nx12), vicinity, context, beat]
  if context_XxC is not None:
    parts.append(_structure_features(context_XxC, pitch_class_N))
  return jnp.concatenate(parts, axis=-1)


def shift_in_time(notes_BxTxNx2: jnp.ndarray) -> jnp.ndarray:
  """The previous step's notes for every step of a sequence: silence before the first."""
  return jnp.pad(notes_BxTxNx2[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))


def sequence_features(notes_BxTxNx2: jnp.ndarray, bar_position_BxT: jnp.ndarray, *, lowest: int,
                      context_BxTxC: jnp.ndarray | None = None) -> jnp.ndarray:
  """Teacher-forced features `float32[B, T, N, F]`: step t sees the notes of step t-1 and its own bar position (and
  structure context)."""
  return note_features(shift_in_time(notes_BxTxNx2), bar_position_BxT, lowest=lowest, context_XxC=context_BxTxC)
