r"""Generates music from a checkpoint: MIDI, piano-roll PNG, WAV (where FluidSynth is installed) and index.html.

  python experiments/sample.py --checkpoint=bach --output_dir=out/free --num_bars=16 --num_samples=4 --seed=1
  python experiments/sample.py --checkpoint=bach --output_dir=out/harmonized --harmonize=melody.mid
  python experiments/sample.py --checkpoint=bach --output_dir=out/motif --motif=motif.mid --motif_at=1,5,13:+2
  python experiments/sample.py --checkpoint=bach --output_dir=out/bridge --primer=a.mid --bridge_to=b.mid \
      --bridge_bars=4
  python experiments/sample.py --checkpoint=bach --output_dir=out/ending --num_bars=8 --ending="D minor"
  python experiments/sample.py --checkpoint=bach --output_dir=out/form --phrases=2,2,2,2 --form=AABA --key="G major"
"""

import os

from absl import app, flags

from biaxial_jax import cli, render
from biaxial_jax.checkpoint import CheckpointError
from biaxial_jax.errors import BiaxialError, GenerationError
from biaxial_jax.generation import Controls, Request, load_checkpoint, styles
from biaxial_jax.generation.request import flag_names
from biaxial_jax.music.midi import write_midi
from biaxial_jax.music.notation import write_musicxml
from biaxial_jax.pretrained import SHIPPED

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'A training workdir (its newest readable checkpoint), an '
                                  f"exported model folder, or a shipped model's name ({', '.join(SHIPPED)}).")
_BEST = flags.DEFINE_boolean('best', False, 'From a training workdir, use the checkpoint with the lowest valid NLL '
                             'instead of the newest.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', 'out/samples', 'Where the files go (created if missing).')
# Every field of what to generate and how to sample it, as a flag (named and explained once, in generation.request).
_REQUEST = cli.define_fields(Request)
_CONTROLS = cli.define_fields(Controls)
_PROGRAM = flags.DEFINE_integer('program', 0, 'General MIDI program (0 piano, 19 church organ).', lower_bound=0,
                                upper_bound=127)
_VELOCITY = flags.DEFINE_integer('velocity', 80, 'Note-on velocity of every note (--dynamics=flat, or a model '
                                 'without dynamics).', lower_bound=1, upper_bound=127)
_DYNAMICS = flags.DEFINE_enum('dynamics', 'model', ['model', 'flat'], 'model: each note at the velocity the model '
                              'drew (a model with dynamics); flat: every note at --velocity.')
_WAV = flags.DEFINE_boolean('wav', True, 'Render WAV files with FluidSynth when it is installed.')
_ENGRAVE = flags.DEFINE_boolean('engrave', True, 'Engrave each score as a PNG with LilyPond where it is installed '
                                 '(apt-get install lilypond), shown on the page beside the piano roll.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace files of the same names in --output_dir.')


# What the page lists: the flags that shape the music (those given, and the controls always).
_ALWAYS_SHOWN = tuple(_CONTROLS.values())


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _CHECKPOINT.value:
    cli.fail('--checkpoint is required: a training workdir')
  if not os.path.isdir(_CHECKPOINT.value) and _CHECKPOINT.value not in SHIPPED:
    cli.fail(f'--checkpoint: {_CHECKPOINT.value}: no such folder (nor a shipped model: {", ".join(SHIPPED)})')
  try:
    request = Request(**cli.field_values(Request, _REQUEST))
    controls = Controls(**cli.field_values(Controls, _CONTROLS))
  except GenerationError as e:
    cli.fail_with(e, flag_names())
  cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
  cli.quiet_library_logs()
  cli.compile_once_per_machine()
  cli.sample_on_every_core()

  try:
    composer = load_checkpoint(_CHECKPOINT.value, best=_BEST.value)
    outputs = [os.path.join(_OUTPUT_DIR.value, f'{name}.{ext}') for name in _sample_names(controls)
               for ext in ('mid', 'musicxml', 'png', 'score.png', 'wav')]
    existing = [p for p in outputs + [os.path.join(_OUTPUT_DIR.value, 'index.html')] if os.path.lexists(p)]
    if existing and not _OVERWRITE.value:
      cli.fail(f'--output_dir: {existing[0]} exists ({len(existing)} files would be replaced); pass --overwrite or '
               'another --seed or --output_dir')
    generation = composer.generate(request, controls)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  except BiaxialError as e:
    cli.fail_with(e, flag_names())
  try:
    _write_outputs(composer, generation, controls)
  except OSError as e:  # a full disk, a folder made read-only meanwhile: each file appears whole or not at all
    cli.fail(f'--output_dir: cannot write {e.filename or _OUTPUT_DIR.value} ({e.strerror or e}); the files written '
             'before it are whole', code=1)


