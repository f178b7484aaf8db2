"""A folder of MIDI files as a data set: every `.mid`/`.midi` file under it, recursively; files that fail are skipped
and reported. When every file lies in a subfolder, the subfolder is its piece's style (`my_midi/<style>/...`)."""

from __future__ import annotations

import dataclasses
import logging
import os

from biaxial_jax.errors import BiaxialError
from biaxial_jax.music.dataset import Dataset, DatasetError, by_split, progress
from biaxial_jax.music.midi import read_midi_with_stats
from biaxial_jax.music.piece import STYLE_NAME, Grid, Piece, RangePolicy


def load_midi_folder(folder: str, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold') -> Dataset:
  """Every `.mid`/`.midi` file under `folder` (recursive); files that fail are skipped and listed in `skipped`."""
  paths = sorted(os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
                 if f.lower().endswith(('.mid', '.midi')))
  if not paths:
    raise DatasetError(f'{folder}: no .mid or .midi files in this folder')
  pieces, skipped = [], []
  for path in progress(paths, len(paths), f'reading {folder}'):
    try:
      piece, _ = read_midi_with_stats(path, grid=grid, out_of_range=out_of_range)
      if not piece.roll.any():
        raise DatasetError(f'{path}: contains no notes')
      pieces.append((os.path.relpath(path, folder), piece))
    except BiaxialError as e:
      skipped.append((path, str(e)))
  for path, reason in skipped:
    logging.warning('skipped %s', reason)
  pieces = _styled_by_subfolder(pieces)
  if not pieces:
    raise DatasetError(f'{folder}: none of its {len(paths)} MIDI files could be read (first: {skipped[0][1]})')
  logging.info('%s: loaded %d of %d MIDI files, skipped %d', folder, len(pieces), len(paths), len(skipped))
  return by_split(os.path.basename(os.path.normpath(folder)), pieces, skipped)


def _styled_by_subfolder(pieces: list[tuple[str, Piece]]) -> list[tuple[str, Piece]]:
  """Each piece's style from its top subfolder, when every file lies in one whose name is a style name (letters,
  digits, '_', '-'); else the pieces as they are (no styles)."""
  tops = [os.path.normpath(relative).split(os.sep)[0] if os.sep in os.path.normpath(relative) else None
          for relative, _ in pieces]
  if not pieces or not all(top and STYLE_NAME.fullmatch(top) for top in tops):
    return pieces
  logging.info('styles by subfolder: %s', ', '.join(sorted(set(tops))))
  return [(relative, dataclasses.replace(piece, style=top)) for (relative, piece), top in zip(pieces, tops)]
