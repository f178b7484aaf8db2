"""The style classifier: its texture statistics by hand, passages cut on bar lines, and a fit that separates two
textures; the corpus of styles lists its sources and caches the pieces' styles."""

import numpy as np
import pytest

from biaxial_jax.analysis import style_classifier as sc
from biaxial_jax.music.corpus import load_pieces, save_pieces
from biaxial_jax.music.piece import Grid, Piece, TimeSignature, roll_from_notes


def piece(notes, steps=32, style=None, meters=(TimeSignature(0, 4, 4),)):
  roll, _ = roll_from_notes(notes, lowest=36, num_notes=48, num_steps=steps)
  return Piece(roll, lowest=36, time_signatures=meters, style=style)


def test_texture_features_by_hand():
  # two voices a major third apart (C4 E4), half notes (8 sixteenths), struck on every half bar
  p = piece([(t, t + 8, 60) for t in range(0, 32, 8)] + [(t, t + 8, 64) for t in range(0, 32, 8)])
  f = sc.texture_features(p)
  assert f.shape == (sc.NUM_FEATURES,)
  voices = f[:sc.VOICE_BINS]
  np.testing.assert_allclose(voices, np.eye(sc.VOICE_BINS)[2])  # two notes sound at every step
  offset = sc.VOICE_BINS
  np.testing.assert_allclose(f[offset:offset + 2], [8 / 32 / 4, 4 / 32])  # onsets per sounding step / 4, onset steps
  offset += 2
  durations = f[offset:offset + len(sc.DURATION_EDGES) + 1]
  np.testing.assert_allclose(durations, np.eye(len(sc.DURATION_EDGES) + 1)[4])  # all 8 sixteenths: the 5-8 bin
  offset += len(sc.DURATION_EDGES) + 1
  np.testing.assert_allclose(f[offset:offset + 12], np.eye(12)[4])  # only major thirds sound together
  offset += 12
  np.testing.assert_allclose(f[offset:offset + len(sc.LEAP_EDGES) + 1], np.eye(len(sc.LEAP_EDGES) + 1)[0])  # repeats
  offset += len(sc.LEAP_EDGES) + 2
  np.testing.assert_allclose(f[offset:offset + 3], [0, 4 / 12, 4 / 24], atol=1e-6)  # C4 low, E4 high, a third wide
  offset += 3
  np.testing.assert_allclose(f[offset:offset + 3], [1, 0.5, 0])  # on beats; half on downbeats; none off the 8ths


def test_windows_start_on_bar_lines_and_are_struck():
  p = piece([(0, 40, 48), (40, 64, 50)], steps=64, meters=(TimeSignature(0, 3, 4),))  # bars of 12 steps
  cut = sc.windows(p, 24, 3)
  assert [w.num_steps for w in cut] == [24, 24, 24]
  assert all(w.roll[0, :, 1].sum() == w.roll[0, :, 0].sum() for w in cut)  # a held note is struck at the cut
  assert sc.windows(p, 100, 3) == [p]  # shorter than a window: the piece itself


def test_fit_separates_two_textures():
  rng = np.random.default_rng(0)
  def texture(style):
    notes = []
    for t in range(0, 64, 4 if style == 'busy' else 16):
      root = int(rng.integers(48, 60))
      notes += [(t, t + (4 if style == 'busy' else 16), root)] + (
          [(t, t + 16, root + 7)] if style == 'calm' else [])
    return piece(notes, steps=64, style=style)
  train = [texture(s) for s in ('busy', 'calm') for _ in range(20)]
  test = [texture(s) for s in ('busy', 'calm') for _ in range(10)]
  classifier = sc.fit(train, ('busy', 'calm'), steps=300)
  assert sc.accuracy_by_style(classifier, test, [p.style for p in test]) == {'busy': 1.0, 'calm': 1.0}
  assert classifier.predict([test[0]]) == ['busy']


def test_cache_keeps_styles(tmp_path):
  pieces = [('a', piece([(0, 4, 60)], style='chorale')), ('b', piece([(0, 4, 62)]))]
  save_pieces(str(tmp_path / 'cache.npz'), pieces)
  loaded = load_pieces(str(tmp_path / 'cache.npz'), Grid(36, 48))
  assert [(i, p.style) for i, p in loaded] == [('a', 'chorale'), ('b', None)]


def test_the_styles_corpus_lists_every_style():
  pytest.importorskip('music21')
  from biaxial_jax.music import styles
  sources = styles.style_sources()
  counts = {s: sum(style == s for style, _ in sources) for s in styles.STYLES if s != 'chorale'}
  assert counts['renaissance'] >= styles.PALESTRINA_PIECES and counts['medieval'] >= 90
  assert counts['classical'] >= 40
  assert sum('palestrina' in path for _, path in sources) == styles.PALESTRINA_PIECES
  assert sources == styles.style_sources()  # a fixed order: the same pieces on every machine


def test_velocity_profile_by_hand():
  p = piece([(0, 8, 60), (16, 24, 62)], steps=32)
  velocity = np.zeros(p.roll.shape[:2], np.uint8)
  velocity[0, 24], velocity[16, 26] = 40, 100  # bar 1 at 40, bar 2 at 100
  profile = sc.velocity_profile([Piece(p.roll, lowest=36, velocity=velocity), p])
  assert profile['pieces'] == 1 and profile['struck_notes'] == 2 and profile['mean'] == 70
  assert profile['histogram'] == [0, 0, 0.5, 0, 0, 0, 0.5, 0]
  assert profile['bar_to_bar_std'] == 30
  assert sc.velocity_profile([p]) == {'pieces': 0}
