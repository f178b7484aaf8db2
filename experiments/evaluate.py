r"""Evaluates a checkpoint: likelihood on whole pieces (the papers' protocol), or the music it makes.

  python experiments/evaluate.py --checkpoint=runs/small --dataset=bach_chorales --split=test
  python experiments/evaluate.py --checkpoint=runs/jsb_bl --best --split=test --protocol=bl88
  python experiments/evaluate.py --checkpoint=bach --mode=music --num_samples=16 --output_dir=out/music
  python experiments/evaluate.py --checkpoint=bach --mode=harmonize --output_dir=out/harmonize
  python experiments/evaluate.py --checkpoint=bach --mode=harmonize --tunebook=essenFolksong/erk20 \
      --output_dir=out/erk20
  python experiments/evaluate.py --checkpoint=bach --mode=continue --output_dir=out/continue
  python experiments/evaluate.py --checkpoint=bach --mode=joins --num_samples=16 --output_dir=out/joins
  python experiments/evaluate.py --checkpoint=runs/styles --best --mode=styles --num_steps=128 --output_dir=out/styles

Modes: `likelihood`; `music`: statistics of free samples against the split's pieces (histograms, copying, and the
harmonic statistics, voice leading and register of `biaxial_jax.analysis.harmony`); `harmonize`: the split's chorale
sopranos harmonized against Bach's own harmonizations of them, and the folk songs of `biaxial_jax.music.melodies`
harmonized as their tunebook marks their phrases and with the phrases heard in the melody (or a --tunebook's tunes,
without the sopranos; one output per melody and seed, --num_samples seeds from --seed); `continue`: the first 4 bars
of each of the split's pieces continued to 16 bars, the continuations' harmonic statistics against the real pieces;
`joins`: motif return, bridging and a prepared ending, one output per seed, the model's NLL around each join for the
SMC sampler and the plain masked sampler; `styles` (a model with styles): a style classifier
(`biaxial_jax.analysis.style_classifier`) fitted to passages of the train split, its accuracy on the split's
passages, and the share of --num_samples pieces per style classified as the style asked for.
"""

import dataclasses
import json
import os

import numpy as np
from absl import app, flags

from biaxial_jax import cli, evaluation, render
from biaxial_jax.analysis import harmony, metrics, reports, studies, style_classifier
from biaxial_jax.checkpoint import CheckpointError
from biaxial_jax.errors import BiaxialError, GenerationError
from biaxial_jax.generation import Controls, Request, load_checkpoint
from biaxial_jax.music import melodies
from biaxial_jax.music.files import atomic_path
from biaxial_jax.pretrained import SHIPPED

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'A training workdir, an exported model, or a shipped model '
                                  f"({', '.join(SHIPPED)}).")
_BEST = flags.DEFINE_boolean('best', False, 'From a training workdir, use the checkpoint with the lowest valid NLL '
                             'instead of the newest.')
_MODE = flags.DEFINE_enum('mode', 'likelihood', ['likelihood', 'music', 'harmonize', 'continue', 'joins', 'styles'],
                          'What to measure.')
_DATASET = flags.DEFINE_string('dataset', None, "Data set name or path (default: the checkpoint's own).")
_SPLIT = flags.DEFINE_enum('split', 'test', ['train', 'valid', 'test'], 'Split to score (likelihood) or to compare '
                           'with (music).')
_PROTOCOL = flags.DEFINE_enum('protocol', 'model', ['model', 'bl88'], "model: the model's notes and articulation; "
                              'bl88: the Boulanger-Lewandowski protocol (88 keys, play bits).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Whole pieces per evaluation batch.', lower_bound=1)
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 16, 'Music mode: pieces to generate; harmonize, continue and joins '
                                    'modes: seeds per melody, piece or case (default 1, 1 and 16).', lower_bound=1,
                                    upper_bound=4096)
_NUM_STEPS = flags.DEFINE_integer('num_steps', 256, 'Music mode: steps per generated piece.', lower_bound=1,
                                   upper_bound=100_000)
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed (the first, where several are used).', lower_bound=0,
                             upper_bound=2**63 - 1)
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Sampling temperature.')
_MAX_NOTES = flags.DEFINE_integer('max_notes', None, 'Music and harmonize modes: at most this many notes at once.',
                                  lower_bound=1)
_CADENCES = flags.DEFINE_boolean('cadences', None, 'Music, harmonize and continue modes: phrases end on root-position '
                                 "triads as a condition (default: the sampler's, on for a model with phrase inputs).")
_TUNEBOOK = flags.DEFINE_string('tunebook', None, 'Harmonize mode: an ABC tunebook (a file, or a music21 corpus name '
                                 'such as essenFolksong/erk20) whose first 16 tunes of 8-16 bars are harmonized in '
                                 'place of the folk songs, without the sopranos.')
_REDRAWS = flags.DEFINE_integer('redraws', Controls().redraws, 'Harmonize mode: draws of a phrase whose requirement '
                                'no particle met (0: none).', lower_bound=0)
