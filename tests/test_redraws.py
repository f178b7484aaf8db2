"""Phrases drawn again where a requirement was unmet (`generation.redraws`)."""

import typing

import numpy as np

from biaxial_jax.generation import redraws, sampler

S, T, N = 2, 12, 3
SPANS = [(0, 4), (4, 8), (8, 12)]
CHECKED = (3, 7, 11)  # each phrase's last step requires note 0


class Requirement(typing.NamedTuple):
  step: int


def result_of(rolls):
  return sampler.Result(rolls, np.zeros(S), np.zeros(S), np.zeros(S), np.ones((S, T)), np.zeros((S, T, N), np.uint8),
                        np.zeros((S, T, N), np.uint8))


def unmet_of(result):
  return [[Requirement(t) for t in CHECKED if not roll[t, 0, 0]] for roll in np.asarray(result.rolls)]


def test_only_the_phrases_holding_unmet_requirements_are_drawn_again_and_kept_where_they_meet_more():
  rolls = np.zeros((S, T, N, 2), np.uint8)
  rolls[0, 3, 0, 0] = rolls[0, 11, 0, 0] = rolls[1, 7, 0, 0] = 1  # sample 0 misses step 7, sample 1 steps 3, 11
  rolls[:, :, 2, 0] = 1  # a note held everywhere, to see what a redraw changed
  freed = []

  def draw(result, free_SxT, attempt):
    freed.append(free_SxT.copy())
    new = np.array(result.rolls)
    new[free_SxT] = 0  # every redraw silences what it draws; only the second meets the requirements
    if attempt == 2:
      new[0, 7, 0, 0] = new[1, 3, 0, 0] = 1
    return result_of(new)

  result, unmet = redraws.redraw(result_of(rolls), unmet_of, draw, SPANS, keep={2}, attempts=5)
  expected = np.zeros((S, T), bool)
  expected[0, 4:8] = expected[1, 0:4] = True  # sample 1's last phrase is kept (a repeat): never drawn again
  assert len(freed) == 2  # the first draw met nothing and was dropped; after the second only kept phrases miss
  np.testing.assert_array_equal(freed[0], expected)
  np.testing.assert_array_equal(freed[1], expected)
  assert unmet == [[], [Requirement(11)]]
  out = np.asarray(result.rolls)
  np.testing.assert_array_equal(out[~expected], rolls[~expected])  # everything outside as it was
  assert out[0, 7, 0, 0] and out[1, 3, 0, 0] and not out[expected][:, 2, 0].any()


def test_nothing_is_drawn_again_when_every_requirement_is_met_or_no_attempts_are_allowed():
  rolls = np.zeros((S, T, N, 2), np.uint8)
  rolls[:, CHECKED, 0, 0] = 1

  def draw(*_):
    raise AssertionError('drawn again')

  result, unmet = redraws.redraw(result_of(rolls), unmet_of, draw, SPANS, keep=set(), attempts=3)
  assert unmet == [[], []] and result.rolls is not None
  rolls[0, 3, 0, 0] = 0
  assert redraws.redraw(result_of(rolls), unmet_of, draw, SPANS, keep=set(), attempts=0)[1] == [[Requirement(3)], []]


def test_one_phrase_is_drawn_at_a_time_the_first_that_misses_and_is_not_kept():
  free = redraws.free_steps([[Requirement(7), Requirement(11)], [Requirement(1), Requirement(5)]], SPANS, {0}, T)
  np.testing.assert_array_equal(np.flatnonzero(free[0]), np.arange(4, 8))  # not both: the window would span both
  np.testing.assert_array_equal(np.flatnonzero(free[1]), np.arange(4, 8))  # phrase 0 is kept
