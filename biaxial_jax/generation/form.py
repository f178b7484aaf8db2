"""A form plan over the phrases (`form='AABC'`): a repeated letter repeats that phrase's melody, or all its voices.

Chorales repeat whole phrases (the Stollen of a bar form, AAB); a sampler that draws each step once cannot copy what
it has not drawn yet, so a form is sampled in rounds of the same compiled call. The first round samples the piece
under the user's constraints alone. Each later round fixes, per sample, everything the round before drew up to the
start of the next repeated phrase, and fixes the copy of every repeat whose first statement lies in that prefix (its
top voice and the silence above it, or every cell with `harmony`). The copies are fixed spans like a motif's entry:
the particles weigh them as they reach them and look ahead to them, so the music before a repeat leads into it.
"""

from __future__ import annotations

import numpy as np

from biaxial_jax.errors import GenerationError
from biaxial_jax.music.piece import PLAY

Span = tuple[int, int]  # [start, end) steps of a phrase


def parse(form: str, spans: list[Span], bar_position: np.ndarray) -> list[tuple[int, int]]:
  """`(phrase, first statement)` for every phrase whose letter came before (phrases counted from 0); a
  `GenerationError('form')` unless there is one letter per phrase and each repeat fits its first statement."""
  if not (isinstance(form, str) and form.isalpha() and form.isupper()):
    raise GenerationError('form', f'expected capital letters, one per phrase (AABC), got {form!r}')
  if len(form) != len(spans):
    lengths = ', '.join(str(end - start) for start, end in spans)
    raise GenerationError('form', f'{form} has {len(form)} letters for {len(spans)} phrases (of {lengths} steps: '
                          'set them with phrases)')
  first, repeats = {}, []
  for i, letter in enumerate(form):
    if letter not in first:
      first[letter] = i
      continue
    (s0, s1), (t0, t1) = spans[first[letter]], spans[i]
    if s1 - s0 != t1 - t0 or bar_position[s0] != bar_position[t0]:
      raise GenerationError('form', f'phrase {i + 1} ({letter}) does not fit the bars of phrase {first[letter] + 1}: '
                            f'{t1 - t0} steps from bar position {bar_position[t0]} against {s1 - s0} from '
                            f'{bar_position[s0]}')
    repeats.append((i, first[letter]))
  return repeats


def rounds(repeats: list[tuple[int, int]], spans: list[Span]) -> list[tuple[int, list[tuple[int, int]]]]:
  """`(prefix_end, repeats fixed in that round)` for each round after the first."""
  done, out = set(), []
  for target, _ in repeats:
    if target in done:
      continue
    prefix = spans[target][0]
    batch = [(t, s) for t, s in repeats if t not in done and spans[s][1] <= prefix]
    out.append((prefix, batch))
    done.update(t for t, _ in batch)
  return out


def copy_cells(rolls_SxTxNx2: np.ndarray, source: Span, harmony: bool) -> tuple[np.ndarray, np.ndarray]:
  """`(mask, values)`, `bool[S, L, N, 2]`, that repeat each sample's phrase `source`: its top voice and the silence
  above it while it sounds, or with `harmony` every cell."""
  segment = rolls_SxTxNx2[:, source[0]:source[1]].astype(bool)
  if harmony:
    return np.ones_like(segment), segment
  play = segment[..., PLAY]
  num_notes = play.shape[-1]
  top = num_notes - 1 - np.argmax(play[..., ::-1], axis=-1)  # [S, L]
  sounding = play.any(axis=-1)
  notes = np.arange(num_notes)
  mask_SxLxN = sounding[..., None] & (notes >= top[..., None])
  mask = np.repeat(mask_SxLxN[..., None], 2, axis=-1)
  return mask, segment & mask
