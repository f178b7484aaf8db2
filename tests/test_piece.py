"""The Piece type validates its arrays and derives bar positions from the meter."""

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.music.piece import TimeSignature, bar_positions, time_signature_for_steps


def roll_of(play, art):
  return np.stack([np.array(play, np.uint8), np.array(art, np.uint8)], -1)[:, None, :]


def test_valid_roll_is_frozen():
  piece = bj.Piece(roll_of([1, 1, 0], [1, 0, 0]))
  with pytest.raises(ValueError):
    piece.roll[0, 0, 0] = 0
  assert piece.num_steps == 3 and piece.num_notes == 1


@pytest.mark.parametrize('roll, message', [
    (np.zeros((4, 2)), 'shape'),
    (np.full((2, 1, 2), 2), '0 or 1'),
    (roll_of([0, 0], [1, 0]), 'without playing'),
    (roll_of([0, 1], [0, 0]), 'without being articulated'),
    (np.zeros((0, 3, 2)), 'at least one step'),
])
def test_invalid_rolls_are_refused(roll, message):
  with pytest.raises(ValueError, match=message):
    bj.Piece(roll)


def test_range_and_events_are_checked():
  with pytest.raises(ValueError, match='outside MIDI'):
    bj.Piece(np.zeros((1, 10, 2)), lowest=120)
  with pytest.raises(ValueError, match='start at step 0'):
    bj.Piece(np.zeros((1, 1, 2)), time_signatures=(TimeSignature(4, 4, 4),))
  with pytest.raises(ValueError, match='whole number of steps'):
    bj.Piece(np.zeros((1, 1, 2)), steps_per_quarter=1, time_signatures=(TimeSignature(0, 5, 8),))
  with pytest.raises(ValueError, match='power of two'):
    TimeSignature(0, 3, 5)


def test_canonical_roll_articulates_onsets_and_drops_orphans():
  fixed = bj.canonical_roll(roll_of([1, 1, 0, 1], [0, 1, 1, 0]))
  assert fixed[:, 0, 0].tolist() == [1, 1, 0, 1]
  assert fixed[:, 0, 1].tolist() == [1, 1, 0, 1]


def test_bar_positions_with_pickup_and_changes():
  pickup = time_signature_for_steps(4, 4)
  assert (pickup.numerator, pickup.denominator) == (1, 4)
  assert (time_signature_for_steps(6, 4).numerator, time_signature_for_steps(6, 4).denominator) == (3, 8)
  meters = (pickup, TimeSignature(4, 4, 4), TimeSignature(20, 3, 4))
  assert bar_positions(34, meters, 4).tolist() == [12, 13, 14, 15] + list(range(16)) + list(range(12)) + [0, 1]
  # a short first bar followed by a shorter one is no pickup
  assert bar_positions(6, (TimeSignature(0, 1, 4), TimeSignature(4, 1, 8)), 4).tolist() == [0, 1, 2, 3, 0, 1]


def test_keys_read_and_are_named_with_the_fewest_accidentals():
  assert bj.Key.parse('Bb major') == bj.Key(10, True) and bj.Key.parse('f# minor') == bj.Key(6, False)
  assert [str(bj.Key(t, True)) for t in (1, 6, 8)] == ['Db major', 'F# major', 'Ab major']
  assert [str(bj.Key(t, False)) for t in (1, 3, 8)] == ['C# minor', 'Eb minor', 'G# minor']
  assert bj.Key.parse(str(bj.Key(8, False))) == bj.Key(8, False)  # names read back
