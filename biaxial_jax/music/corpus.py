"""Corpora parsed once and cached per representation (`cached_corpus`), and the Bach chorales of music21's corpus
(`load_bach_chorales`): the four vocal parts of each, with their voices."""

from __future__ import annotations

import logging
import os
from typing import Callable

import numpy as np
from music21 import corpus as music21_corpus

from biaxial_jax.music.dataset import Dataset, DatasetError, by_split, progress
from biaxial_jax.music.files import atomic_path
from biaxial_jax.music.piece import ARTICULATE, PLAY, Grid, Key, Piece, RangePolicy, Tempo, TimeSignature
from biaxial_jax.music.scores import score_to_piece

_CACHE_VERSION = 6  # 2: keys and phrase ends; 3: short bars keep the bar lines; 4: ties inside chords;
# 5: styles and velocities; 6: voices (chorales read as their four vocal parts)


def cache_dir() -> str:
  """`$BIAXIAL_JAX_CACHE`, else `$XDG_CACHE_HOME/biaxial_jax`, else `~/.cache/biaxial_jax`."""
  if os.environ.get('BIAXIAL_JAX_CACHE'):
    return os.environ['BIAXIAL_JAX_CACHE']
  return os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'biaxial_jax')


def save_pieces(path: str, pieces: list[tuple[str, Piece]]):
  rolls = np.concatenate([p.roll for _, p in pieces])
  lengths = np.array([p.num_steps for _, p in pieces])
  meters = np.array([(i, ts.step, ts.numerator, ts.denominator) for i, (_, p) in enumerate(pieces)
                     for ts in p.time_signatures])
  tempos = np.array([(i, t.step, t.qpm) for i, (_, p) in enumerate(pieces) for t in p.tempos])
  keys = np.array([(p.key.tonic, p.key.major) if p.key else (-1, 0) for _, p in pieces])
  phrases = np.array([(i, e) for i, (_, p) in enumerate(pieces) for e in (p.phrase_ends or ())]).reshape(-1, 2)
  styles = np.array([p.style or '' for _, p in pieces])
  dynamic = np.array([p.velocity is not None for _, p in pieces])
  # the velocities of the articulated cells, piece after piece, in the rolls' order
  velocities = np.concatenate([np.zeros(0, np.uint8)] + [p.velocity[p.roll[..., ARTICULATE] > 0] for _, p in pieces
                                                         if p.velocity is not None])
  voiced = np.array([p.voices is not None for _, p in pieces])
  # the voices of the sounding cells, likewise
  voices = np.concatenate([np.zeros(0, np.uint8)] + [p.voices[p.roll[..., PLAY] > 0] for _, p in pieces
                                                     if p.voices is not None])
  with atomic_path(path) as tmp, open(tmp, 'wb') as f:
    np.savez_compressed(f, rolls=np.packbits(rolls), shape=np.array(rolls.shape), lengths=lengths, meters=meters,
                        tempos=tempos, ids=np.array([i for i, _ in pieces]), keys=keys, phrases=phrases,
                        styles=styles, dynamic=dynamic, velocities=velocities, voiced=voiced, voices=voices)


def load_pieces(path: str, grid: Grid) -> list[tuple[str, Piece]]:
  with np.load(path) as z:
    shape = tuple(z['shape'])
    rolls = np.unpackbits(z['rolls'], count=int(np.prod(shape))).reshape(shape)
    lengths, meters, tempos, ids = z['lengths'], z['meters'], z['tempos'], z['ids']
    keys, phrases = z['keys'], z['phrases']
    styles = z['styles']
    dynamic, velocities = z['dynamic'], z['velocities']
    voiced, voices = z['voiced'], z['voices']
  starts = np.concatenate([[0], np.cumsum(lengths)])
  out, used = [], {'velocity': 0, 'voices': 0}

  def unpack(cells: np.ndarray, packed: np.ndarray, what: str) -> np.ndarray:
    """The values of `cells` (in order), taken from where the previous piece's ended in `packed`."""
    out = np.zeros(cells.shape, np.uint8)
    out[cells] = packed[used[what]:used[what] + cells.sum()]
    used[what] += int(cells.sum())
    return out

  for i, identifier in enumerate(ids):
    roll = rolls[starts[i]:starts[i + 1]]
    velocity = unpack(roll[..., ARTICULATE] > 0, velocities, 'velocity') if dynamic[i] else None
    piece_voices = unpack(roll[..., PLAY] > 0, voices, 'voices') if voiced[i] else None
    piece_meters = tuple(TimeSignature(int(s), int(n), int(d)) for _, s, n, d in meters[meters[:, 0] == i])
    piece_tempos = tuple(Tempo(int(s), float(q)) for _, s, q in tempos[tempos[:, 0] == i])
    ends = tuple(int(e) for e in phrases[phrases[:, 0] == i, 1])
    out.append((str(identifier), Piece(roll, lowest=grid.lowest,
                                       steps_per_quarter=grid.steps_per_quarter, time_signatures=piece_meters,
                                       tempos=piece_tempos, name=str(identifier),
                                       key=Key(int(keys[i][0]), bool(keys[i][1])) if keys[i][0] >= 0 else None,
                                       phrase_ends=ends or None, style=str(styles[i]) or None,
                                       velocity=velocity, voices=piece_voices)))
  return out


def cached_corpus(name: str, build: Callable[[], tuple[list[tuple[str, Piece]], list[tuple[str, str]]]], *,
                  grid: Grid, out_of_range: RangePolicy, refresh: bool = False) -> Dataset:
  """A corpus parsed once by `build()` (its `(identifier, piece)` pairs and skipped `(identifier, reason)`), cached
  per representation, and then loaded from the cache (rebuilt when unreadable or `refresh`)."""
  key = (f'{name}-v{_CACHE_VERSION}-lowest{grid.lowest}-notes{grid.num_notes}-spq{grid.steps_per_quarter}-'
         f'{out_of_range}.npz')
  path = os.path.join(cache_dir(), key)
  if os.path.exists(path) and not refresh:
    try:
      return by_split(name, load_pieces(path, grid))
    except (OSError, ValueError, KeyError) as e:
      logging.warning('%s: unreadable cache (%s), rebuilding it', path, e)
  pieces, skipped = build()
  os.makedirs(cache_dir(), exist_ok=True)
  save_pieces(path, pieces)
  return by_split(name, pieces, skipped)


def load_bach_chorales(*, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold', refresh: bool = False) -> Dataset:
  """The Bach chorales of music21's corpus, de-duplicated, parsed once and then loaded from the cache: the four
  vocal parts of each (instrumental parts beside them left out) with their voices (`Piece.voices`)."""
  on_grid = dict(grid=grid, out_of_range=out_of_range)

  def build():
    files = sorted(set(music21_corpus.chorales.Iterator(returnType='filename')))
    pieces, skipped = [], []
    for identifier in progress(files, len(files), 'parsing Bach chorales (first use only)'):
      try:
        pieces.append((identifier, score_to_piece(music21_corpus.parse(identifier), identifier, vocal=True, **on_grid)))
      except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on odd scores; skip them
        skipped.append((identifier, f'{type(e).__name__}: {e}'))
    if not pieces:
      raise DatasetError(f'bach_chorales: no chorale could be parsed (first error: {skipped[0][1]})')
    return pieces, skipped

  return cached_corpus('bach_chorales', build, refresh=refresh, **on_grid)
