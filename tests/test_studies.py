"""The measurements behind the harmonization and join tables, on tiny models and hand-made numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import model
from biaxial_jax.analysis import studies
from biaxial_jax.config import Config, DataConfig, ModelConfig

CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(12,), note_sizes=(8,)))


@pytest.fixture(scope='module')
def composer():
  params = model.init_params(jax.random.key(0), CONFIG.model)
  params['out']['b'] = jnp.array([-1.0, 0.0])
  return bj.Composer(CONFIG, params, step=0)


def chorale(bars: int) -> bj.Piece:
  roll = np.zeros((16 * bars, 40, 2), np.uint8)
  for beat in range(4 * bars):
    for pitch in ((48, 64, 67, 72), (43, 62, 67, 71))[beat % 2]:
      roll[4 * beat:4 * beat + 4, pitch - 36] = (1, 0)
      roll[4 * beat, pitch - 36, 1] = 1
  return bj.Piece(roll, lowest=36)


def test_join_nll_against_the_median_step_and_the_same_place_in_the_bar():
  piece = chorale(4)
  nll = np.where(piece.bar_position % 4 == 0, 4.0, 0.5)  # onsets on the beats cost more than held steps
  nll[31:33] = 10.0  # a rough join at step 32
  stats = studies.join_statistics([piece], [nll], (32,))
  assert stats['join_nll'] == pytest.approx((0.5 + 10 + 10 + 0.5) / 4)
  assert stats['median_step_nll_elsewhere'] == 0.5
  # windows around the other downbeats: two held steps, the onset and one held step
  assert stats['median_window_nll_elsewhere'] == pytest.approx((0.5 + 0.5 + 4 + 0.5) / 4)
  assert stats['ratio_to_median_window'] == pytest.approx(5.25 / 1.375)


def test_a_harmonization_study_keeps_every_melody_and_counts_every_beat(composer):
  melodies = [bj.top_voice(chorale(2)), bj.top_voice(chorale(3))]
  result = studies.harmonization_study(composer, melodies, seeds=(0, 1), references=[chorale(2)], 
                                       controls=bj.Controls(particles=4))
  assert result['outputs'] == 4 and result['melody_exact'] == 4
  assert result['generated']['beats'] == 2 * (8 + 12) and result['reference']['share_triad'] == 1.0


def test_join_cases_place_every_join_on_a_bar_line(composer):
  pieces = [chorale(12), chorale(10)]
  cases = studies.join_cases(pieces)
  assert [c.name for c in cases] == ['motif', 'bridge', 'ending']
  result = studies.join_study(composer, cases[1:2], seeds=(0,), particles=(1, 4))
  assert set(result) == {'bridge/K=1', 'bridge/K=4'} and all(r['join_nll'] > 0 for r in result.values())
  motif = cases[0]
  c = composer.constraints(motif.request)
  for join in motif.joins:
    assert c.bar_position[join] == 0


def test_a_continuation_study_scores_only_the_continued_bars(composer):
  result = studies.continuation_study(composer, [chorale(6), chorale(3)], seeds=(0,), primer_bars=4, total_bars=6,
                                      controls=bj.Controls(particles=1))
  assert result['outputs'] == 1  # the 3-bar piece is too short for a 4-bar primer
  assert result['generated']['beats'] == 2 * 4  # bars 5 and 6
