"""Cadences as a condition: the chord test by hand, where the targets fall, and the shipped model's phrases closing."""

import numpy as np
import pytest

from biaxial_jax.generation import cadences
from biaxial_jax.analysis import harmony
from biaxial_jax.music.piece import Key, TimeSignature
from biaxial_jax.generation.request import Controls, Request

LOWEST = 36


def chord(*pitches):
  play = np.zeros(40, bool)
  play[[p - LOWEST for p in pitches]] = True
  return play


@pytest.mark.parametrize('pitches, target, expected', [
    ((48, 52, 55, 60), cadences.ANY, True),  # C major, root position, doubled root
    ((48, 52, 55, 60), cadences.roots([0]), True),  # ... on C
    ((48, 52, 55, 60), cadences.roots([7]), False),  # ... not on G
    ((45, 60, 64, 69), cadences.ANY, True),  # A minor, open spacing
    ((52, 55, 60), cadences.ANY, False),  # C major in first inversion
    ((48, 55, 60), cadences.ANY, False),  # a bare fifth
    ((48, 52, 55, 58), cadences.ANY, False),  # a seventh chord
    ((48, 51, 54), cadences.ANY, False),  # diminished
    ((), cadences.ANY, False),  # silence
    ((), cadences.NONE, True),  # no condition
])
def test_the_chord_test_by_hand(pitches, target, expected):
  assert bool(cadences.met(chord(*pitches)[None], np.array([target]), LOWEST)[0]) is expected


@pytest.mark.parametrize('before, closing, target, weight', [
    ((43, 59, 62, 67), (48, 52, 55, 60), cadences.ANY | cadences.LEAP, 0),  # V-I: the bass up a fourth
    ((41, 57, 60, 65), (48, 52, 55, 60), cadences.roots([0]) | cadences.LEAP, 0),  # IV-I: down a fourth (F to C)
    ((48, 52, 55, 60), (43, 59, 62, 67), cadences.ANY | cadences.LEAP, 0),  # I-V: a half cadence
    ((50, 53, 57, 62), (48, 52, 55, 60), cadences.ANY | cadences.LEAP, -1e3),  # ii-I: a step (a tenth: right chord)
    ((50, 53, 57, 62), (48, 52, 55, 60), cadences.ANY, 0),  # ... which a close without a leap allows
    ((43, 59, 62, 67), (48, 52, 55, 60), cadences.roots([7]) | cadences.LEAP, -1e4),  # a leap, but onto C, not G
    ((), (48, 52, 55, 60), cadences.ANY | cadences.LEAP, -1e3),  # from silence
])
def test_a_leap_is_the_bass_motion_into_the_closing_chord(before, closing, target, weight):
  beat, arrived = cadences.arrival(np.zeros((1, 40), bool), np.full(1, cadences.NO_BASS), chord(*before)[None], True,
                                   LOWEST)
  beat, arrived = cadences.arrival(beat, arrived, chord(*closing)[None], True, LOWEST)
  assert bool(cadences.met(chord(*closing)[None], np.array([target]), LOWEST, arrived)[0]) is (weight == 0)
  # a missed leap weighs a tenth of a missed chord: particles that close on the right chord outrank the rest
  assert float(cadences.weigh(chord(*closing)[None], np.array([target]), LOWEST, arrived, 0.0, -1e4)[0][0]) == weight
  # held for another beat, the chord keeps the bass it arrived from; a step between beats changes nothing
  beat, still = cadences.arrival(beat, arrived, chord(*closing)[None], True, LOWEST)
  _, between = cadences.arrival(beat, still, chord(50)[None], False, LOWEST)
  assert int(still[0]) == int(between[0]) == int(arrived[0])


@pytest.mark.parametrize('before, chord_there, met, twist', [
    ((), (50, 54, 57, 62), True, 0.0),  # the bass on D, a fifth below G: poised
    ((), (48, 52, 55, 60), True, 0.0),  # on C, a fourth below
    ((), (45, 52, 57, 60), False, 0.0),  # on A: no leap onto G can follow
    ((50, 54, 57, 62), (43, 59, 62, 67), True, cadences.TWIST),  # G already there, by a leap
])
def test_the_beat_before_a_leap_onto_g(before, chord_there, met, twist):
  target = np.array([cadences.roots([7]) | cadences.APPROACH])
  beat, arrived = cadences.arrival(np.zeros((1, 40), bool), np.full(1, cadences.NO_BASS), chord(*before)[None], True,
                                   LOWEST)
  beat, arrived = cadences.arrival(beat, arrived, chord(*chord_there)[None], True, LOWEST)
  assert bool(cadences.met(chord(*chord_there)[None], target, LOWEST, arrived)[0]) is met
  log_weight, potential = cadences.weigh(chord(*chord_there)[None], target, LOWEST, arrived, np.zeros(1), -1e4)
  assert (float(log_weight[0]), float(potential[0])) == (0 if met else -1e3, twist)
  close = np.array([cadences.roots([7]) | cadences.LEAP])  # dropped at the close
  assert float(cadences.weigh(chord(*chord_there)[None], close, LOWEST, arrived, np.full(1, twist), -1e4)[1][0]) == 0
  # kept where nothing is asked
  free = np.array([cadences.NONE])
  assert float(cadences.weigh(chord(*chord_there)[None], free, LOWEST, arrived, np.full(1, twist), -1e4)[1][0]) == twist


