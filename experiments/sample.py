r"""Generates music from a checkpoint: MIDI, piano-roll PNG, WAV (where FluidSynth is installed) and index.html.

  python experiments/sample.py --checkpoint=runs/small --output_dir=out/samples --seed=0 --num_steps=256 \
      --temperature=1.0 [--primer=a.mid] [--harmonize=melody.mid] [--num_samples=4] [--tempo=80] [--program=19]
"""

import os

from absl import app, flags

from biaxial_jax import cli

SHIPPED_MODELS = ('bach',)  # biaxial_jax.pretrained.SHIPPED, named here so that a typo costs no jax start-up
_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'A training workdir (its newest readable checkpoint), an '
                                  "exported model folder, or a shipped model's name ('bach').")
_BEST = flags.DEFINE_boolean('best', False, 'From a training workdir, use the checkpoint with the lowest valid NLL '
                             'instead of the newest.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', 'out/samples', 'Where the files go (created if missing).')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed: the same seed and flags give the same files.', lower_bound=0)
_NUM_STEPS = flags.DEFINE_integer('num_steps', None, 'Length in grid steps (default 256; with --harmonize, the '
                                  "melody's length).", lower_bound=1)
_NUM_BARS = flags.DEFINE_integer('num_bars', None, 'Length in bars of --time_signature (instead of --num_steps).',
                                 lower_bound=1)
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1, 'Pieces to generate (sampled together).', lower_bound=1)
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Divides the logits: < 1 safer, > 1 wilder.')
_CONSERVATIVITY = flags.DEFINE_float('conservativity', 1.0, 'Exponent on P(play): > 1 fewer notes (the original).')
_ADAPTIVE = flags.DEFINE_boolean('adaptive', False, "The original's anti-silence mode.")
_PRIMER = flags.DEFINE_string('primer', None, 'A MIDI file kept verbatim at the start; the model continues it.')
_HARMONIZE = flags.DEFINE_string('harmonize', None, 'A MIDI melody (its top voice) to keep exactly and harmonize.')
_FIXED = flags.DEFINE_string('fixed_notes', None, 'A .npz file with arrays mask and values, [T, N, 2] (or a [T, N] '
                             'mask): notes the sampler must obey.')
_ALLOW_ABOVE = flags.DEFINE_boolean('allow_above_melody', False, 'With --harmonize: allow notes above the melody.')
_TIME_SIGNATURE = flags.DEFINE_string('time_signature', '4/4', 'Meter when no primer or melody gives one.')
_TEMPO = flags.DEFINE_float('tempo', None, 'Quarter notes per minute (default: the primer/melody tempo, else 100).')
_PROGRAM = flags.DEFINE_integer('program', 0, 'General MIDI program (0 piano, 19 church organ).', lower_bound=0,
                                upper_bound=127)
_VELOCITY = flags.DEFINE_integer('velocity', 80, 'Note-on velocity.', lower_bound=1, upper_bound=127)
_WAV = flags.DEFINE_boolean('wav', True, 'Render WAV files with FluidSynth when it is installed.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace files of the same names in --output_dir.')


# Composer.sample's keyword arguments, as this script's flags (errors name the flag the user typed).
_FLAG_OF_ARGUMENT = {'num_steps': '--num_steps', 'num_samples': '--num_samples', 'seed': '--seed',
                     'temperature': '--temperature', 'conservativity': '--conservativity', 'primer': '--primer',
                     'melody': '--harmonize', 'fixed': '--fixed_notes', 'tempo': '--tempo',
                     'time_signature': '--time_signature'}


