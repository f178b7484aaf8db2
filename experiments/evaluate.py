r"""Evaluates a checkpoint: likelihood on whole pieces (the papers' protocol), or the music it makes.

  python experiments/evaluate.py --checkpoint=runs/small --dataset=bach_chorales --split=test
  python experiments/evaluate.py --checkpoint=runs/jsb_bl --best --split=test --protocol=bl88
  python experiments/evaluate.py --checkpoint=bach --mode=music --num_samples=16 --output_dir=out/music
  python experiments/evaluate.py --checkpoint=bach --mode=harmonize --output_dir=out/harmonize
  python experiments/evaluate.py --checkpoint=bach --mode=continue --output_dir=out/continue
  python experiments/evaluate.py --checkpoint=bach --mode=joins --num_samples=16 --output_dir=out/joins
  python experiments/evaluate.py --checkpoint=runs/styles --best --mode=styles --num_steps=128 --output_dir=out/styles

Modes: `likelihood`; `music`: statistics of free samples against the split's pieces (histograms, copying, and the
harmonic statistics, voice leading and register of `biaxial_jax.music.harmony`); `harmonize`: the split's chorale sopranos harmonized against
Bach's own harmonizations of them, and the folk songs of `biaxial_jax.music.melodies` harmonized (one output per
melody and seed, --num_samples seeds from --seed); `continue`: the first 4 bars of each of the split's pieces
continued to 16 bars, the continuations' harmonic statistics against the real pieces; `joins`: motif return, bridging and a prepared ending, one output
per seed, the model's NLL around each join for the SMC sampler and the plain masked sampler; `styles` (a model with
styles): a style classifier (`biaxial_jax.style_classifier`) fitted to passages of the train split, its accuracy on
the split's passages, and the share of --num_samples pieces per style classified as the style asked for.
"""

import json
import os

import numpy as np
from absl import app, flags

from biaxial_jax import cli, evaluation, metrics, render, studies, style_classifier
from biaxial_jax.checkpoint import CheckpointError
from biaxial_jax.errors import BiaxialError, GenerationError
from biaxial_jax.generation import Controls, Request, load_checkpoint
from biaxial_jax.music import harmony, melodies
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
_PARTICLES = flags.DEFINE_integer('particles', None, 'Harmonize mode: SMC particles (default: the sampler\'s); 1 '
                                  'is the plain masked sampler.', lower_bound=1)
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace results of an earlier evaluation in --output_dir.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where results.json (and in music mode report.md and '
                                  'statistics.png) go; default: print only.')


HARMONY_ROWS = (('complete major/minor triads, share of beats', 'share_triad'),
                ('diminished/augmented triads', 'share_dim_aug'), ('seventh chords', 'share_seventh'),
                ('incomplete chords', 'share_incomplete'), ('other (non-tertian) sonorities', 'share_other'),
                ('a minor second directly under the top voice', 'clash_share'), ('5 or more notes', 'crowded_share'),
                ('downbeats on a major/minor triad (not six-four)', 'consonant_downbeat_share'),
                ('cadences per 4 bars', 'cadences_per_4_bars'),
                ('4-bar windows in the piece\'s key', 'key_window_share'),
                ('4-bar windows in its key or the relative one', 'key_signature_window_share'),
                ('phrase ends on a root-position major/minor triad, share of them', 'phrase_end_triad_share'),
                ('phrase ends reached by a bass 4th/5th, share of them', 'phrase_end_leap_share'),
                ('final chord a root-position major/minor triad', 'final_root_position_triad_share'),
                ('parallel fifths per 100 chord transitions', 'parallel_fifths_per_100'),
                ('parallel octaves/unisons per 100 chord transitions', 'parallel_octaves_per_100'),
                ('onsets where every voice sounds', 'every_voice_share'),
                ('onsets with two voices crossed', 'crossed_share'),
                ('onsets with upper voices over an octave apart', 'spread_share'),
                ('chords inside one voice (steps)', 'chords_in_voice'),
                ('scores of exactly four voices', 'four_voice_share'),
                ('median lowest pitch per 4-bar window (MIDI)', 'register_low_median'),
                ('median highest pitch per 4-bar window (MIDI)', 'register_high_median'))
