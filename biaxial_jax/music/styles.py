"""A corpus of several styles from music21's own corpus (offline, nothing to download): `load_music21_styles`.

| style         | sources in music21's corpus                                                  | texture          |
|---------------|------------------------------------------------------------------------------|------------------|
| `chorale`     | the Bach chorales (`bach_chorales`: the same pieces, splits and cache)       | 4-part homophony |
| `renaissance` | Monteverdi's madrigals, Josquin, 150 of Palestrina's 1,318 mass movements    | vocal polyphony  |
| `medieval`    | the trecento ballate and madrigals (Landini, Ciconia ...)                    | 2-3 voices       |
| `classical`   | the string quartet movements of Haydn, Mozart and Beethoven                  | quartet writing  |

Left out, and why: ragtime (music21 holds one Joplin rag: a style of one piece cannot be learned or held out); the
folk collections (Essen, Ryan's Mammoth, O'Neill) are single melodies, and a polyphonic model would learn "one voice"
as their style rather than anything about folk music, while harmonizing them is what `--harmonize` already does.
Palestrina is capped (chosen by a stable hash of the file name) so that one composer does not outweigh the rest of
the corpus eightfold; training draws styles evenly anyway (`batches.training_batch`).

Every piece keeps what its score says: meter, pickup, key and fermatas. Splits are by a stable hash of each file's
corpus path, as for the chorales; the parsed corpus is cached beside them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os

from music21 import corpus, stream

from biaxial_jax.music.corpus import cached_corpus, load_bach_chorales
from biaxial_jax.music.dataset import Dataset, DatasetError, progress
from biaxial_jax.music.piece import Grid, Piece, RangePolicy
from biaxial_jax.music.scores import score_to_piece

STYLES = ('chorale', 'classical', 'medieval', 'renaissance')
PALESTRINA_PIECES = 150
# style -> (music21 composer directories, extensions read); the chorales come from `load_bach_chorales`.
_SOURCES = {'classical': (('haydn', 'mozart', 'beethoven'), ('.mxl', '.xml', '.krn')),
            'medieval': (('trecento',), ('.mxl', '.xml')),
            'renaissance': (('monteverdi', 'josquin', 'palestrina'), ('.mxl', '.xml', '.abc', '.krn'))}


def _stable_order(path: str) -> bytes:
  return hashlib.sha256(os.path.basename(path).encode()).digest()


def style_sources() -> list[tuple[str, str]]:
  """`(style, corpus path)` of every score of the styles besides the chorales, in a fixed order."""
  out = []
  for style, (composers, extensions) in sorted(_SOURCES.items()):
    for composer in composers:
      paths = sorted(str(p) for p in corpus.getComposer(composer) if str(p).lower().endswith(extensions))
      if composer == 'palestrina':
        paths = sorted(sorted(paths, key=_stable_order)[:PALESTRINA_PIECES])
      out += [(style, p) for p in paths]
  return out


def _identifier(path: str) -> str:
  """A corpus path relative to music21's corpus folder: the same on every machine, so the splits are too."""
  parts = path.replace(os.sep, '/').split('/')
  return '/'.join(parts[parts.index('corpus') + 1:]) if 'corpus' in parts else os.path.basename(path)


def _parse(path: str, identifier: str, style: str, kwargs) -> list[tuple[str, Piece]]:
  """The pieces of one file: a score, or each score of a collection (an ABC file of several songs)."""
  parsed = corpus.parse(path)
  scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
  out = []
  for i, score in enumerate(scores):
    name = identifier if len(scores) == 1 else f'{identifier}#{i}'
    out.append((name, dataclasses.replace(score_to_piece(score, name, **kwargs), style=style)))
  return out


def load_music21_styles(*, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold', refresh: bool = False) -> Dataset:
  """The styles of the table above, parsed once (a few minutes, with a progress bar) and then loaded from the
  cache; each piece's `style` is set."""
  on_grid = dict(grid=grid, out_of_range=out_of_range)

  def build():
    sources = style_sources()
    chorales = load_bach_chorales(**on_grid)
    pieces = [(piece.name, dataclasses.replace(piece, style='chorale'))
              for split in ('train', 'valid', 'test') for piece in chorales.split(split)]
    skipped = list(chorales.skipped)
    for style, source in progress(sources, len(sources), 'parsing the styles corpus (first use only)'):
      identifier = _identifier(source)
      try:
        pieces += _parse(source, identifier, style, on_grid)
      except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on odd scores; skip them
        skipped.append((identifier, f'{type(e).__name__}: {str(e)[:200]}'))
    for identifier, reason in skipped:
      logging.warning('skipped %s: %s', identifier, reason)
    if not any(piece.style != 'chorale' for _, piece in pieces):
      raise DatasetError(f'music21_styles: none of its {len(sources)} scores could be parsed')
    return pieces, skipped

  return cached_corpus('music21_styles', build, refresh=refresh, **on_grid)
