"""Harmonic statistics on progressions small enough to check by ear and by hand."""

import dataclasses

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.analysis import harmony


def chords(*sonorities, beat=4, meters=(bj.TimeSignature(0, 4, 4),)) -> bj.Piece:
  """One chord per beat (MIDI pitches), each struck on its beat."""
  roll = np.zeros((beat * len(sonorities), 78, 2), np.uint8)
  for i, notes in enumerate(sonorities):
    for p in notes:
      roll[i * beat:(i + 1) * beat, p - 24, 0] = 1
      roll[i * beat, p - 24, 1] = 1
  return bj.Piece(roll, time_signatures=meters)


@pytest.mark.parametrize('pitches, category, inversion', [
    ((48, 64, 67, 72), 'triad', 0),  # C major, root position, doubled root
    ((52, 60, 67, 72), 'triad', 1),  # C/E
    ((55, 60, 64, 72), 'triad', 2),  # C/G: a six-four
    ((56, 63, 68, 72), 'triad', 0),  # A-flat major from MIDI numbers (no spelling): G# B# D# is still a triad
    ((57, 60, 64), 'triad', 0),  # A minor
    ((59, 62, 65), 'dim_aug', -1),
    ((43, 59, 62, 65), 'seventh', -1),  # G7
    ((45, 57, 60), 'incomplete', 0),  # A C: a minor triad without its fifth, root in the bass
    ((48, 55, 60), 'incomplete', -1),  # a bare fifth
    ((60, 61, 62), 'other', -1),  # a cluster
    ((), 'rest', -1),
])
def test_chords_are_named_as_music21_names_them(pitches, category, inversion):
  assert harmony.classify(pitches) == (category, inversion)


def test_beats_follow_the_meter_and_its_pickup():
  four = chords(*[(60,)] * 4)
  assert harmony.beats_of(four).tolist() == [0, 4, 8, 12]
  six_eight = bj.Piece(np.zeros((24, 78, 2), np.uint8), time_signatures=(bj.TimeSignature(0, 6, 8),))
  assert harmony.beats_of(six_eight).tolist() == [0, 6, 12, 18]  # dotted quarters
  pickup = bj.Piece(np.zeros((20, 78, 2), np.uint8),
                    time_signatures=(bj.TimeSignature(0, 1, 4), bj.TimeSignature(4, 4, 4)))
  assert harmony.beats_of(pickup).tolist() == [0, 4, 8, 12, 16]


def test_a_cadence_clashes_and_crowding_are_counted_per_beat():
  # I - IV - V7 - I (held two beats) in C major; a C# clash under D in the second chord, 5 notes in the third
  piece = chords((48, 64, 67, 72), (53, 65, 73, 74), (43, 59, 62, 65, 67), (48, 64, 67, 72), (48, 64, 67, 72))
  stats = harmony.piece_statistics(piece)
  assert stats['beats'] == 5 and stats['clashes'] == 1 and stats['crowded'] == 1
  assert stats['cadences'] == 1  # G in the bass up a fourth to C, the C chord held
  assert stats['final_root_position_triad'] == 1 and stats['downbeats'] == 2 and stats['consonant_downbeats'] == 2
  summary = harmony.statistics([piece])
  assert summary['share_triad'] == pytest.approx(3 / 5) and summary['clash_share'] == pytest.approx(1 / 5)
  assert summary['cadences_per_4_bars'] == pytest.approx(4 * 1 / 2)


def test_register_is_read_per_4_bar_window():
  low, high = chords(*[(48, 60)] * 16), chords(*[(55, 72)] * 16)  # four bars each
  windows = harmony.register_windows(dataclasses.replace(low, roll=np.concatenate([low.roll, high.roll])))
  assert windows == {'window_lows': [48, 48, 48, 48, 55], 'window_highs': [60, 72, 72, 72, 72]}
  assert harmony.statistics([low, high])['register_low_median'] == pytest.approx(51.5)


def test_key_windows_hold_in_a_diatonic_piece_and_not_in_a_modulating_one():
  c_major = [(48, 64, 67, 72), (53, 65, 69, 72), (43, 59, 62, 67), (48, 64, 67, 72)]
  steady = chords(*c_major * 5)
  assert harmony.key_windows(steady) == (2, 2, 2)  # 5 bars: windows from bars 1 and 2, both in C major
  f_sharp = [[p + 6 for p in c] for c in c_major]
  moving = chords(*c_major * 2, *f_sharp * 6)
  windows, in_key, in_signature = harmony.key_windows(moving)
  assert windows == 5 and in_key == in_signature < windows
  a_minor = [(45, 60, 64, 69), (50, 62, 65, 69), (52, 59, 64, 68), (45, 60, 64, 69)]
  relative = dataclasses.replace(chords(*a_minor * 5), key=bj.Key(0, True))  # told C major: the relative of A minor
  assert harmony.key_windows(relative) == (2, 0, 2)


def test_phrase_closes_count_triads_and_the_bass_leap_that_reached_them():
  # phrases of a bar: V-I (a leap into a held tonic), ii-vi6 (no root-position triad), IV-V (a step up to a held V)
  piece = chords((43, 59, 62, 67), (48, 60, 64, 67), (48, 60, 64, 67), (48, 60, 64, 67),
                 (50, 62, 65, 69), (48, 60, 64, 69), (48, 60, 64, 69), (48, 60, 64, 69),
                 (53, 60, 65, 69), (55, 59, 62, 67), (55, 59, 62, 67), (55, 59, 62, 67))
  piece = dataclasses.replace(piece, phrase_ends=(16, 32, 48))
  assert harmony.phrase_closes(piece) == (3, 2, 1)
