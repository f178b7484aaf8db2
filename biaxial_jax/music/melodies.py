"""Melodies to harmonize: the top voice of a piece, a fixed set of folk songs from music21's Essen collection, and
the tunes of any tunebook.

The folk songs are the evaluation set of the harmonizer (`experiments/evaluate.py --mode=harmonize`): melodies nobody
here wrote, without fermatas, four per meter (2/4, 3/4, 4/4, 6/8), each with a pickup, 8 to 15 bars, read from
music21's ABC file as a user's tunebook is read (`scores.read_score`: the tune's lines mark its phrases; its `K:`
names the final, the mode comes from analysis). `tunebook_songs` takes the first tunes of another book
(`--tunebook`), melodies on which nothing here was chosen.
"""

from __future__ import annotations

import os

import numpy as np

from music21 import corpus, exceptions21

from biaxial_jax.errors import BiaxialError, GenerationError
from biaxial_jax.music import abc, score_files
from biaxial_jax.music.piece import PLAY, Grid, Piece, canonical_roll
from biaxial_jax.music.scores import read_score

FOLK_BOOK = 'essenFolksong/erk10'
# Song numbers in Erk's collection: the first two of each meter with a pickup, 9-15 bars and no change of meter (as
# music21's corpus reader counted bars), then two more of each meter (one of them in a minor key) found by
# `scores.read_score`'s reading.
FOLK_SONGS = (1, 5, 32, 33, 4, 41, 14, 16,  # 2/4, 2/4, 3/4, 3/4, 4/4, 4/4, 6/8, 6/8
              2, 6, 95, 99, 9, 49, 28, 29)  # the same meters again


def top_voice(piece: Piece) -> Piece:
  """The highest sounding note of every step (a soprano line from a polyphonic piece), its repeats kept."""
  play = piece.roll[..., PLAY].astype(bool)
  top = np.where(play.any(axis=1), piece.num_notes - 1 - np.argmax(play[:, ::-1], axis=1), -1)
  roll = np.zeros_like(piece.roll)
  steps = np.flatnonzero(top >= 0)
  roll[steps, top[steps]] = piece.roll[steps, top[steps]]
  return piece.with_roll(canonical_roll(roll))


def folk_songs(*, grid: Grid = Grid()) -> list[Piece]:
  """The `FOLK_SONGS` as `Piece`s (named `erk10.abc#N`), read from music21's corpus (a few seconds)."""
  path = corpus.getWork(FOLK_BOOK)
  return [read_score(path, tune=number, grid=grid, out_of_range='error') for number in FOLK_SONGS]


TUNEBOOK_BARS = (8, 16)  # the lengths of the tunes `tunebook_songs` takes, in bars (a pickup not counted)


def tunebook_songs(book: str, *, grid: Grid = Grid(), count: int = 16) -> list[Piece]:
  """The first `count` tunes of an ABC tunebook (a file, or a music21 corpus name such as 'essenFolksong/erk20') of
  8 to 16 bars whose notes fit `grid`, as `Piece`s (named `<file>#N`): melodies no choice here was made on. A
  `GenerationError` on `tunebook` where there is no such book or no such tune in it."""
  try:
    path = book if os.path.isfile(book) else str(corpus.getWork(book))
  except exceptions21.Music21Exception:
    raise GenerationError('tunebook', f'{book}: neither an ABC file nor a tunebook of music21\'s corpus') from None
  try:
    numbers = [tune.number for tune in abc.tunes(score_files.decode(score_files.read_bytes(path)))]
  except BiaxialError as e:
    raise GenerationError('tunebook', str(e)) from None
  songs = []
  for number in numbers:
    try:
      piece = read_score(path, tune=number, grid=grid, out_of_range='error')
    except BiaxialError:  # outside the grid's notes, unreadable, or a number two tunes share
      continue
    if TUNEBOOK_BARS[0] <= np.count_nonzero(piece.bar_position == 0) <= TUNEBOOK_BARS[1]:
      songs.append(piece)
    if len(songs) == count:
      break
  if not songs:
    raise GenerationError('tunebook', f'{book}: no tune of {TUNEBOOK_BARS[0]}-{TUNEBOOK_BARS[1]} bars within the '
                          'model\'s notes')
  return songs
