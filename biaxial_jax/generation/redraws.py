"""Drawing a phrase again where no particle met one of its requirements.

A requirement can be out of reach of the particles that happen to be alive at its step: a close on a short note
needs a complete root-position triad at one beat, and when the history the particles share already holds the wrong
voices there, none of them can get to one (BUILD_NOTES.md, "Harmonizing tunes"). More particles for the whole piece
would find it, at their cost on every step. The requirements are local, so is the remedy: the first phrase holding
an unmet requirement is sampled again with every other cell fixed to what was drawn (`windows.sample` draws only
that window, the music before it replayed and the music after it weighing how the phrase leads into it), a block
update of the piece under the same conditions, from the seed's own stream of keys. The new phrase is kept where the
piece then misses fewer requirements; then the next, up to `Controls.redraws` draws in all. The notes around it
stay, except that a note the old phrase held into the kept music is struck where the new one does not hold it.

Phrases that `--form` repeats, or that are repeated, are left as they are: drawing one again would undo the repeat.
"""

from __future__ import annotations

import typing
from typing import Callable, Sequence

import numpy as np

from biaxial_jax.generation import plans, sampler

Span = tuple[int, int]


def free_steps(unmet: Sequence[Sequence[typing.Any]], spans: Sequence[Span], keep: set[int],
               num_steps: int) -> np.ndarray:
  """`bool[S, T]`: per sample, the steps of the first phrase (of `spans`, not in `keep`) that holds one of its unmet
  requirements (anything with a `step`). One phrase at a time: the window sampled runs from the first free step to
  the last, so two phrases far apart would cost nearly the whole piece."""
  free_SxT = np.zeros((len(unmet), num_steps), bool)
  for s, requirements in enumerate(unmet):
    for requirement in requirements:
      phrase = next((i for i, (start, end) in enumerate(spans) if start <= requirement.step < end), None)
      if phrase is not None and phrase not in keep:
        free_SxT[s, slice(*spans[phrase])] = True
        break
  return free_SxT


def fixed_plan(plan: plans.Plan, result: sampler.Result, free_SxT: np.ndarray, lookahead_T: np.ndarray,
               drop_T: np.ndarray) -> plans.Plan:
  """`plan` with every cell of the steps that are not free fixed to `result`'s notes and voices (their
  requirements and cadence targets met or not already: dropped), and the look-ahead schedule of its new spans."""
  fixed_SxT = ~free_SxT
  rolls = np.asarray(result.rolls).astype(bool)
  voices = np.asarray(result.voices).astype(np.uint8)
  sung_SxT = np.bitwise_or.reduce(np.where(rolls[..., 0], voices, 0), axis=-1).astype(np.int32)
  step_SxTx1, cell_SxTx1x1 = fixed_SxT[..., None], fixed_SxT[..., None, None]
  return plan._replace(
      mask_SxTxNx2=np.asarray(plan.mask_SxTxNx2) | cell_SxTx1x1,
      values_SxTxNx2=np.where(cell_SxTx1x1, rolls, plan.values_SxTxNx2),
      force_SxTxN=np.asarray(plan.force_SxTxN) & ~step_SxTx1,
      require_SxTxN=np.asarray(plan.require_SxTxN) & ~step_SxTx1,
      cadence_SxT=np.where(fixed_SxT, -1, plan.cadence_SxT).astype(np.int32),
      voices_SxTxN=np.where(step_SxTx1, voices, plan.voices_SxTxN).astype(np.uint8),
      closed_SxT=np.where(fixed_SxT, sung_SxT, plan.closed_SxT).astype(np.int32),
      lookahead_T=lookahead_T, drop_T=drop_T)


def kept(old: sampler.Result, new: sampler.Result, take_S: np.ndarray) -> sampler.Result:
  """Per sample, `new` where `take_S`, else `old` (every field; host arrays)."""
  def pick(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.where(take_S.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)

  return sampler.Result(*(pick(a, b) for a, b in zip(old, new)))


def redraw(result: sampler.Result, unmet_of: Callable[[sampler.Result], list[list]],
           draw: Callable[[sampler.Result, np.ndarray, int], sampler.Result], spans: Sequence[Span], keep: set[int],
           attempts: int) -> tuple[sampler.Result, list[list]]:
  """`(result, its unmet requirements per sample)` after up to `attempts` rounds of drawing again the phrases that
  hold unmet requirements. `unmet_of(result)`: the unmet requirements of each sample, each with a `step`;
  `draw(result, free_SxT, attempt)`: a result whose cells outside `free_SxT` are `result`'s, keyed by the attempt
  (from 1). A sample takes the new draw where it misses fewer requirements."""
  unmet = unmet_of(result)
  for attempt in range(1, attempts + 1):
    free_SxT = free_steps(unmet, spans, keep, np.asarray(result.rolls).shape[1])
    if not free_SxT.any():
      break
    candidate = draw(result, free_SxT, attempt)
    candidate_unmet = unmet_of(candidate)
    take_S = np.array([free.any() and len(new) < len(old)
                       for free, new, old in zip(free_SxT, candidate_unmet, unmet)])
    result = kept(result, candidate, take_S)
    unmet = [new if take else old for take, new, old in zip(take_S, candidate_unmet, unmet)]
  return result, unmet
