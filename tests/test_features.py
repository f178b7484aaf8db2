"""Per-note features against values worked out by hand."""

import jax
import numpy as np

import biaxial_jax as bj

from biaxial_jax import features as F

N = 78


def state(*notes):
  """A previous step in which the given (index, play, articulate) cells are set."""
  s = np.zeros((N, 2), np.float32)
  for n, p, a in notes:
    s[n] = (p, a)
  return s


def test_layout_is_80_values():
  assert F.NUM_FEATURES == 80
  sizes = [s.stop - s.start for s in (F.POSITION, F.PITCH_CLASS, F.VICINITY, F.CONTEXT, F.BEAT)]
  assert sizes == [1, 12, 50, 12, 5]


def test_position_and_pitch_class_at_the_edges():
  x = np.asarray(F.note_features(state(), 0, lowest=24))
  assert x.shape == (N, 80)
  assert x[0, F.POSITION] == 0.0 and x[N - 1, F.POSITION] == 1.0
  assert np.argmax(x[0, F.PITCH_CLASS]) == 0  # MIDI 24 is a C
  assert np.argmax(x[N - 1, F.PITCH_CLASS]) == (24 + 77) % 12  # MIDI 101 is an F
  piano = np.asarray(F.note_features(np.zeros((88, 2)), 0, lowest=21))
  assert np.argmax(piano[0, F.PITCH_CLASS]) == 9  # MIDI 21 is an A


def test_vicinity_is_zero_padded_not_wrapped():
  x = np.asarray(F.note_features(state((N - 1, 1, 1), (1, 1, 0)), 0, lowest=24))
  vic = x[:, F.VICINITY].reshape(N, 25, 2)  # offsets -12..12, (play, articulate)
  # note 0 sees note 1 at offset +1 and nothing below it (the original wrapped around to the top notes here)
  assert vic[0, 12 + 1].tolist() == [1, 0]
  assert vic[0].sum() == 1
  # the top note sees itself at offset 0, note 1 is out of its window
  assert vic[N - 1, 12].tolist() == [1, 1] and vic[N - 1].sum() == 2
  # note 13 sees note 1 at offset -12
  assert vic[13, 0].tolist() == [1, 0]


def test_context_counts_pitch_classes_relative_to_the_note():
  # C3 (index 12), E3 (16) and C4 (24) sound
  x = np.asarray(F.note_features(state((12, 1, 0), (16, 1, 1), (24, 1, 0)), 0, lowest=24))
  ctx_c = x[0, F.CONTEXT]  # a C: element k counts pitch class (0 + k)
  assert ctx_c[0] == 2 and ctx_c[4] == 1 and ctx_c.sum() == 3
  ctx_e = x[4, F.CONTEXT]  # an E: element 0 counts Es, element 8 counts Cs (E + 8 = C)
  assert ctx_e[0] == 1 and ctx_e[8] == 2
  assert np.asarray(F.note_features(state((12, 0, 0)), 0, lowest=24))[:, F.CONTEXT].sum() == 0


def test_beat_bits_come_from_the_bar_position():
  x = np.asarray(F.note_features(np.zeros((2, N, 2)), np.array([0, 11]), lowest=24))
  assert x[0, 0, F.BEAT].tolist() == [-1, -1, -1, -1, -1]
  assert x[1, 5, F.BEAT].tolist() == [1, 1, -1, 1, -1]  # 11 = 0b01011


