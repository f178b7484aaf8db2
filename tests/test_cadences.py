"""Cadences as a condition: the chord test by hand, where the targets fall, and the shipped model's phrases closing."""

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.generation import cadences
from biaxial_jax.music import harmony
from biaxial_jax.music.piece import TimeSignature

LOWEST = 36


def chord(*pitches):
  play = np.zeros(40, bool)
  play[[p - LOWEST for p in pitches]] = True
  return play


@pytest.mark.parametrize('pitches, target, expected', [
    ((48, 52, 55, 60), cadences.ANY, True),  # C major, root position, doubled root
    ((48, 52, 55, 60), 0, True),  # ... on C
    ((48, 52, 55, 60), 7, False),  # ... not on G
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


def test_targets_fall_on_the_last_beat_of_each_phrase():
  steps, n = 64, 40
  bar = np.arange(steps) % 16
  meters = (TimeSignature(0, 4, 4),)
  mask, values = np.zeros((steps, n, 2), bool), np.zeros((steps, n, 2), bool)
  out = cadences.targets((32, 64), bar, meters, 4, mask, values, LOWEST, tonic=7)
  assert {int(t): int(v) for t, v in enumerate(out) if v != cadences.NONE} == {28: cadences.ANY, 60: 7}
  mask[:30] = True  # a primer covering the first phrase's close is left alone
  assert cadences.targets((32, 64), bar, meters, 4, mask, values, LOWEST, tonic=7)[28] == cadences.NONE
  mask[:] = False
  mask[60, 64 - LOWEST] = values[60, 64 - LOWEST] = True  # a melody ending on E does not fit G's triad
  assert cadences.targets((32, 64), bar, meters, 4, mask, values, LOWEST, tonic=7)[60] == cadences.ANY
  assert cadences.targets((32, 64), bar, meters, 4, mask, values, LOWEST, tonic=None)[60] == cadences.ANY


def test_the_shipped_model_closes_every_phrase_on_a_root_position_triad():
  composer = bj.load_checkpoint('bach')
  assert composer.config.model.structure  # cadences are on by default for it
  generation = composer.generate(num_bars=4, phrases=[2, 2], key='G major', seed=0)
  piece = generation.pieces[0]
  assert generation.particles == 32 and generation.unmet == [[]]
  beats = harmony.beats_of(piece)
  for end in piece.phrase_ends:
    category, inversion = harmony.classify(harmony.sonority(piece, int(beats[beats < end][-1])))
    assert (category, inversion) == ('triad', 0)
  assert harmony.sonority(piece, int(beats[-1]))[0] % 12 == 7  # the last on G
  free = composer.generate(num_bars=4, phrases=[2, 2], key='G major', seed=0, cadences=False)
  assert free.particles == 1
