"""Melodies to harmonize: the top voice of a piece, and a fixed set of folk songs from music21's Essen collection.

The folk songs are the evaluation set of the harmonizer (`experiments/evaluate.py --mode=harmonize`): melodies nobody
here wrote, two per meter (2/4, 3/4, 4/4, 6/8), each with a pickup, 9 to 15 bars, read from music21's ABC files with
their true bar lines.
"""

from __future__ import annotations

import numpy as np

from music21 import corpus

from biaxial_jax.music.piece import PLAY, Piece, canonical_roll
from biaxial_jax.music.scores import score_to_piece

# (corpus file, song number): the first two songs of each meter in Erk's collection with a pickup, 9-15 bars and no
# change of meter.
FOLK_SONGS = (('essenFolksong/erk10', 1), ('essenFolksong/erk10', 5),  # 2/4
              ('essenFolksong/erk10', 32), ('essenFolksong/erk10', 33),  # 3/4
              ('essenFolksong/erk10', 4), ('essenFolksong/erk10', 41),  # 4/4
              ('essenFolksong/erk10', 14), ('essenFolksong/erk10', 16))  # 6/8


def top_voice(piece: Piece) -> Piece:
  """The highest sounding note of every step (a soprano line from a polyphonic piece), its repeats kept."""
  play = piece.roll[..., PLAY].astype(bool)
  top = np.where(play.any(axis=1), piece.num_notes - 1 - np.argmax(play[:, ::-1], axis=1), -1)
  roll = np.zeros_like(piece.roll)
  steps = np.flatnonzero(top >= 0)
  roll[steps, top[steps]] = piece.roll[steps, top[steps]]
  return piece.with_roll(canonical_roll(roll))


def folk_songs(*, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4) -> list[Piece]:
  """The `FOLK_SONGS` as `Piece`s (named `erk10#N`), parsed from music21's corpus (a few seconds)."""
  pieces = []
  for path, number in FOLK_SONGS:
    score = corpus.parse(path, number=number)
    name = f'{path.rsplit("/", 1)[-1]}#{number}'
    pieces.append(score_to_piece(score, name, lowest=lowest, num_notes=num_notes,
                                   steps_per_quarter=steps_per_quarter, out_of_range='error'))
  return pieces
