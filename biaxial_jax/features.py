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

With `model.voices` (four voices, `voicing`), 72 more: where each voice sang at the previous step relative to the
note (`voicing.previous_features`), before the dynamics inputs.

With `model.dynamics` (a velocity per struck note), 2 more, last:

| slice   | size | content                                                                                      |
|---------|------|----------------------------------------------------------------------------------------------|
| -2      | 1    | velocity: the note's velocity / 127 at the previous step if it was struck there, else 0       |
| -1      | 1    | level: mean velocity / 127 of the latest earlier step that struck a note; 0 before the first |

Velocities are read as their bins are played (`bin_velocity`), and a piece without dynamics reads zeros throughout.

The note axis reads, for note n at step t, what was drawn *below* it at the same step (teacher forcing: the true notes
below; generation: the notes already drawn, carried along the note scan by `ChordCarry`). `below_features`, 2 values,
or 31 with `model.chord_inputs`:

| slice | size | content                                                                                        |
|-------|------|------------------------------------------------------------------------------------------------|
| 0:2   | 2    | `(play, articulate)` of note n-1 (the original's only note-axis input besides the time axis)    |
| 2:14  | 12   | recent: play of notes n-1 .. n-12, nearest first (the exact intervals within an octave below)  |
| 14:26 | 12   | classes: playing notes below at each interval class, element k counts notes m < n, (n-m) % 12 = k |
| 26:31 | 5    | voices below: one-hot of the number of notes playing below, 0, 1, 2, 3, 4 or more               |

Without them the note axis must remember the chord under construction in its recurrent state alone, over up to 40
notes of scan; with them it sees the chord (relative to itself, so note invariance is kept) when it decides.

Differences from the original: the position is scaled; the vicinity is zero-padded rather than wrapped around; the beat
is the position within the bar from the time signature (not the step count mod 16 from the segment start), of the step
being predicted, and uses the original's unused constant slot 79 as a fifth bit so bars of up to 32 steps are told apart.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import voicing

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
CHORD_WINDOW = 12  # notes directly below whose play bits the note axis reads
VOICE_BINS = 5  # notes playing below: 0, 1, 2, 3, 4 or more
NUM_CHORD_FEATURES = 2 * CHORD_WINDOW + VOICE_BINS


NUM_DYNAMICS_FEATURES = 2
VELOCITY_BINS = 8  # velocities 1-16, 17-32, ..., 113-127: what the dynamics output chooses among


def num_features(structure: bool, dynamics: bool = False, voices: bool = False) -> int:
  """Input features per note: 80, or 100 with the phrase and key inputs; 72 more with voices, 2 with dynamics."""
  return ((NUM_STRUCTURE_FEATURES if structure else NUM_FEATURES) + (NUM_DYNAMICS_FEATURES if dynamics else 0)
          + (voicing.NUM_PREVIOUS_FEATURES if voices else 0))


def voice_slice(structure: bool) -> slice:
  """Where a model with voices finds the previous voices among its input features."""
  start = NUM_STRUCTURE_FEATURES if structure else NUM_FEATURES
  return slice(start, start + voicing.NUM_PREVIOUS_FEATURES)


def velocity_bin(velocity: jnp.ndarray) -> jnp.ndarray:
  """The bin (0..7) of velocities 1..127."""
  return jnp.clip((jnp.asarray(velocity, jnp.int32) - 1) // 16, 0, VELOCITY_BINS - 1)


def bin_velocity(bin_: jnp.ndarray) -> jnp.ndarray:
  """The velocity a bin is played at: its middle (8, 24, ..., 120)."""
  return 16 * jnp.asarray(bin_, jnp.int32) + 8


def step_level(velocity_XxN: jnp.ndarray, level_X: jnp.ndarray) -> jnp.ndarray:
  """The level after a step whose struck notes have `velocity_XxN` (0 where not struck): their mean / 127, or
  `level_X` unchanged when the step strikes nothing."""
  velocity = jnp.asarray(velocity_XxN, jnp.float32)
  struck = jnp.sum(velocity > 0, axis=-1)
  return jnp.where(struck > 0, jnp.sum(velocity, axis=-1) / jnp.maximum(struck, 1) / 127.0, level_X)


def dynamics_inputs(velocity_BxTxN: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Teacher forced: for every step, the previous step's velocities `[B, T, N]` and the level `[B, T]` before it,
  each velocity read as its bin plays it (`bin_velocity`): what the sampler feeds back, so that a model holds a
  loudness it drew rather than drifting from the quantization."""
  velocity = jnp.where(velocity_BxTxN > 0, bin_velocity(velocity_bin(velocity_BxTxN)), 0).astype(jnp.float32)
  prev = jnp.pad(velocity[:, :-1], ((0, 0), (1, 0), (0, 0)))

  def carry(level_B, velocity_BxN):
    level_B = step_level(velocity_BxN, level_B)
    return level_B, level_B

  _, after_TxB = jax.lax.scan(carry, jnp.zeros(velocity.shape[0]), jnp.swapaxes(velocity, 0, 1))
  levels = jnp.pad(jnp.swapaxes(after_TxB, 0, 1)[:, :-1], ((0, 0), (1, 0)))
  return prev, levels


def num_below_features(chord_inputs: bool, voices: bool = False) -> int:
  """Note-axis inputs per note besides the time axis: the lower note's pair, the chord below (31 in all), and with
  voices the voices below (12 more)."""
  return 2 + (NUM_CHORD_FEATURES if chord_inputs else 0) + (voicing.NUM_BELOW_FEATURES if voices else 0)


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
                  context_XxC: jnp.ndarray | None = None,
                  dynamics_XxN_X: tuple[jnp.ndarray, jnp.ndarray] | None = None,
                  prev_voices_Xx4: jnp.ndarray | None = None) -> jnp.ndarray:
  """Features `float32[..., N, F]` for every note of a step (F = 80, or 100 with a context; 72 more with voices, 2
  with dynamics).

  Args:
    prev_notes_XxNx2: `(play, articulate)` of each note at the previous step (zeros before the first), any leading
      dims `X` (batch, time).
    bar_position_X: position of the step being predicted within its bar, in steps, same leading dims.
    lowest: MIDI note number of note index 0 (a static Python int).
    context_XxC: the predicted step's structure context (`music.structure`), for a model with phrase and key inputs.
    dynamics_XxN_X: for a model with dynamics, the previous step's velocities (0 where not struck) and the level
      before this step (`step_level`).
    prev_voices_Xx4: for a model with voices, the note index each voice sang at the previous step (-1: silent).
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
  if prev_voices_Xx4 is not None:
    parts.append(voicing.previous_features(prev_voices_Xx4, num_notes))
  if dynamics_XxN_X is not None:
    prev_velocity_XxN, level_X = dynamics_XxN_X
    parts += [jnp.asarray(prev_velocity_XxN, jnp.float32)[..., None] / 127.0,
              jnp.broadcast_to(jnp.asarray(level_X, jnp.float32)[..., None, None], (*lead, num_notes, 1))]
  return jnp.concatenate(parts, axis=-1)


def shift_in_time(notes_BxTxNx2: jnp.ndarray) -> jnp.ndarray:
  """The previous step's notes for every step of a sequence: silence before the first."""
  return jnp.pad(notes_BxTxNx2[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))


def sequence_features(notes_BxTxNx2: jnp.ndarray, bar_position_BxT: jnp.ndarray, *, lowest: int,
                      context_BxTxC: jnp.ndarray | None = None, velocity_BxTxN: jnp.ndarray | None = None,
                      voices_BxTxN: jnp.ndarray | None = None) -> jnp.ndarray:
  """Teacher-forced features `float32[B, T, N, F]`: step t sees the notes (and velocities, voices) of step t-1 and
  its own bar position (and structure context)."""
  prev_voices = None if voices_BxTxN is None else voicing.previous_pitches(voices_BxTxN)
  return note_features(shift_in_time(notes_BxTxNx2), bar_position_BxT, lowest=lowest, context_XxC=context_BxTxC,
                       dynamics_XxN_X=None if velocity_BxTxN is None else dynamics_inputs(velocity_BxTxN),
                       prev_voices_Xx4=prev_voices)


def _interval_classes_NxNx12(num_notes: int) -> np.ndarray:
  """`[m, n, k]`: 1 where note m lies below note n at interval class k, `(n - m) % 12 == k`."""
  m, n = np.arange(num_notes)[:, None], np.arange(num_notes)[None, :]
  return ((m < n)[..., None] & ((n - m)[..., None] % 12 == np.arange(12))).astype(np.float32)


def _voices(count_X: jnp.ndarray) -> jnp.ndarray:
  return jax.nn.one_hot(jnp.minimum(count_X, VOICE_BINS - 1).astype(jnp.int32), VOICE_BINS)


def below_features(notes_XxNx2: jnp.ndarray, chord_inputs: bool) -> jnp.ndarray:
  """`float32[..., N, 2 | 31]`: for each note, what sounds below it at the same step (see the table above)."""
  notes = jnp.asarray(notes_XxNx2, jnp.float32)
  *lead, num_notes, _ = notes.shape
  lower = jnp.pad(notes[..., :-1, :], [(0, 0)] * len(lead) + [(1, 0), (0, 0)])
  if not chord_inputs:
    return lower
  play = notes[..., 0]
  padded = jnp.pad(play, [(0, 0)] * len(lead) + [(CHORD_WINDOW, 0)])  # padded index i is note i - 12
  recent = jnp.stack([padded[..., CHORD_WINDOW - 1 - j:CHORD_WINDOW - 1 - j + num_notes] for j in range(CHORD_WINDOW)],
                     axis=-1)
  classes = jnp.einsum('...m,mnk->...nk', play, _interval_classes_NxNx12(num_notes))
  voices = _voices(jnp.cumsum(play, axis=-1) - play)
  return jnp.concatenate([lower, recent, classes, voices], axis=-1)


class ChordCarry(typing.NamedTuple):
  """The chord below the note the sampler's note scan is at: `recent_Bx12` (play of the 12 notes below, nearest
  first), `classes_Bx12` (playing notes below per interval class) and `voices_B` (playing notes below)."""
  recent_Bx12: jnp.ndarray
  classes_Bx12: jnp.ndarray
  voices_B: jnp.ndarray

  @classmethod
  def empty(cls, batch: int) -> ChordCarry:
    return cls(jnp.zeros((batch, CHORD_WINDOW)), jnp.zeros((batch, 12)), jnp.zeros((batch,)))

  def step(self, play_B: jnp.ndarray, chord_inputs: bool) -> ChordCarry:
    """The carry for the next note up, after this note drew `play_B`: every interval grows by one semitone (without
    `chord_inputs` only the count of voices is kept, for the sampler's `max_notes`)."""
    play = play_B.astype(jnp.float32)
    if not chord_inputs:
      return self._replace(voices_B=self.voices_B + play)
    recent = jnp.concatenate([play[:, None], self.recent_Bx12[:, :-1]], axis=-1)
    classes = jnp.roll(self.classes_Bx12, 1, axis=-1).at[:, 1].add(play)
    return ChordCarry(recent, classes, self.voices_B + play)

  def features(self, lower_Bx2: jnp.ndarray, chord_inputs: bool) -> jnp.ndarray:
    """`below_features` of the current note, `[B, 2 | 31]`, from the carry and the lower note's pair."""
    if not chord_inputs:
      return lower_Bx2
    return jnp.concatenate([lower_Bx2, self.recent_Bx12, self.classes_Bx12, _voices(self.voices_B)], axis=-1)