def _time_signature() -> tuple[int, int]:
  try:
    numerator, denominator = (int(x) for x in _TIME_SIGNATURE.value.split('/'))
    return numerator, denominator
  except ValueError:
    cli.fail(f'--time_signature: expected N/D such as 3/4, got {_TIME_SIGNATURE.value!r}')


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _CHECKPOINT.value:
    cli.fail('--checkpoint is required: a training workdir')
  for flag in (_PRIMER, _HARMONIZE, _FIXED):
    if flag.value and not os.path.isfile(flag.value):
      cli.fail(f'--{flag.name}: {flag.value}: no such file')
  if not os.path.isdir(_CHECKPOINT.value) and _CHECKPOINT.value not in SHIPPED_MODELS:
    cli.fail(f'--checkpoint: {_CHECKPOINT.value}: no such folder (nor a shipped model: {", ".join(SHIPPED_MODELS)})')
  if _NUM_STEPS.value and _NUM_BARS.value:
    cli.fail('--num_steps and --num_bars: give one of them')
  meter = _time_signature()
  cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
  fixed = None
  if _FIXED.value:
    import numpy as np  # pylint: disable=import-outside-toplevel
    try:
      with np.load(_FIXED.value, allow_pickle=False) as z:
        fixed = (z['mask'], z['values'])
    except (OSError, ValueError, KeyError) as e:
      cli.fail(f'--fixed_notes: {_FIXED.value}: expected an .npz file with arrays mask and values ({e})')
  cli.quiet_library_logs()
  from biaxial_jax import generate, render  # pylint: disable=import-outside-toplevel
  from biaxial_jax.checkpoint import CheckpointError  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.midi import write_midi  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.piece import BiaxialError, TimeSignature  # pylint: disable=import-outside-toplevel

  try:
    composer = generate.load_checkpoint(_CHECKPOINT.value, best=_BEST.value)
    num_steps = _NUM_STEPS.value
    if _NUM_BARS.value:
      num_steps = _NUM_BARS.value * TimeSignature(0, *meter).steps_per_bar(composer.steps_per_quarter)
    names = [f'sample_{_SEED.value}_{i}' for i in range(_NUM_SAMPLES.value)]
    outputs = [os.path.join(_OUTPUT_DIR.value, f'{name}.{ext}') for name in names for ext in ('mid', 'png', 'wav')]
    existing = [p for p in outputs + [os.path.join(_OUTPUT_DIR.value, 'index.html')] if os.path.exists(p)]
    if existing and not _OVERWRITE.value:
      cli.fail(f'--output_dir: {existing[0]} exists ({len(existing)} files would be replaced); pass --overwrite or '
               'another --seed or --output_dir')
    pieces = composer.sample(num_steps, num_samples=_NUM_SAMPLES.value, seed=_SEED.value,
                             temperature=_TEMPERATURE.value, conservativity=_CONSERVATIVITY.value,
                             adaptive=_ADAPTIVE.value, primer=_PRIMER.value, melody=_HARMONIZE.value, fixed=fixed,
                             forbid_above_melody=not _ALLOW_ABOVE.value, time_signature=meter, tempo=_TEMPO.value)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  except BiaxialError as e:
    argument, _, rest = str(e).partition(': ')
    flag = _FLAG_OF_ARGUMENT.get(argument)
    cli.fail(f'{flag}: {rest}' if flag else str(e), code=1)
  entries, notes = [], set()
  for name, piece in zip(names, pieces):
    midi = write_midi(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.mid'), program=_PROGRAM.value,
                      velocity=_VELOCITY.value)
    info = (f'{piece.num_steps} steps, {piece.time_signatures[-1].numerator}/{piece.time_signatures[-1].denominator}, '
            f'{piece.tempos[0].qpm:g} qpm, seed {_SEED.value}, temperature {_TEMPERATURE.value:g}')
    render.piano_roll_png(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.png'), title=f'{name}: {info}')
    wav = None
    if _WAV.value:
      wav, note = render.render_wav(midi, os.path.join(_OUTPUT_DIR.value, f'{name}.wav'))
      notes.add(note)
    entries.append({'name': name, 'midi': f'{name}.mid', 'png': f'{name}.png', 'info': info,
                    'wav': wav and f'{name}.wav'})
    print(f'wrote {midi}' + (f' and {wav}' if wav else ''))
  page = render.index_html(entries, os.path.join(_OUTPUT_DIR.value, 'index.html'),
                           title=f'biaxial-jax samples from {_CHECKPOINT.value} (step {composer.step})')
  for note in sorted(n for n in notes if n):
    print(note)
  print(f'open {page} in a browser to look and listen')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
