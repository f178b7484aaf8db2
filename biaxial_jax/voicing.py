"""The four voices as the network reads and writes them (`model.voices`), in `jax.numpy`.

A model with voices says, for every note it plays, which of the four voices (soprano, alto, tenor, bass: bits 1,
2, 4, 8 as in `music.voices`) sing it: one of the 15 non-empty voice sets (a unison is a set of two), its *class*
`c` standing for the set with bits `c + 1`. It reads, to make voice leading learnable:

| where | size | content |
|---|---|---|
| time axis, per note | 72 | previous voices: for each voice, where it sang at the previous step relative to this note, one-hot over 18 bins: offsets -7..+7 semitones, further below, further above, silent |
| note axis, per note | 12 | voices below: for each voice, whether it is already placed below this note at this step, how far below (semitones / 12), and whether this note in that voice would move in parallel fifths or octaves with a voice placed below |
| voice output | 85 + H | the note axis's output, the note's articulation, and the 84 values above again (so that the voice need not pass through both LSTM stacks) |

A piece whose voices are unknown reads every voice as silent and placed nowhere; its notes carry no voice target
(the loss masks them, as velocities are masked for pieces without dynamics).
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np

NUM_VOICES = 4
ALL = (1 << NUM_VOICES) - 1
NUM_CLASSES = ALL  # the non-empty voice sets; class c is the set with bits c + 1
CLASS_BITS = np.arange(1, NUM_CLASSES + 1, dtype=np.int32)
NEAR = 7  # previous positions within a fifth either way are told apart
SILENT_BIN, BELOW_BIN, ABOVE_BIN = 2 * NEAR + 1, 2 * NEAR + 2, 2 * NEAR + 3
PREVIOUS_BINS = 2 * NEAR + 4
NUM_PREVIOUS_FEATURES = NUM_VOICES * PREVIOUS_BINS
NUM_BELOW_FEATURES = 3 * NUM_VOICES
NUM_HEAD_FEATURES = 1 + NUM_PREVIOUS_FEATURES + NUM_BELOW_FEATURES  # articulation, previous, below


def class_of(bits: jnp.ndarray) -> jnp.ndarray:
  """The class of a non-empty voice set (bits 1..15)."""
  return jnp.asarray(bits, jnp.int32) - 1


def voice_pitches(voices_XxN: jnp.ndarray) -> jnp.ndarray:
  """`int32[..., 4]`: the note index each voice sings (of one holding several, the highest), -1 where it rests."""
  n = voices_XxN.shape[-1]
  bits = (jnp.asarray(voices_XxN, jnp.int32)[..., None] >> jnp.arange(NUM_VOICES)) & 1  # [..., N, 4]
  return jnp.max(jnp.where(bits > 0, jnp.arange(n)[:, None], -1), axis=-2)


def previous_features(prev_pitch_Xx4: jnp.ndarray, num_notes: int) -> jnp.ndarray:
  """`float32[..., N, 72]`: each voice's previous position relative to each note (see the table above)."""
  prev = jnp.asarray(prev_pitch_Xx4, jnp.int32)[..., None, :]  # [..., 1, 4]
  offset = prev - jnp.arange(num_notes)[:, None]  # [..., N, 4]
  bins = jnp.where(prev < 0, SILENT_BIN, jnp.where(offset < -NEAR, BELOW_BIN,
                                                   jnp.where(offset > NEAR, ABOVE_BIN, offset + NEAR)))
  one_hot = jax.nn.one_hot(bins, PREVIOUS_BINS)
  return one_hot.reshape(*one_hot.shape[:-2], NUM_PREVIOUS_FEATURES)


def parallel_voices(note: jnp.ndarray, placed_Xx4: jnp.ndarray, prev_Xx4: jnp.ndarray) -> jnp.ndarray:
  """`bool[..., 4]`: for each voice, whether singing `note` now would move it in parallel fifths or octaves
  (compound ones too) with a voice already placed (`placed_Xx4`, -1 where not), given where both sang before."""
  note = jnp.asarray(note, jnp.int32)[..., None, None]
  candidate, other = prev_Xx4[..., :, None], prev_Xx4[..., None, :]
  placed = placed_Xx4[..., None, :]
  known = (candidate >= 0) & (other >= 0) & (placed >= 0) & ~np.eye(NUM_VOICES, dtype=bool)
  before, now = (candidate - other) % 12, (note - placed) % 12
  motion = jnp.sign(note - candidate)
  same_way = (motion == jnp.sign(placed - other)) & (motion != 0)
  return jnp.any(known & same_way & (before == now) & ((now == 0) | (now == 7)), axis=-1)


def below_features(note: jnp.ndarray, placed_Xx4: jnp.ndarray, prev_Xx4: jnp.ndarray) -> jnp.ndarray:
  """`float32[..., 12]`: the voices below `note` (see the table above); `placed_Xx4` holds the note index of each
  voice placed below it at this step (-1 where none), `prev_Xx4` where each sang at the previous step."""
  placed = placed_Xx4 >= 0
  distance = jnp.where(placed, (jnp.asarray(note, jnp.float32)[..., None] - placed_Xx4) / 12.0, 0.0)
  parallel = parallel_voices(note, placed_Xx4, prev_Xx4)
  return jnp.concatenate([placed.astype(jnp.float32), distance, parallel.astype(jnp.float32)], axis=-1)


def previous_pitches(voices_BxTxN: jnp.ndarray) -> jnp.ndarray:
  """`int32[B, T, 4]`: where each voice sang at the step before each step (-1: silent; all silent before the
  first)."""
  return jnp.pad(voice_pitches(voices_BxTxN)[:, :-1], ((0, 0), (1, 0), (0, 0)), constant_values=-1)


def teacher_forced_below(voices_BxTxN: jnp.ndarray) -> jnp.ndarray:
  """The voices below every note of every step, `[B, T, N, 12]` (the note axis's inputs), from the true voices."""
  n = voices_BxTxN.shape[-1]
  pitch_BxTx4 = voice_pitches(voices_BxTxN)
  notes_N = jnp.arange(n)
  placed_BxTxNx4 = jnp.where(pitch_BxTx4[..., None, :] < notes_N[:, None], pitch_BxTx4[..., None, :], -1)
  return below_features(jnp.broadcast_to(notes_N, placed_BxTxNx4.shape[:-1]), placed_BxTxNx4,
                        previous_pitches(voices_BxTxN)[..., None, :])


class VoiceCarry(typing.NamedTuple):
  """What the sampler's note scan knows of this step's voices: `placed_Bx4`, the note each voice has been given
  so far (-1: none yet)."""
  placed_Bx4: jnp.ndarray

  @classmethod
  def empty(cls, batch: int) -> VoiceCarry:
    return cls(jnp.full((batch, NUM_VOICES), -1, jnp.int32))

  def step(self, note_B: jnp.ndarray, bits_B: jnp.ndarray) -> VoiceCarry:
    """After note `note_B` took the voices `bits_B` (0: none)."""
    took = ((bits_B[:, None] >> jnp.arange(NUM_VOICES)) & 1) > 0
    return VoiceCarry(jnp.where(took, jnp.asarray(note_B)[..., None], self.placed_Bx4))

  def bits(self) -> jnp.ndarray:
    """`int32[B]`: the voices placed so far."""
    return jnp.sum(jnp.where(self.placed_Bx4 >= 0, 1 << jnp.arange(NUM_VOICES), 0), axis=-1)
