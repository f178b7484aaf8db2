"""Data sets by name or path: `load_dataset(name_or_path)` takes
- `'bach_chorales'`: the Bach chorales in music21's corpus, parsed from MusicXML (true durations and ties), cached
  (`music.corpus`);
- `'music21_styles'`: pieces of music21's corpus in several styles (`music.styles`), each piece's `style` set;
- a folder: every `.mid`/`.midi` file under it (`music.midi_folders`); a subfolder per style gives the styles;
- a `.pickle`/`.pkl`/`.json` file in the Boulanger-Lewandowski benchmark format (`music.benchmark_files`).

Splits of the corpus and of folders are by a stable hash of each piece's identifier (`music.dataset`).
"""

from __future__ import annotations

import os

from biaxial_jax.music import styles
from biaxial_jax.music.benchmark_files import load_benchmark
from biaxial_jax.music.corpus import load_bach_chorales
from biaxial_jax.music.dataset import SPLITS, Dataset, DatasetError
from biaxial_jax.music.midi_folders import load_midi_folder
from biaxial_jax.music.piece import Grid, RangePolicy

EMBEDDED = ('bach_chorales', 'music21_styles')

__all__ = ['EMBEDDED', 'SPLITS', 'Dataset', 'DatasetError', 'load_dataset']


def load_dataset(name_or_path: str, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold') -> Dataset:
  """Loads a data set by name (`'bach_chorales'`, `'music21_styles'`), MIDI folder, or benchmark file (`.pickle`,
  `.pkl`, `.json`), on `grid`."""
  kwargs = dict(grid=grid, out_of_range=out_of_range)
  if name_or_path == 'bach_chorales':
    return load_bach_chorales(**kwargs)
  if name_or_path == 'music21_styles':
    return styles.load_music21_styles(**kwargs)
  if os.path.isdir(name_or_path):
    return load_midi_folder(name_or_path, **kwargs)
  if os.path.isfile(name_or_path) and name_or_path.lower().endswith(('.pickle', '.pkl', '.json')):
    return load_benchmark(name_or_path, **kwargs)
  raise DatasetError(f'{name_or_path!r}: not a known data set ({", ".join(EMBEDDED)}), a folder of MIDI files, nor a '
                     '.pickle/.pkl/.json benchmark file')
