"""The Bernoulli NLL: its terms, masks, units and numerical stability."""

import numpy as np

from biaxial_jax import loss


def naive(p_logit, a_logit, play, art):
  def nll(logit, y):
    p = 1 / (1 + np.exp(-logit))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
  return nll(p_logit, play), nll(a_logit, art) * play


def test_terms_masks_and_units():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 4, 2)).astype(np.float32)
  play = rng.random((2, 3, 4)) < 0.5
  art = play & (rng.random((2, 3, 4)) < 0.5)
  notes = np.stack([play, art], -1).astype(np.uint8)
  mask = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
  sums = loss.nll_sums(logits, notes, mask)
  p, a = naive(logits[..., 0], logits[..., 1], play, art)
  m = mask[..., None]
  np.testing.assert_allclose(sums['play'], (p * m).sum(), rtol=1e-5)
  np.testing.assert_allclose(sums['articulate'], (a * m).sum(), rtol=1e-5)
  metrics = loss.metrics_from_sums(sums)
  np.testing.assert_allclose(metrics['nll_per_frame'], ((p + a) * m).sum() / 3, rtol=1e-5)
  np.testing.assert_allclose(metrics['nll_per_note'], ((p + a) * m).sum() / 12, rtol=1e-5)
  np.testing.assert_allclose(metrics['play_nll_per_frame'], (p * m).sum() / 3, rtol=1e-5)


def test_articulate_counts_only_where_the_note_plays():
  logits = np.zeros((1, 1, 2, 2), np.float32)
  logits[..., 1] = 50.0  # confident articulation: costly only where the target is (play, no articulation)
  notes = np.array([[[[0, 0], [1, 0]]]], np.uint8)
  sums = loss.nll_sums(logits, notes, np.ones((1, 1)))
  np.testing.assert_allclose(sums['articulate'], 50.0, rtol=1e-4)


def test_extreme_logits_stay_finite():
  logits = np.array([[[[1e4, -1e4], [-1e4, 1e4]]]], np.float32)
  notes = np.array([[[[0, 0], [1, 1]]]], np.uint8)
  value, _ = loss.loss_fn(logits, notes, np.ones((1, 1)))
  assert np.isfinite(value) and value > 1e4


def test_uniform_model_scores_n_ln2_per_frame_on_play():
  notes = np.zeros((1, 5, 88, 2), np.uint8)
  metrics = loss.metrics_from_sums(loss.nll_sums(np.zeros((1, 5, 88, 2), np.float32), notes, np.ones((1, 5))))
  np.testing.assert_allclose(metrics['play_nll_per_frame'], 88 * np.log(2), rtol=1e-5)


def test_play_only_objective_ignores_articulation():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 4, 5, 2)).astype(np.float32)
  notes = (rng.random((2, 4, 5, 2)) < 0.5).astype(np.uint8)
  mask = np.ones((2, 4), np.float32)
  both, sums = loss.loss_fn(logits, notes, mask)
  play, _ = loss.loss_fn(logits, notes, mask, play_only=True)
  np.testing.assert_allclose(play, sums['play'] / 8, rtol=1e-5)
  np.testing.assert_allclose(both, (sums['play'] + sums['articulate']) / 8, rtol=1e-5)
  logits[..., 1] += 10.0  # articulation logits change nothing in the play-only objective
  np.testing.assert_allclose(loss.loss_fn(logits, notes, mask, play_only=True)[0], play, rtol=1e-6)
