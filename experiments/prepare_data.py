r"""Loads a data set (building the corpus cache on first use), prints its size (per style where the pieces have
styles), writes one piece back to MIDI.

  python experiments/prepare_data.py --dataset=bach_chorales --output_dir=out
  python experiments/prepare_data.py --dataset=music21_styles --output_dir=out
"""

import os
import time

from absl import app, flags

import biaxial_jax as bj
from biaxial_jax import cli

_DATASET = flags.DEFINE_string('dataset', 'bach_chorales', 'bach_chorales, music21_styles, a folder of MIDI '
                               'files (a style per subfolder), or a benchmark file.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', 'out', 'Where the example MIDI file goes.')
_LOWEST = flags.DEFINE_integer('lowest', 24, 'MIDI note number of the lowest note of the roll, in [0, 127].')
_NUM_NOTES = flags.DEFINE_integer('num_notes', 78, 'Notes in the roll.')
_STEPS_PER_QUARTER = flags.DEFINE_integer('steps_per_quarter', 4, 'Grid steps per quarter note.', lower_bound=1)
_OUT_OF_RANGE = flags.DEFINE_enum('out_of_range', 'fold', ['fold', 'drop', 'error'], 'Policy for notes out of range.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace the example file if it exists.')


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not 0 <= _LOWEST.value or _NUM_NOTES.value < 1 or _LOWEST.value + _NUM_NOTES.value - 1 > 127:
    cli.fail(f'--lowest/--num_notes: notes {_LOWEST.value}..{_LOWEST.value + _NUM_NOTES.value - 1} fall outside '
             'MIDI 0..127')
  cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
  start = time.perf_counter()
  try:
    data = bj.load_dataset(_DATASET.value, grid=bj.Grid(_LOWEST.value, _NUM_NOTES.value, _STEPS_PER_QUARTER.value),
                           out_of_range=_OUT_OF_RANGE.value)
  except bj.BiaxialError as e:
    cli.fail(f'--dataset: {e}')
  print(f'{data.summary()} (loaded in {time.perf_counter() - start:.2f} s)')
  for style, splits in sorted(data.style_counts().items(), key=lambda item: str(item[0])):
    if style is not None:
      print(f'  {style}: ' + ', '.join(f'{split} {pieces} pieces / {steps} steps'
                                       for split, (pieces, steps) in splits.items()))
  piece = (data.test or data.valid or data.train)[0]
  name = os.path.basename(piece.name)  # 'bach/bwv103.6' -> 'bwv103.6'; 'song.mid' -> 'song'
  name = (name[:-len(os.path.splitext(name)[1])] if name.lower().endswith(('.mid', '.midi')) else name) or 'piece'
  path = os.path.join(_OUTPUT_DIR.value, f'{name}.mid')
  if os.path.exists(path) and not _OVERWRITE.value:
    cli.fail(f'--output_dir: {path} exists; pass --overwrite or another --output_dir')
  bj.write_midi(piece, path, program=19)
  print(f'wrote {path}: {piece}')


if __name__ == '__main__':
  app.run(cli.full_disk_is_one_line(main), flags_parser=cli.parse_flags)
