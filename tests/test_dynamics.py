"""Velocities as data: a piece's own, read from MIDI note-ons and from a score's dynamic markings, written back,
cached, and kept through crops."""

import numpy as np
import pytest

from biaxial_jax.music.datasets import _load_pieces, _save_pieces
from biaxial_jax.music.inputs import crop
from biaxial_jax.music.midi import read_midi, write_midi
from biaxial_jax.music.piece import Piece, roll_from_notes
from biaxial_jax.music.scores import score_to_piece


def piece_with_velocity(velocities=(40, 90, 120, 64)):
  """Four quarter notes C4 D4 E4 F4 struck at `velocities`."""
  roll, _ = roll_from_notes([(4 * i, 4 * i + 4, 60 + 2 * i) for i in range(4)], lowest=36, num_notes=48)
  velocity = np.zeros(roll.shape[:2], np.uint8)
  for i, v in enumerate(velocities):
    velocity[4 * i, 24 + 2 * i] = v
  return Piece(roll, lowest=36, velocity=velocity)


def test_velocity_must_strike_exactly_the_articulated_cells():
  p = piece_with_velocity()
  assert p.velocity.dtype == np.uint8 and not p.velocity.flags.writeable
  for bad, message in ((p.velocity[:3], 'must have shape'), (p.velocity.astype(float), 'must hold integers'),
                       (np.where(p.velocity > 0, 0, p.velocity), 'in \\[1, 127\\] where a note is articulated'),
                       (p.velocity + 1, '0 elsewhere'), (np.where(p.velocity > 0, 200, 0), 'in \\[1, 127\\]')):
    with pytest.raises(ValueError, match=message):
      Piece(p.roll, lowest=36, velocity=bad)
  assert p != Piece(p.roll, lowest=36)  # dynamics are part of the music
  assert p.with_roll(p.roll[:8]).velocity is None


def test_midi_velocities_round_trip_and_flat_files_have_none(tmp_path):
  p = piece_with_velocity()
  back = read_midi(write_midi(p, tmp_path / 'dyn.mid'), lowest=36, num_notes=48)
  np.testing.assert_array_equal(back.velocity, p.velocity)
  assert back == p
  flat = read_midi(write_midi(p, tmp_path / 'flat.mid', dynamics=False, velocity=70), lowest=36, num_notes=48)
  assert flat.velocity is None  # every note struck alike: no dynamics to learn
  assert read_midi(write_midi(Piece(p.roll, lowest=36), tmp_path / 'none.mid'), lowest=36, num_notes=48).velocity is None


def _score(markings, wedge=None):
  """One part of eight quarter notes C4..C5 with dynamic markings `{note index: 'p'}` and an optional
  `(kind, first note, last note)` hairpin."""
  from music21 import dynamics, note, stream
  part = stream.Part()
  notes = [note.Note(60 + i, quarterLength=1) for i in range(8)]
  for i, n in enumerate(notes):
    if i in markings:
      part.insert(i, dynamics.Dynamic(markings[i]))
    part.insert(i, n)
  if wedge:
    kind, first, last = wedge
    part.insert(0, (dynamics.Crescendo if kind == 'cresc' else dynamics.Diminuendo)(notes[first], notes[last]))
  score = stream.Score([part])
  return score


def _struck(piece):
  return [int(v) for v in piece.velocity[piece.velocity > 0]]


def test_dynamic_markings_become_velocities():
  pytest.importorskip('music21')
  assert score_to_piece(_score({}), 'plain', lowest=36, num_notes=48).velocity is None
  levels = score_to_piece(_score({0: 'p', 2: 'f', 4: 'sf', 5: 'fp', 6: 'pp'}), 'levels', lowest=36, num_notes=48)
  assert _struck(levels) == [49, 49, 96, 96, 96 + 24, 96, 33, 33]  # sf accents the level; fp: f, then p...
  # ... but pp follows at once here; before any marking, mf
  assert _struck(score_to_piece(_score({3: 'f'}), 'late', lowest=36, num_notes=48))[:4] == [80, 80, 80, 96]


def test_hairpins_ramp_to_the_next_marking_or_by_one_level():
  pytest.importorskip('music21')
  ramp = _struck(score_to_piece(_score({0: 'p', 5: 'f'}, ('cresc', 1, 4)), 'cresc', lowest=36, num_notes=48))
  assert ramp[0] == 49 and ramp[5:] == [96, 96, 96]
  assert ramp[1] == 49 and ramp[1] < ramp[2] < ramp[3] < ramp[4] < 96  # rising over the hairpin's four notes
  open_ended = _struck(score_to_piece(_score({0: 'f'}, ('dim', 2, 3)), 'dim', lowest=36, num_notes=48))
  assert open_ended[:3] == [96, 96, 96] and open_ended[3] < 96 and open_ended[4:] == [80] * 4  # one level down


def test_cache_and_crop_keep_velocities(tmp_path):
  p = piece_with_velocity()
  _save_pieces(str(tmp_path / 'c.npz'), [('a', p), ('b', Piece(p.roll, lowest=36))])
  (_, a), (_, b) = _load_pieces(str(tmp_path / 'c.npz'), 36, 4)
  np.testing.assert_array_equal(a.velocity, p.velocity)
  assert b.velocity is None
  cut = crop(p, 6, 16)  # D4 cut after it was struck: struck again at the cut, as loud
  assert _struck(cut) == [90, 120, 64]