RANGE_ROWS = ('soprano_range', 'alto_range', 'tenor_range', 'bass_range')


def _harmony_table(columns: dict) -> str:
  """Harmonic statistics side by side, one column per set of pieces."""
  lines = ['| per beat (unless said) | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
  lines += [f'| {label} | ' + ' | '.join(f'{c[key]:.3f}' for c in columns.values()) + ' |'
            for label, key in HARMONY_ROWS]
  lines += [f'| {key.replace("_", " ")} (MIDI) | ' + ' | '.join(f'{c[key][0]}-{c[key][1]}' for c in columns.values())
            + ' |' for key in RANGE_ROWS]
  lines.append('| pieces / beats | ' + ' | '.join(f'{c["pieces"]} / {c["beats"]}' for c in columns.values()) + ' |')
  return '\n'.join(lines)


def _music_table(comparison: dict) -> str:
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
  harmony = _harmony_table({'generated': comparison['harmony_generated'], 'real': comparison['harmony_real']})
  return '\n'.join(lines) + '\n\n' + harmony


def _harmonize_table(result: dict) -> str:
  columns = {'sopranos harmonized': result['sopranos']['generated'], 'folk songs harmonized':
             result['folk']['generated'], "Bach's harmonizations": result['sopranos']['reference']}
  exact = [result[k]['melody_exact'] == result[k]['outputs'] for k in ('sopranos', 'folk')]
  return (_harmony_table(columns) + f'\n\nmelody exact in every output: {all(exact)}; '
          f'{result["sopranos"]["outputs"] + result["folk"]["outputs"]} outputs in '
          f'{result["sopranos"]["seconds"] + result["folk"]["seconds"]:.0f} s')


def _joins_table(result: dict) -> str:
  lines = ['| case | join NLL/step | median step elsewhere | ratio | median same-place window elsewhere | ratio |',
           '|---|---|---|---|---|---|']
  lines += [f'| {name} | {r["join_nll"]:.3f} | {r["median_step_nll_elsewhere"]:.3f} | {r["ratio_to_median_step"]:.2f} '
            f'| {r["median_window_nll_elsewhere"]:.3f} | {r["ratio_to_median_window"]:.2f} |'
            for name, r in result['cases'].items()]
  return '\n'.join(lines)


def _styles_table(result: dict) -> str:
  lines = [f'| style | classifier on real {result["split"]} passages | generated pieces classified as asked | '
           'classified as (generated) |', '|---|---|---|---|']
  for style in result['styles']:
    row = ', '.join(f'{other} {count}' for other, count in result['confusion'][style].items() if count)
    lines.append(f'| {style} | {result["real"].get(style, float("nan")):.2f} | '
                 f'{result["generated"].get(style, float("nan")):.2f} | {row} |')
  lines.append(f'\nchance: {result["chance"]:.2f}')
  if 'dynamics' in result:
    lines += ['', '| style | velocities of | pieces | mean | share per bin 1-16 ... 113-127 | bar-to-bar std |',
              '|---|---|---|---|---|---|']
    for style, sides in result['dynamics'].items():
      for side, profile in sides.items():
        if profile['pieces']:
          lines.append(f'| {style} | {side} | {profile["pieces"]} | {profile["mean"]:.1f} | '
                       f'{" ".join(f"{x:.2f}" for x in profile["histogram"])} | {profile["bar_to_bar_std"]:.1f} |')
  return '\n'.join(lines)


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
                    controls=Controls(temperature=_TEMPERATURE.value, particles=_PARTICLES.value))
        result = {'sopranos': studies.harmonization_study(composer, [melodies.top_voice(p) for p in pieces], seeds,
                                                          references=pieces, **args),
                  'folk': studies.harmonization_study(composer, melodies.folk_songs(**grid._asdict()), seeds, **args)}
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
  tables = {'music': _music_table, 'harmonize': _harmonize_table, 'joins': _joins_table, 'styles': _styles_table,
            'continue': lambda r: _harmony_table({'continuations (bars 5-16)': r['continued']['generated'],
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
  app.run(main, flags_parser=cli.parse_flags)