_PARTICLES = flags.DEFINE_integer('particles', None, 'Harmonize mode: SMC particles (default: the sampler\'s); 1 '
                                  'is the plain masked sampler.', lower_bound=1)
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace results of an earlier evaluation in --output_dir.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where results.json (and in music mode report.md and '
                                  'statistics.png) go; default: print only.')


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  shipped = _CHECKPOINT.value in SHIPPED
  if not _CHECKPOINT.value or not (os.path.isdir(_CHECKPOINT.value) or shipped):
    cli.fail(f'--checkpoint: {_CHECKPOINT.value}: no such folder' if _CHECKPOINT.value else
             '--checkpoint is required: a training workdir')
  if not 0 < _TEMPERATURE.value < float('inf'):
    cli.fail(f'--temperature: must be a finite number > 0, got {_TEMPERATURE.value}')
  if _OUTPUT_DIR.value:
    cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
    existing = [f for f in ('results.json', 'report.md', 'statistics.png')
                if os.path.exists(os.path.join(_OUTPUT_DIR.value, f))]
    if existing and not _OVERWRITE.value:
      cli.fail(f'--output_dir: {os.path.join(_OUTPUT_DIR.value, existing[0])} exists; pass --overwrite or another '
               '--output_dir')
  cli.quiet_library_logs()
  cli.compile_once_per_machine()

  try:
    composer = load_checkpoint(_CHECKPOINT.value, best=_BEST.value)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  dataset = _DATASET.value or composer.config.data.dataset
  seeds = range(_SEED.value, _SEED.value + (_NUM_SAMPLES.value if _NUM_SAMPLES.present or
                                            _MODE.value not in ('harmonize', 'continue') else 1))
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
      elif _MODE.value == 'music':
        samples = composer.generate(Request(num_steps=_NUM_STEPS.value, max_notes=_MAX_NOTES.value,
                                            cadences=_CADENCES.value),
                                    Controls(num_samples=_NUM_SAMPLES.value, seed=_SEED.value,
                                             temperature=_TEMPERATURE.value)).pieces
        result = metrics.compare(samples, pieces, data.train)
        result.update(harmony_generated=harmony.statistics(samples), harmony_real=harmony.statistics(pieces))
      elif _MODE.value == 'continue':
        result = {'continued': studies.continuation_study(composer, pieces, seeds,
                                                          request=Request(cadences=_CADENCES.value),
                                                          controls=Controls(temperature=_TEMPERATURE.value)),
                  'real': harmony.statistics(pieces)}
      elif _MODE.value == 'harmonize':
        grid = composer.grid
        args = dict(request=Request(max_notes=_MAX_NOTES.value, cadences=_CADENCES.value),
                    controls=Controls(temperature=_TEMPERATURE.value, particles=_PARTICLES.value,
                                      redraws=_REDRAWS.value))
        folk = (melodies.tunebook_songs(_TUNEBOOK.value, grid=grid) if _TUNEBOOK.value else
                melodies.folk_songs(grid=grid))
        result = {'folk': studies.harmonization_study(composer, folk, seeds, **args),
                  'folk_heard': studies.harmonization_study(
                      composer, [dataclasses.replace(p, phrase_ends=None) for p in folk], seeds, **args),
                  'bach': harmony.statistics(pieces)}
        if not _TUNEBOOK.value:
          result['sopranos'] = studies.harmonization_study(
              composer, [melodies.top_voice(p) for p in pieces], seeds, **args)
      elif _MODE.value == 'styles':
        if not composer.config.model.styles:
          cli.fail(f'--mode: styles needs a model with styles; {_CHECKPOINT.value} has none', code=1)
        result = style_classifier.style_study(composer, data, _SPLIT.value, num_samples=_NUM_SAMPLES.value,
                                              num_steps=_NUM_STEPS.value, seed=_SEED.value,
                                              temperature=_TEMPERATURE.value)
      else:
        cases = studies.join_cases(pieces)
        result = {'cases': studies.join_study(composer, cases, seeds), 'joins': {c.name: c.joins for c in cases}}
  except GenerationError as e:
    cli.fail(f'--{e.field if e.field in flags.FLAGS else "checkpoint"}: {e.message}', code=1)
  except BiaxialError as e:
    cli.fail(f'--dataset: {e}', code=1)
  result.update(checkpoint=_CHECKPOINT.value, step=composer.step, dataset=dataset, split=_SPLIT.value,
                mode=_MODE.value, protocol=_PROTOCOL.value, seeds=list(seeds) if _MODE.value != 'likelihood' else None)
  as_json = json.dumps(result, indent=2, default=lambda x: np.asarray(x).tolist())
  tables = {'music': reports.music_table, 'harmonize': reports.harmonize_table, 'joins': reports.joins_table,
            'styles': reports.styles_table,
            'continue': lambda r: reports.harmony_table({'continuations (bars 5-16)': r['continued']['generated'],
                                                         'real': r['real']})}
  if _MODE.value == 'likelihood':
    print('\n'.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}' for k, v in result.items()))
  else:
    print(tables[_MODE.value](result))
  if _OUTPUT_DIR.value:
    with atomic_path(os.path.join(_OUTPUT_DIR.value, 'results.json')) as tmp, open(tmp, 'w') as f:
      f.write(as_json)
    if _MODE.value != 'likelihood':
      if _MODE.value == 'music':
        render.statistics_plot(result, os.path.join(_OUTPUT_DIR.value, 'statistics.png'))
      report = (f'# {_MODE.value} ({dataset}, {_SPLIT.value} split)\n\n{_CHECKPOINT.value} (step {composer.step}), '
                f'seeds {seeds.start}..{seeds.stop - 1}, temperature {_TEMPERATURE.value:g}.\n\n'
                f'{tables[_MODE.value](result)}\n'
                + ('\n![statistics](statistics.png)\n' if _MODE.value == 'music' else ''))
      with atomic_path(os.path.join(_OUTPUT_DIR.value, 'report.md')) as tmp, open(tmp, 'w') as f:
        f.write(report)
    print(f'wrote {_OUTPUT_DIR.value}/results.json')


if __name__ == '__main__':
  app.run(cli.full_disk_is_one_line(main), flags_parser=cli.parse_flags)
