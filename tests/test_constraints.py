"""What each mode of generation becomes: masks, forced re-strikes, requirements and look-ahead spans."""

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.generation import constraints
from biaxial_jax.generation.constraints import Prepared


def line(notes, num_steps, **kwargs) -> bj.Piece:
  roll = np.zeros((num_steps, 40, 2), np.uint8)
  for start, end, pitch in notes:
    roll[start:end, pitch - 36, 0] = 1
    roll[start, pitch - 36, 1] = 1
  return bj.Piece(roll, lowest=36, **kwargs)


def assemble(**kwargs):
  return constraints.assemble(Prepared(**kwargs), 36, 40, 4)


@pytest.mark.parametrize('text, key', [('D minor', (2, False)), ('Bb major', (10, True)), ('f# minor', (6, False)),
                                       ('E-', (3, True)), ('c sharp min', (1, False))])
def test_keys_are_read_as_musicians_write_them(text, key):
  assert constraints.parse_key(text) == key


def test_a_melody_fixes_its_notes_silences_above_and_forces_restrikes_where_it_ends():
  melody = line([(0, 4, 60), (4, 8, 60), (8, 16, 57)], 16)  # C struck twice, then A
  c = assemble(melody=melody)
  assert c.num_steps == 16 and c.weighs
  assert c.key == bj.Key(5, True) and c.spans == (8,)  # F major's triad under the last note, steered toward
  assert c.values[8, 41 - 36, 0] and c.mask[8:, 42 - 36].all()  # the tonic F2 in the bass, nothing outside the triad
  np.testing.assert_array_equal(c.values[:, 60 - 36], melody.roll[:, 60 - 36].astype(bool))
  assert c.mask[:8, 60 - 36 + 1:].all() and not c.values[:8, 60 - 36 + 1:].any()  # nothing above the C
  assert not c.mask[:8, :60 - 36].any()  # the voices below are free
  assert c.force_articulate[8, 60 - 36] and not c.force_articulate[2, 60 - 36]  # where the C ends, not inside it


def test_a_primer_alone_does_not_weigh_the_particles():
  c = assemble(num_steps=32, primer=line([(0, 8, 60)], 8))
  assert c.mask[:8].all() and not c.mask[8:].any() and not c.weighs and not c.spans


def test_motif_entries_land_on_their_bars_and_become_lookahead_spans():
  motif = line([(0, 4, 55), (4, 20, 60)], 20, time_signatures=(bj.TimeSignature(0, 1, 4), bj.TimeSignature(4, 4, 4)))
  c = assemble(num_steps=96, motif=motif, motif_at=((2, 0), (5, 2)))
  assert c.spans == (12, 60)  # the pickup one beat before bars 2 (step 16) and 5 (step 64)
  assert c.values[12, 55 - 36, 0] and c.values[16, 60 - 36, 0] and c.values[64, 62 - 36, 0]
  with pytest.raises(constraints.GenerationError, match='motif_at: the motif at bar 2 moved by \\+30'):
    assemble(num_steps=96, motif=motif, motif_at=((2, 30),))


def test_the_lookahead_schedule_scores_each_beat_before_a_span_and_ends_with_a_drop():
  c = assemble(num_steps=96, motif=line([(0, 16, 60)], 16), motif_at=((5, 0),))
  lookahead, drop = c.lookahead_schedule(lookahead_steps=8)
  assert c.spans == (64,)
  # every beat of the two bars before step 64, and the step right before it
  assert np.flatnonzero(lookahead >= 0).tolist() == [35, 39, 43, 47, 51, 55, 59, 63]
  assert (lookahead[lookahead >= 0] == 64).all() and np.flatnonzero(drop).tolist() == [71]


def test_fixed_notes_resume_after_a_free_bar_as_a_span():
  mask = np.zeros((64, 40, 2), bool)
  mask[:8] = True
  mask[20:24] = True  # after 12 free steps: less than a bar
  mask[48:56] = True  # after 24 free steps
  c = assemble(num_steps=64, fixed=(mask, np.zeros_like(mask)))
  assert c.spans == (48,)


def test_an_ending_on_a_key_fixes_the_bass_allows_the_triad_and_requires_its_third():
  c = assemble(num_steps=64, ending=(7, True))  # G major
  assert c.spans == (56,)
  bass = 43 - 36  # G2
  assert c.values[56:, bass, 0].all() and c.values[56, bass, 1] and not c.values[57:, bass, 1].any()
  assert c.mask[56:, :bass].all() and not c.values[56:, :bass].any()
  free = np.flatnonzero(~c.mask[56, :, 0]) + 36
  assert {p % 12 for p in free} == {7, 11, 2} and free.min() > 43
  assert {(p + 36) % 12 for p in np.flatnonzero(c.require[56])} == {11} and not c.require[:56].any()
  assert (c.require[63] == c.require[56]).all() and not c.require[57:63].any()  # and where the piece ends
  roll = np.zeros((64, 40, 2), np.uint8)
  assert c.unmet(roll) == [56, 63]


def test_contradictions_name_both_constraints():
  melody = line([(0, 16, 60)], 16)
  mask = np.zeros((16, 40, 2), bool)
  mask[3, 70 - 36, 0] = True
  values = mask.copy()  # a note above the melody, where the melody silences everything
  with pytest.raises(constraints.GenerationError, match='fixed: the fixed notes contradicts the melody at step 3, '
                     'MIDI note 70 \\(play\\)'):
    assemble(melody=melody, fixed=(mask, values))
  # agreeing constraints are fine
  assemble(melody=melody, fixed=(mask, np.zeros_like(mask)))
