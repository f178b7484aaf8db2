"""Melodies to harmonize: the top voice of a piece, and a fixed set of folk songs from music21's Essen collection.

The folk songs are the evaluation set of the harmonizer (`experiments/evaluate.py --mode=harmonize`): melodies nobody
here wrote, without fermatas, four per meter (2/4, 3/4, 4/4, 6/8), each with a pickup, 8 to 15 bars, read from
music21's ABC file as a user's tunebook is read (`scores.read_score`: the tune's lines mark its phrases; its `K:`
names the final, the mode comes from analysis).
"""

from __future__ import annotations

import numpy as np

from music21 import corpus

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