def _sample_names(controls) -> list[str]:
  return [f'sample_{controls.seed}_{i}' for i in range(controls.num_samples)]


def _write_outputs(composer, generation, controls):
  """MIDI, MusicXML, piano roll, WAV and engraving of each sample, and the index page, with notes on stdout."""
  for change in generation.changes:
    print(f'note: {change}')
  model_config = composer.config.model
  if (_DYNAMICS.value == 'model' and model_config.dynamics
      and not styles.plays_dynamics(generation.style, model_config.dynamics_styles)):
    print(f'note: this model learned dynamics for {", ".join(model_config.dynamics_styles)} only (the data of '
          f'{styles.describe(generation.style)} has none): every note at --velocity={_VELOCITY.value}')
  entries, notes = [], set()
  for i, (name, piece) in enumerate(zip(_sample_names(controls), generation.pieces)):
    midi = write_midi(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.mid'), program=_PROGRAM.value,
                      velocity=_VELOCITY.value, given=generation.given, dynamics=_DYNAMICS.value == 'model')
    musicxml = write_musicxml(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.musicxml'), generation.given)
    meter = piece.time_signatures[-1]
    info = (f'{piece.num_steps} steps, {meter.numerator}/{meter.denominator}, {piece.tempos[0].qpm:g} qpm, seed '
            f'{controls.seed}, temperature {controls.temperature:g}, conservativity {controls.conservativity:g}'
            f'{" (adaptive)" if controls.adaptive else ""}, {generation.particles} particle'
            f'{"s" if generation.particles > 1 else ""} ({controls.search})'
            f'{f", in {generation.keys[i]}" if composer.config.model.structure else ""}'
            f'{f", style {styles.describe(generation.style)}" if generation.style else ""}; model NLL '
            f'{-generation.log_likelihood[i] / piece.num_steps:.2f} nats/step')
    warning = ''
    if not piece.roll.any():
      warning = ('no note at all: the sampler wrote silence (a high --conservativity silences the model; try a '
                 'lower one or --adaptive)')
    elif generation.unmet[i]:
      missed = generation.unmet[i]
      warning = (f'no particle met {"a requirement" if len(missed) == 1 else f"{len(missed)} requirements"}: '
                 + '; '.join(map(str, missed[:3])) + (' ...' if len(missed) > 3 else '')
                 + f': try more --particles or --redraws (each phrase drawn again up to {controls.redraws} times), or '
                 'another --seed')
    render.piano_roll_png(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.png'), title=f'{name}: {info}',
                          given=generation.given)
    wav, no_audio = None, 'not rendered (--nowav)' if not _WAV.value else 'the piece is silent'
    if _WAV.value and piece.roll.any():
      wav, no_audio = render.render_wav(midi, os.path.join(_OUTPUT_DIR.value, f'{name}.wav'))
      notes.add(no_audio)
    engraved = None
    if _ENGRAVE.value:
      engraved, note = render.score_png(musicxml, os.path.join(_OUTPUT_DIR.value, f'{name}.score.png'))
      notes.add(note)
    entries.append({'name': name, 'midi': f'{name}.mid', 'musicxml': f'{name}.musicxml', 'png': f'{name}.png',
                    'score_png': engraved and f'{name}.score.png',
                    'info': info, 'wav': wav and f'{name}.wav', 'no_audio': no_audio, 'warning': warning})
    print(f'wrote {midi}, {musicxml}' + (f' and {wav}' if wav else '') + f' ({info})')
    if warning:
      print(f'warning: {name}: {warning}')
  settings = [('checkpoint', f'{_CHECKPOINT.value} (step {composer.step})')]
  settings += [(f'--{flag.name}', flag.value) for flag in (*_CONTROLS.values(), *_REQUEST.values(), _BEST)
               if flag.present or any(flag is shown for shown in _ALWAYS_SHOWN)]
  settings += [('note', change) for change in generation.changes]
  page = render.index_html(entries, os.path.join(_OUTPUT_DIR.value, 'index.html'),
                           title=f'biaxial-jax samples from {_CHECKPOINT.value} (step {composer.step})',
                           settings=settings)
  for note in sorted(n for n in notes if n):
    print(note)
  print(f'open {page} in a browser to look and listen')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
