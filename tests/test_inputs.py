"""Given material as the user means it: pickups a file does not spell, meters it lacks, silence around the music,
lengths in the bars of the meter in force."""

import fractions

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import model
from biaxial_jax.config import Config, DataConfig, ModelConfig
from biaxial_jax.music import inputs
from biaxial_jax.music.piece import TimeSignature
from biaxial_jax.generation.request import Request
from tests.midi_util import STEP, make_midi

CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(8,), note_sizes=(6,)))
# a 3/4 tune with a pickup of one beat: D | G A B | C B A | G.
TUNE = [(0, 4, 62), (4, 8, 67), (8, 12, 69), (12, 16, 71), (16, 20, 72), (20, 24, 71), (24, 28, 69), (28, 40, 67)]


@pytest.fixture(scope='module')
def composer():
  params = model.init_params(jax.random.key(0), CONFIG.model)
  params['out']['b'] = jnp.array([-1.0, 0.0])
  return bj.Composer(CONFIG, params, step=0)


def music21_tune():
  from music21 import meter, note, stream  # pylint: disable=import-outside-toplevel
  part = stream.Part()
  part.append(meter.TimeSignature('3/4'))
  pickup = stream.Measure(number=0)
  pickup.append(note.Note('D4', quarterLength=1))
  pickup.paddingLeft = 2
  part.append(pickup)
  for pitches in (('G4', 'A4', 'B4'), ('C5', 'B4', 'A4')):
    bar = stream.Measure()
    for pitch in pitches:
      bar.append(note.Note(pitch, quarterLength=1))
    part.append(bar)
  last = stream.Measure()
  last.append(note.Note('G4', quarterLength=3))
  part.append(last)
  return stream.Score([part])


def test_music21_midi_with_a_declared_pickup_has_the_bar_lines_of_the_score(composer, tmp_path):
  score = music21_tune()
  xml = score.write('musicxml', tmp_path / 'tune.musicxml')
  mid = score.write('midi', tmp_path / 'tune.mid')  # music21 spells the pickup as a full first bar
  from_score = composer.constraints(Request(melody=str(xml)))
  misread = composer.constraints(Request(melody=str(mid)))
  from_midi = composer.constraints(Request(melody=str(mid), pickup=1))
  assert from_score.bar_position[:5].tolist() == [8, 9, 10, 11, 0]
  assert misread.bar_position[0] == 0  # what the file says, without the pickup declared
  np.testing.assert_array_equal(from_midi.bar_position, from_score.bar_position)
  assert from_midi.num_steps == from_score.num_steps == 40  # no trailing silence: no chord after the tune
  assert any('pickup of 1 quarter' in c for c in from_midi.changes)
  assert any('silence after its last note dropped' in c for c in from_midi.changes)
  with pytest.raises(bj.GenerationError, match='pickup: 3 quarters is not a pickup of a bar of 3/4'):
    composer.constraints(Request(melody=str(mid), pickup=3))
  with pytest.raises(bj.GenerationError, match='pickup: .*whole number of grid steps'):
    composer.constraints(Request(melody=str(mid), pickup=fractions.Fraction(1, 3)))
  with pytest.raises(bj.GenerationError, match='pickup: a pickup applies to a primer or melody'):
    composer.constraints(Request(num_steps=16, pickup=1))


def test_trailing_silence_is_dropped_unless_a_length_includes_it(composer, tmp_path):
  with_rest = make_midi(tmp_path / 'rest.mid', [(s * STEP, e * STEP, p) for s, e, p in TUNE],
                        meters=[(0, 1, 4), (4 * STEP, 3, 4)], last_tick=48 * STEP)  # 2 beats of silence at the end
  assert bj.read_midi(with_rest, grid=bj.Grid(36, 40)).num_steps == 48
  c = composer.constraints(Request(melody=str(with_rest)))
  assert c.num_steps == 40 and c.changes[0] == 'the melody: 2 quarters of silence after its last note dropped'
  assert c.key is not None and c.changes[1] == f'key: {c.key}, by analysis of the melody' 
  assert composer.constraints(Request(num_steps=48, melody=str(with_rest))).num_steps == 48  # asked for: kept, and free
  primed = composer.constraints(Request(num_steps=60, primer=str(with_rest)))
  assert primed.mask[:40].all() and not primed.mask[40:].any()  # the primer ends where its music ends


def test_silence_before_the_first_note_keeps_the_bar_lines(composer, tmp_path):
  # a silent bar of 4/4, then the tune starting on beat 4 of the second bar
  late = [(s + 28, e + 28, p) for s, e, p in TUNE]
  path = make_midi(tmp_path / 'late.mid', [(s * STEP, e * STEP, p) for s, e, p in late])
  c = composer.constraints(Request(melody=str(path)))
  assert c.num_steps == 40 and c.bar_position[:5].tolist() == [12, 13, 14, 15, 0]  # beat 4 is a pickup of 4/4
  assert c.changes[0] == 'the melody: 7 quarters of silence before its first note dropped'
  assert c.mask[0, 62 - 36, 0] and c.values[0, 62 - 36, 1]  # the first note, struck at step 0


