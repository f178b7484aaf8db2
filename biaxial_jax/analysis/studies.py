"""Measurements of generation under constraints, as `experiments/evaluate.py` reports them.

- `harmonization_study`: melodies harmonized by a composer, their harmonic statistics (`analysis.harmony`) beside
  those of reference pieces (Bach's own harmonizations of the same sopranos), whether every melody came back
  exactly, and how many harmonizations missed a requirement (a phrase's close, the final chord: `Generation.unmet`).
- `join_study`: how smoothly constrained material joins the generated music around it (a motif's entries and exits,
  a bridge's two ends, a prepared ending): the model's own NLL per step around each join, for the SMC sampler and
  for the plain masked sampler (one particle) on the same inputs, against the median step elsewhere.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np

from biaxial_jax import evaluation
from biaxial_jax.generation import Composer, Controls, Request
from biaxial_jax.analysis import harmony
from biaxial_jax.music.melodies import top_voice
from biaxial_jax.music.piece import PLAY, Piece, canonical_roll

JOIN_RADIUS = 2  # steps on each side of a join


def melody_kept(output: Piece, melody: Piece) -> bool:
  """Every cell where the melody plays is in the output exactly (pitch, onset, length and repeats)."""
  play = melody.roll[..., PLAY].astype(bool)
  return output.num_steps >= melody.num_steps and np.array_equal(output.roll[:melody.num_steps][play],
                                                                 melody.roll[play])


def harmonization_study(composer: Composer, melodies: Sequence[Piece], seeds: Sequence[int],
                        references: Sequence[Piece] = (), request: Request = Request(),
                        controls: Controls = Controls()) -> dict:
  """Harmonizes each melody once per seed (under `request`, with `controls`); the statistics of the outputs (and of
  `references`)."""
  outputs, givens, kept, unmet, start = [], [], 0, 0, time.perf_counter()
  for melody in melodies:
    for seed in seeds:
      generation = composer.generate(dataclasses.replace(request, melody=melody),
                                     dataclasses.replace(controls, seed=seed))
      piece = generation.pieces[0]
      kept += melody_kept(piece, top_voice(melody))
      unmet += bool(generation.unmet[0])
      outputs.append(piece)
      givens.append(generation.given)
  result = {'generated': harmony.statistics(outputs, givens), 'outputs': len(outputs), 'melody_exact': kept,
            'with_unmet_requirement': unmet, 'seconds': time.perf_counter() - start}
  if references:
    result['reference'] = harmony.statistics(references)
  return result


def continuation_study(composer: Composer, pieces: Sequence[Piece], seeds: Sequence[int], primer_bars: int = 4,
                       total_bars: int = 16, request: Request = Request(),
                       controls: Controls = Controls()) -> dict:
  """Continues the first `primer_bars` bars of each piece (from its first downbeat) to `total_bars` bars; the
  harmonic statistics of the continued part alone (the primer is the piece's own music)."""
  outputs, start = [], time.perf_counter()
  for piece in pieces:
    if (piece.bar_position == 0).sum() <= primer_bars:
      continue
    primer = _bars(piece, 1, primer_bars)
    bar = primer.num_steps // primer_bars
    for seed in seeds:
      out = composer.generate(dataclasses.replace(request, num_steps=total_bars * bar, primer=primer),
                              dataclasses.replace(controls, seed=seed)).pieces[0]
      outputs.append(dataclasses.replace(out, roll=canonical_roll(out.roll[primer.num_steps:]), phrase_ends=None,
                                         voices=None if out.voices is None else out.voices[primer.num_steps:]))
  return {'generated': harmony.statistics(outputs), 'outputs': len(outputs), 'seconds': time.perf_counter() - start}


@dataclasses.dataclass(frozen=True)
class JoinCase:
  """A constrained generation and the steps where given and generated music meet."""
  name: str
  request: Request
  joins: tuple[int, ...]


def _bars(piece: Piece, first_bar: int, bars: int) -> Piece:
  """`bars` whole bars of a piece from its bar `first_bar` (counted from 1 at its first downbeat), as a new piece
  in the meter of that bar."""
  downbeats = np.flatnonzero(piece.bar_position == 0)
  start, end = downbeats[first_bar - 1], downbeats[first_bar - 1 + bars]
  meter = [m for m in piece.time_signatures if m.step <= start][-1]
  return Piece(canonical_roll(piece.roll[start:end]), lowest=piece.lowest, steps_per_quarter=piece.steps_per_quarter,
               time_signatures=(dataclasses.replace(meter, step=0),), tempos=piece.tempos[:1], name=piece.name,
               key=piece.key)


def join_cases(chorales: Sequence[Piece]) -> list[JoinCase]:
  """The three modes, from held-out chorales in 4/4: a 2-bar soprano motif returning at bars 1, 5 and 9 (a tone up
  the last time) of 12 bars; a bridge of 4 bars from one chorale's first 4 bars to 2 bars of another; 8 bars ending
  in G major."""
  four_four = [p for p in chorales if {(m.numerator, m.denominator) for m in p.time_signatures} <= {(4, 4), (1, 4),
                                                                                                    (2, 4), (3, 4)}
               and (p.bar_position == 0).sum() >= 8]
  a, b = four_four[0], four_four[1]
  motif = top_voice(_bars(a, 1, 2))
  bar = 16
  primer, fragment = _bars(a, 1, 4), _bars(b, 3, 2)
  return [
      JoinCase('motif', Request(num_steps=12 * bar, motif=motif, motif_at=(1, 5, (9, 2))),
               (2 * bar, 4 * bar, 6 * bar, 8 * bar, 10 * bar)),
      JoinCase('bridge', Request(primer=primer, bridge_to=fragment, bridge_bars=4), (4 * bar, 8 * bar)),
      JoinCase('ending', Request(num_steps=8 * bar, ending='G major'), (8 * bar - 8,)),
  ]


def _join_nll(nll_T: np.ndarray, bar_position_T: np.ndarray, joins: Sequence[int]) -> tuple[float, float, float]:
  """(mean step NLL within `JOIN_RADIUS` of the joins, median step NLL elsewhere, median over the same windows at
  the same places in the bar elsewhere). The last is the like-for-like yardstick: joins fall on bar lines, where
  notes start, and a step that starts notes costs more than the held steps that most steps are."""
  def window(j):
    return slice(max(j - JOIN_RADIUS, 0), j + JOIN_RADIUS)
  near = np.zeros(len(nll_T), bool)
  for j in joins:
    near[window(j)] = True
  positions = {int(bar_position_T[j]) for j in joins if j < len(nll_T)}
  alike = [nll_T[window(s)].mean() for s in range(JOIN_RADIUS, len(nll_T) - JOIN_RADIUS)
           if bar_position_T[s] in positions and not near[window(s)].any()]
  return float(nll_T[near].mean()), float(np.median(nll_T[~near])), float(np.median(alike)) if alike else np.nan


def join_statistics(pieces: Sequence[Piece], nll: Sequence[np.ndarray], joins: Sequence[int]) -> dict:
  """Mean over pieces of the join NLL, of the median step NLL elsewhere and of the median like-for-like window
  elsewhere (see `_join_nll`), and the join NLL's ratios to both."""
  values = np.array([_join_nll(n, p.bar_position, joins) for p, n in zip(pieces, nll)])
  near, elsewhere, alike = values.mean(axis=0)
  return {'join_nll': near, 'median_step_nll_elsewhere': elsewhere, 'median_window_nll_elsewhere': alike,
          'ratio_to_median_step': near / elsewhere, 'ratio_to_median_window': near / alike, 'pieces': len(pieces)}


def join_study(composer: Composer, cases: Sequence[JoinCase], seeds: Sequence[int],
               particles: Sequence[int] = (1, 32)) -> dict:
  """`join_statistics` per case and particle count, over one output per seed (nats per step, the model's own NLL
  of the outputs)."""
  result = {}
  for case in cases:
    for k in particles:
      pieces = [composer.generate(case.request, Controls(seed=seed, particles=k)).pieces[0] for seed in seeds]
      result[f'{case.name}/K={k}'] = join_statistics(pieces, evaluation.step_nll(composer, pieces), case.joins)
  return result