def test_key_and_phrase_inputs_are_relative_to_each_note_and_move_with_it():
  from biaxial_jax.music import structure
  context = structure.context(8, bj.Key(9, False), (3,))  # A minor, a phrase ending after step 2
  x = np.asarray(F.note_features(np.zeros((8, 30, 2)), np.zeros(8, np.int32), lowest=48,
                                        context_XxC=context))
  assert x.shape == (8, 30, F.num_features(True)) == (8, 30, 100)
  for n in range(30):
    assert np.flatnonzero(x[0, n, F.KEY]).tolist() == [(9 - (48 + n)) % 12]
  assert (x[:, :, F.MODE] == -1).all()
  assert [np.flatnonzero(x[t, 0, F.PHRASE]).tolist() for t in range(4)] == [[1], [1], [0], [2]]  # 3,2,1,5
  # the same music a tone up reads the same inputs one note higher
  notes = np.zeros((8, 30, 2))
  notes[:, 10] = 1
  up = np.roll(notes, 2, axis=1)
  a = F.note_features(notes, np.zeros(8, np.int32), lowest=48, context_XxC=context)
  b = F.note_features(up, np.zeros(8, np.int32), lowest=48,
                             context_XxC=structure.transpose_context(context, 2))
  np.testing.assert_array_equal(np.asarray(a)[:, 5:25, 13:], np.asarray(b)[:, 7:27, 13:])  # all but position, pitch
  unknown = F.note_features(notes, np.zeros(8, np.int32), lowest=48,
                                   context_XxC=structure.context(8, None, None))
  assert not np.asarray(unknown)[..., F.NUM_FEATURES:].any()


def test_sequence_features_use_the_previous_step_and_jit():
  notes = np.zeros((1, 3, N, 2), np.uint8)
  notes[0, 0, 30] = (1, 1)
  x = jax.jit(F.sequence_features, static_argnames='lowest')(notes, np.zeros((1, 3), np.int32), lowest=24)
  vic = np.asarray(x)[0, :, 30, F.VICINITY].reshape(3, 25, 2)
  assert vic[0].sum() == 0  # step 0 is predicted from silence
  assert vic[1, 12].tolist() == [1, 1]  # step 1 sees step 0
  assert vic[2].sum() == 0


def test_below_features_by_hand():
  """Note 20 with notes 4, 8 and 19 playing below (19 struck): recent, interval classes and voices below."""
  notes = np.zeros((N, 2), np.float32)
  notes[[4, 8, 19], 0] = 1
  notes[19, 1] = 1
  plain = np.asarray(F.below_features(notes, False))
  assert plain.shape == (N, 2) and F.num_below_features(False) == 2
  np.testing.assert_array_equal(plain[20], [1, 1])
  x = np.asarray(F.below_features(notes, True))
  assert x.shape == (N, 31) and F.num_below_features(True) == 31
  np.testing.assert_array_equal(x[20, :2], [1, 1])
  recent = np.zeros(12)
  recent[[0, 11]] = 1  # note 19, one below; note 8, twelve below
  np.testing.assert_array_equal(x[20, 2:14], recent)
  classes = np.zeros(12)
  classes[[1, 0]] = 1, 1  # 19: a semitone below; 8: an octave below
  classes[16 % 12] = 1  # 4: 16 semitones below, a major third
  np.testing.assert_array_equal(x[20, 14:26], classes)
  np.testing.assert_array_equal(x[20, 26:], [0, 0, 0, 1, 0])  # three voices below
  np.testing.assert_array_equal(x[4, 26:], [1, 0, 0, 0, 0])  # nothing below the lowest
  np.testing.assert_array_equal(x[9, 2:14], np.eye(12)[0] + np.eye(12)[4])  # note 8 just below, note 4 five below


def test_the_samplers_chord_carry_equals_the_teacher_forced_features():
  notes = (np.random.default_rng(0).random((5, N, 2)) < 0.3).astype(np.float32)
  expected = np.asarray(F.below_features(notes, True))
  carry = F.ChordCarry.empty(5)
  for n in range(N):
    lower = notes[:, n - 1] if n else np.zeros((5, 2), np.float32)
    np.testing.assert_array_equal(carry.features(lower, True), expected[:, n])
    carry = carry.step(notes[:, n, 0], True)
  np.testing.assert_array_equal(carry.voices_B, notes[..., 0].sum(-1))