def test_the_meter_of_a_file_is_replaced_on_request_keeping_its_pickup(composer, tmp_path):
  no_meter = make_midi(tmp_path / 'plain.mid', [((s - 4) * STEP, (e - 4) * STEP, p) for s, e, p in TUNE[1:]],
                       meters=[])
  assert composer.constraints(Request(melody=str(no_meter))).time_signatures == (TimeSignature(0, 4, 4),)
  c = composer.constraints(Request(melody=str(no_meter), time_signature='3/4'))
  assert c.time_signatures == (TimeSignature(0, 3, 4),) and c.changes[0] == 'the melody read in 3/4 (the file says 4/4)'
  spelled = make_midi(tmp_path / 'pickup.mid', [(s * STEP, e * STEP, p) for s, e, p in TUNE],
                      meters=[(0, 1, 4), (4 * STEP, 3, 4)])
  c = composer.constraints(Request(melody=str(spelled), time_signature=(6, 8)))
  assert c.time_signatures == (TimeSignature(0, 1, 4), TimeSignature(4, 6, 8))
  with pytest.raises(bj.GenerationError, match='time_signature: expected a meter N/D'):
    composer.constraints(Request(melody=str(spelled), time_signature='three'))
  with pytest.raises(bj.GenerationError, match='time_signature: .*denominator must be a power of two'):
    composer.constraints(Request(num_bars=2, time_signature='3/5'))


def test_num_bars_counts_bars_of_the_meter_in_force(composer, tmp_path):
  primer = make_midi(tmp_path / 'waltz.mid', [((s - 4) * STEP, (e - 4) * STEP, p) for s, e, p in TUNE[1:4]],
                     meters=[(0, 3, 4)])
  assert composer.constraints(Request(num_bars=8, primer=str(primer))).num_steps == 8 * 12
  assert composer.constraints(Request(num_bars=8)).num_steps == 8 * 16
  assert composer.constraints(Request(num_bars=8, time_signature='6/8')).num_steps == 8 * 12
  pickup = make_midi(tmp_path / 'pickup.mid', [(s * STEP, e * STEP, p) for s, e, p in TUNE[:3]],
                     meters=[(0, 1, 4), (4 * STEP, 3, 4)])
  assert composer.constraints(Request(num_bars=2, primer=str(pickup))).num_steps == 4 + 2 * 12  # bars after the pickup
  with pytest.raises(bj.GenerationError, match='primer: 12 steps long, as long as or longer than the 12 steps'):
    composer.constraints(Request(num_bars=1, primer=str(primer)))
  with pytest.raises(bj.GenerationError, match='num_bars: give num_steps or num_bars, not both'):
    composer.constraints(Request(num_steps=16, num_bars=1))


def test_crop_and_pickup_helpers_keep_bar_lines():
  roll = np.zeros((48, 40, 2), np.uint8)
  roll[6:30, 3] = 1
  roll[6, 3, 1] = 1
  piece = bj.Piece(roll, lowest=36, time_signatures=(TimeSignature(0, 3, 4),))
  cropped, changes = inputs.prepare(piece, 'the primer', trim_start=True)
  assert cropped.num_steps == 24 and cropped.bar_position[:7].tolist() == [6, 7, 8, 9, 10, 11, 0]
  assert changes == ['the primer: 3/2 quarters of silence before its first note dropped',
                     'the primer: 9/2 quarters of silence after its last note dropped']
  assert inputs.with_pickup((TimeSignature(0, 3, 4), TimeSignature(24, 2, 4)), 4, 4) == (
      TimeSignature(0, 1, 4), TimeSignature(4, 3, 4), TimeSignature(24, 2, 4))


def test_short_bars_inside_a_score_keep_its_bar_lines():
  from music21 import meter, note, stream  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.scores import score_to_piece  # pylint: disable=import-outside-toplevel

  def score(lengths):
    part = stream.Part()
    for i, beats in enumerate(lengths):
      bar = stream.Measure(number=i + 1)
      if i == 0:
        bar.append(meter.TimeSignature('3/4'))
      bar.append(note.Note(60 + i, quarterLength=beats))
      part.append(bar)
    return stream.Score([part])

  # a section ending after 2 beats and the next one's 1-beat pickup, notated as two measures: one bar of 3/4
  split = score_to_piece(score([3, 2, 1, 3, 3]), 'split')
  assert np.flatnonzero(split.bar_position == 0).tolist() == [0, 12, 24, 36]
  # a short bar nothing completes: a bar of its own, and the next bar starts after it
  short = score_to_piece(score([3, 2, 3, 3]), 'short')
  assert np.flatnonzero(short.bar_position == 0).tolist() == [0, 12, 20, 32]