def test_unmet_follows_the_chords_of_a_roll():
  roll = np.zeros((16, 40, 2), np.uint8)
  for t, pitches in zip((0, 4, 8, 12), ((41, 57, 60, 65), (43, 59, 62, 67), (48, 52, 55, 60), (48, 52, 55, 60))):
    roll[t:t + 4, [p - LOWEST for p in pitches], 0] = 1
  beat_T = np.arange(16) % 4 == 0
  leap, step = np.full(16, cadences.NONE, np.int32), np.full(16, cadences.NONE, np.int32)
  leap[12] = cadences.roots([0]) | cadences.LEAP  # IV V I I: the tonic arrived at beat 3 by a leap, held on beat 4
  step[4] = cadences.roots([7]) | cadences.LEAP  # IV-V: a step
  assert cadences.unmet(roll, leap, LOWEST, beat_T) == []
  assert cadences.unmet(roll, step, LOWEST, beat_T) == [4]


def test_leaps_are_drawn_at_bachs_rates():
  rng = np.random.default_rng(0)
  draws = np.array([cadences.draw_leaps(8, rng) for _ in range(2000)])
  assert abs(draws[:, :-1].mean() - cadences.LEAP_SHARE) < 0.02
  assert abs(draws[:, -1].mean() - cadences.FINAL_LEAP_SHARE) < 0.03


def test_targets_fall_on_the_last_beat_of_each_phrase():
  steps, n = 64, 40
  bar = np.arange(steps) % 16
  meters = (TimeSignature(0, 4, 4),)
  g_major = Key(7, True)
  degrees = cadences.roots([7, 9, 11, 0, 2, 4])  # G A B C D E: the triads of G major in root position

  def closes(mask, values, key=g_major, leaps=()):
    out = cadences.targets((32, 64), bar, meters, 4, mask, values, LOWEST, key, leaps)
    return {int(t): int(v) for t, v in enumerate(out) if v != cadences.NONE}

  mask, values = np.zeros((steps, n, 2), bool), np.zeros((steps, n, 2), bool)
  assert closes(mask, values) == {28: degrees, 60: cadences.roots([7])}
  assert closes(mask, values, key=None) == {28: cadences.ANY, 60: cadences.ANY}
  assert closes(mask, values, key=Key(4, False)) == {28: cadences.roots([4, 6, 7, 9, 11, 0, 2]),
                                                     60: cadences.roots([4])}  # E minor
  # the leaps asked for; each is prepared a beat ahead
  assert closes(mask, values, leaps=(True, True)) == {
      20: degrees | cadences.PREPARE, 24: degrees | cadences.APPROACH, 28: degrees | cadences.LEAP,
      52: cadences.roots([7]) | cadences.PREPARE, 56: cadences.roots([7]) | cadences.APPROACH,
      60: cadences.roots([7]) | cadences.LEAP}
  mask[:30] = True  # a primer covering the first phrase's close is left alone
  assert 28 not in closes(mask, values)
  mask[:] = False
  mask[60, 64 - LOWEST] = values[60, 64 - LOWEST] = True  # a melody ending on E does not fit G's triad
  assert closes(mask, values)[60] == cadences.ANY
  mask[28, 66 - LOWEST] = values[28, 66 - LOWEST] = True  # F# over the first close: only D major or B minor fit
  assert closes(mask, values)[28] == cadences.roots([2, 11])


def test_the_shipped_model_closes_every_phrase_on_a_root_position_triad(shipped_bach):
  composer = shipped_bach
  assert composer.config.model.structure  # cadences are on by default for it
  generation = composer.generate(Request(num_bars=4, phrases=[2, 2], key='G major'), Controls(seed=0, num_samples=4))
  assert generation.particles == 32 and generation.unmet == [[]] * 4
  for piece in generation.pieces:
    beats = harmony.beats_of(piece)
    for end in piece.phrase_ends:
      category, inversion = harmony.classify(harmony.sonority(piece, int(beats[beats < end][-1])))
      assert (category, inversion) == ('triad', 0)
    assert harmony.sonority(piece, int(beats[-1]))[0] % 12 == 7  # the last on G
  # the leaps asked for (three in four phrase ends, at Bach's rates) are there, and the model adds none of its own
  closes = np.array([harmony.phrase_closes(piece) for piece in generation.pieces]).sum(axis=0)
  assert closes[0] == closes[1] == 8 and closes[2] >= 5
  # without cadences the particles still weigh the voice leading (and the first chord, required)
  free = composer.generate(Request(num_bars=4, phrases=[2, 2], key='G major', cadences=False), Controls(seed=0))
  assert free.particles == 32 and free.unmet == [[]]
