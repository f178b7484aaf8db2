"""The outline of a piece from what is given: the key the model is told, where its phrases end, the step its final
chord begins under a melody, and where bars and beats fall (bars from 1 at the first downbeat; a pickup is bar 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from biaxial_jax.analysis import phrases
from biaxial_jax.analysis.harmony import analyzed_key, beat_onsets, beat_steps
from biaxial_jax.music import structure
from biaxial_jax.music.piece import ARTICULATE, PLAY, Key, Piece, bar_positions, canonical_roll

if TYPE_CHECKING:
  from biaxial_jax.generation.constraints import Prepared


def downbeats(num_steps: int, time_signatures, steps_per_quarter: int) -> np.ndarray:
  """The steps where bars 1, 2, ... begin."""
  return np.flatnonzero(bar_positions(num_steps, time_signatures, steps_per_quarter) == 0)


def pickup_steps(piece: Piece) -> int:
  """Steps before a piece's first downbeat (its pickup; 0 if it starts on one)."""
  first = np.flatnonzero(piece.bar_position == 0)
  return int(first[0]) if first.size else 0


PHRASE_BEATS = 8  # the default plan's phrases: the fewest whole bars that hold 8 beats (2 bars of 4/4), as chorales


def phrase_ends(request: Prepared, num_steps: int, meters, steps_per_quarter: int,
                 key: Key | None) -> tuple[tuple[int, ...], str | None]:
  """Where phrases end, and where that came from in words (None for the default plan): the asked plan, else the
  melody's marks (fermatas, breath marks, an ABC tune's lines), else the phrases heard in the melody
  (`analysis.phrases`), else the default plan; the piece's end always ends the last phrase."""
  bars = downbeats(num_steps, meters, steps_per_quarter)
  if request.phrases:
    return structure.phrase_plan(list(request.phrases), bars, num_steps), None
  melody = request.melody
  if melody is not None and melody.roll.any():
    marked = bool(melody.phrase_ends)
    ends = melody.phrase_ends if marked else phrases.heard_phrase_ends(melody, key)
    ends = tuple(e for e in ends if e < num_steps) + (num_steps,)
    where = ', '.join(_closing_beat(e, meters, steps_per_quarter) for e in ends[:-1]) or 'none before the end'
    return ends, (f'phrases: {"as the melody marks them" if marked else "heard in the melody"}, closing at {where} '
                  'and the end')
  meter = [m for m in meters if m.step <= (bars[0] if bars.size else 0)][-1]
  per_bar = meter.steps_per_bar(steps_per_quarter) // beat_steps(meter, steps_per_quarter)
  length = -(-PHRASE_BEATS // per_bar)
  return structure.phrase_plan([length] * (len(bars) // length + 1), bars, num_steps), None


def _closing_beat(end: int, meters, steps_per_quarter: int) -> str:
  """Where a phrase ending at step `end` closes: 'bar 3 beat 2', its last beat."""
  beats = beat_onsets(bar_positions(end, meters, steps_per_quarter), meters, steps_per_quarter)
  return bar_and_beat(int(beats[-1]) if beats.size else end - 1, meters, steps_per_quarter)


def bar_and_beat(step: int, meters, steps_per_quarter: int) -> str:
  """'bar 3 beat 2' (beats from 1, with a fraction where the step falls between beats) for a step; a pickup is bar 0,
  its beats counted as the end of a bar of the meter after it."""
  positions = bar_positions(max(step, meters[-1].step) + 1, meters, steps_per_quarter)[:step + 1]
  bar = int(np.count_nonzero(positions == 0))
  meter = [m for m in meters if m.step <= step][-1] if bar or len(meters) == 1 else meters[1]
  position = positions[-1] / beat_steps(meter, steps_per_quarter) + 1
  return f'bar {bar} beat {round(position, 2):g}'


def told_key(request: Prepared, lowest: int, steps_per_quarter: int) -> tuple[Key | None, str]:
  """The key the model is told, and where it came from in words: the asked key; else the primer's or melody's (its
  notation, else an analysis); else the ending's key; else the key of the ending passage, the motif (at its first
  entry), the fragment or the fixed notes; else none (one is drawn per piece)."""
  if request.key is not None:
    return request.key, f'key: {request.key}, as asked'
  sources = [('primer', request.primer, 0), ('melody', request.melody, 0)]
  if isinstance(request.ending, Key):
    return request.ending, f'key: {request.ending}, from the ending'
  if request.primer is None and request.melody is None:
    fixed = None
    if request.fixed is not None:
      mask, values = request.fixed[:2]
      # a note the mask cuts into holds on without its start: read as struck there
      fixed = Piece(canonical_roll(mask & values), lowest=lowest, steps_per_quarter=steps_per_quarter)
    sources = [('ending', request.ending if isinstance(request.ending, Piece) else None, 0),
               ('motif', request.motif, request.motif_at[0][1] if request.motif_at else 0),
               ('fragment', request.bridge_to, 0), ('fixed notes', fixed, 0)]
  for what, piece, transpose in sources:
    if piece is not None and piece.roll[..., PLAY].any():
      if piece.key is not None:
        return piece.key.transposed(transpose), f'key: {piece.key.transposed(transpose)}, from the {what}'
      found = analyzed_key(piece).transposed(transpose)
      return found, f'key: {found}, by analysis of the {what}'
  return None, 'key: drawn at random for each piece (nothing gives one)'


def final_under_melody(melody: Piece, key: Key | None, lowest: int) -> int | None:
  """The step where the melody's last note begins, where that note belongs to `key`'s tonic triad (the final chord,
  the tonic in root position, goes under it); None otherwise."""
  play = melody.roll[..., PLAY].astype(bool)
  sounding = np.flatnonzero(play.any(axis=1))
  if key is None or not sounding.size:
    return None
  last = int(sounding[-1])
  top = int(np.flatnonzero(play[last])[-1])
  struck = melody.roll[:last + 1, top, ARTICULATE].astype(bool)
  start = int(np.flatnonzero(struck)[-1]) if struck.any() else 0
  degree = (lowest + top - key.tonic) % 12
  return start if degree in (0, 7, 4 if key.major else 3) and last == melody.num_steps - 1 else None
