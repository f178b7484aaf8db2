"""A data set: train/valid/test tuples of `Piece`s, split by a stable hash of each piece's identifier (about
80/10/10, never by load order), and the files that were skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys

import tqdm

from biaxial_jax.errors import BiaxialError
from biaxial_jax.music.piece import Piece

SPLITS = ('train', 'valid', 'test')
class DatasetError(BiaxialError):
  """A data set that cannot be loaded; the message names it."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Pieces by split, and the files that were skipped as `(path, reason)`."""
  name: str
  train: tuple[Piece, ...]
  valid: tuple[Piece, ...]
  test: tuple[Piece, ...]
  skipped: tuple[tuple[str, str], ...] = ()

  def split(self, name: str) -> tuple[Piece, ...]:
    if name not in SPLITS:
      raise ValueError(f'split must be one of {SPLITS}, got {name!r}')
    return getattr(self, name)

  def style_counts(self) -> dict[str | None, dict[str, tuple[int, int]]]:
    """`{style: {split: (pieces, steps)}}` (style None: pieces without one)."""
    out = {}
    for split in SPLITS:
      for piece in self.split(split):
        pieces, steps = out.setdefault(piece.style, {}).get(split, (0, 0))
        out[piece.style][split] = (pieces + 1, steps + piece.num_steps)
    return out

  def summary(self) -> str:
    parts = [f'{s} {len(self.split(s))} pieces / {sum(p.num_steps for p in self.split(s))} steps' for s in SPLITS]
    return f'{self.name}: ' + ', '.join(parts) + (f'; {len(self.skipped)} files skipped' if self.skipped else '')


def split_of(identifier: str) -> str:
  """The split of a piece, from a stable hash of its identifier: about 80% train, 10% valid, 10% test."""
  bucket = int.from_bytes(hashlib.sha256(identifier.encode()).digest()[:8], 'big') % 100
  return 'train' if bucket < 80 else 'valid' if bucket < 90 else 'test'


def by_split(name: str, pieces_with_ids, skipped=()) -> Dataset:
  """A `Dataset` of `(identifier, piece)` pairs, each in the split of its identifier (`split_of`), in identifier
  order."""
  splits = {s: [] for s in SPLITS}
  for identifier, piece in sorted(pieces_with_ids, key=lambda item: item[0]):
    splits[split_of(identifier)].append(piece)
  return Dataset(name, *(tuple(splits[s]) for s in SPLITS), skipped=tuple(skipped))


def progress(iterable, total, label):
  """Yields from `iterable`, drawing a progress bar on stderr when it is a terminal (else a few log lines)."""
  yield from tqdm.tqdm(iterable, total=total, desc=label, unit='file', disable=None, file=sys.stderr)
