r"""Evaluates a checkpoint: likelihood on whole pieces (the papers' protocol), or musical statistics of its samples.

  python experiments/evaluate.py --checkpoint=runs/small --dataset=bach_chorales --split=test
  python experiments/evaluate.py --checkpoint=runs/jsb_bl --best --split=test --protocol=bl88
  python experiments/evaluate.py --checkpoint=runs/small --mode=music --num_samples=16 --output_dir=out/eval
"""

import json
import os

from absl import app, flags

from biaxial_jax import cli

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, "A training workdir, an exported model, or 'bach'.")
_BEST = flags.DEFINE_boolean('best', False, 'From a training workdir, use the checkpoint with the lowest valid NLL '
                             'instead of the newest.')
_MODE = flags.DEFINE_enum('mode', 'likelihood', ['likelihood', 'music'], 'What to measure.')
_DATASET = flags.DEFINE_string('dataset', None, "Data set name or path (default: the checkpoint's own).")
_SPLIT = flags.DEFINE_enum('split', 'test', ['train', 'valid', 'test'], 'Split to score (likelihood) or to compare '
                           'with (music).')
_PROTOCOL = flags.DEFINE_enum('protocol', 'model', ['model', 'bl88'], "model: the model's notes and articulation; "
                              'bl88: the Boulanger-Lewandowski protocol (88 keys, play bits).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Whole pieces per evaluation batch.', lower_bound=1)
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 16, 'Music mode: pieces to generate.', lower_bound=1)
_NUM_STEPS = flags.DEFINE_integer('num_steps', 256, 'Music mode: steps per generated piece.', lower_bound=1)
_SEED = flags.DEFINE_integer('seed', 0, 'Music mode: sampling seed.', lower_bound=0)
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Music mode: sampling temperature.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace results of an earlier evaluation in --output_dir.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where results.json (and in music mode report.md and '
                                  'statistics.png) go; default: print only.')


def _table(comparison: dict) -> str:
  gen, real = comparison['generated'], comparison['real']
  rows = [('mean notes sounding', 'mean_polyphony'), ('silent steps', 'silent_share'),
          ('repeated (re-struck) notes', 'repeated_share'), ('in-key note steps', 'in_key_share')]
  lines = ['| statistic | generated | real |', '|---|---|---|']
  lines += [f'| {label} | {gen[key]:.3f} | {real[key]:.3f} |' for label, key in rows]
  lengths = {n: (gen['note_lengths'][n], real['note_lengths'][n]) for n in (1, 2, 3, 4, 6, 8, 12, 16)}
  lines += [f'| notes of {n} steps | {g:.3f} | {r:.3f} |' for n, (g, r) in lengths.items()]
  lines += [f'| distance of {k.replace("_", " ")} histograms | {v:.3f} | |'
            for k, v in comparison['distance'].items()]
  if 'longest_copied_bars' in comparison:
    lines.append(f'| longest run of bars copied from training (transposed) | {comparison["longest_copied_bars"]} | '
                 f'{comparison["longest_copied_bars_real"]} |')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _CHECKPOINT.value or not (os.path.isdir(_CHECKPOINT.value) or _CHECKPOINT.value == 'bach'):
    cli.fail(f'--checkpoint: {_CHECKPOINT.value}: no such folder' if _CHECKPOINT.value else
             '--checkpoint is required: a training workdir')
  if not _TEMPERATURE.value > 0:
    cli.fail(f'--temperature must be > 0, got {_TEMPERATURE.value}')
  if _OUTPUT_DIR.value:
    cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
    existing = [f for f in ('results.json', 'report.md', 'statistics.png')
                if os.path.exists(os.path.join(_OUTPUT_DIR.value, f))]
    if existing and not _OVERWRITE.value:
      cli.fail(f'--output_dir: {os.path.join(_OUTPUT_DIR.value, existing[0])} exists; pass --overwrite or another '
               '--output_dir')
  cli.quiet_library_logs()
  import numpy as np  # pylint: disable=import-outside-toplevel
  from biaxial_jax import evaluation, generate, metrics, render  # pylint: disable=import-outside-toplevel
  from biaxial_jax.checkpoint import CheckpointError  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.files import atomic_path  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.piece import BiaxialError  # pylint: disable=import-outside-toplevel

  try:
    composer = generate.load_checkpoint(_CHECKPOINT.value, best=_BEST.value)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  dataset = _DATASET.value or composer.config.data.dataset
  try:
    if _MODE.value == 'likelihood' and _PROTOCOL.value == 'bl88':
      result = evaluation.benchmark_likelihood(composer, dataset, _SPLIT.value, _BATCH_SIZE.value)
    else:
      data = evaluation.dataset_for(composer, dataset)
      pieces = data.split(_SPLIT.value)
      if not pieces:
        cli.fail(f'--split: {dataset} has no {_SPLIT.value} pieces')
      if _MODE.value == 'likelihood':
        result = evaluation.likelihood(composer, pieces, _BATCH_SIZE.value)
      else:
        samples = composer.sample(_NUM_STEPS.value, num_samples=_NUM_SAMPLES.value, seed=_SEED.value,
                                  temperature=_TEMPERATURE.value)
        result = metrics.compare(samples, pieces, data.train)
  except BiaxialError as e:
    cli.fail(f'--dataset: {e}', code=1)
  result.update(checkpoint=_CHECKPOINT.value, step=composer.step, dataset=dataset, split=_SPLIT.value,
                mode=_MODE.value, protocol=_PROTOCOL.value)
  as_json = json.dumps(result, indent=2, default=lambda x: np.asarray(x).tolist())
  if _MODE.value == 'likelihood':
    print('\n'.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}' for k, v in result.items()))
  else:
    print(_table(result))
  if _OUTPUT_DIR.value:
    with atomic_path(os.path.join(_OUTPUT_DIR.value, 'results.json')) as tmp, open(tmp, 'w') as f:
      f.write(as_json)
    if _MODE.value == 'music':
      render.statistics_plot(result, os.path.join(_OUTPUT_DIR.value, 'statistics.png'))
      report = (f'# Generated vs real ({dataset}, {_SPLIT.value} split)\n\n{_NUM_SAMPLES.value} samples of '
                f'{_NUM_STEPS.value} steps from {_CHECKPOINT.value} (step {composer.step}), seed {_SEED.value}, '
                f'temperature {_TEMPERATURE.value:g}.\n\n{_table(result)}\n\n![statistics](statistics.png)\n')
      with atomic_path(os.path.join(_OUTPUT_DIR.value, 'report.md')) as tmp, open(tmp, 'w') as f:
        f.write(report)
    print(f'wrote {_OUTPUT_DIR.value}/results.json')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
