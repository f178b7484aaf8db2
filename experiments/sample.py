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

from biaxial_jax import cli
from biaxial_jax.pretrained import SHIPPED

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'A training workdir (its newest readable checkpoint), an '
                                  f"exported model folder, or a shipped model's name ({', '.join(SHIPPED)}).")
_BEST = flags.DEFINE_boolean('best', False, 'From a training workdir, use the checkpoint with the lowest valid NLL '
                             'instead of the newest.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', 'out/samples', 'Where the files go (created if missing).')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed: the same seed and flags give the same files.', lower_bound=0,
                            upper_bound=2**63 - 1)
_NUM_STEPS = flags.DEFINE_integer('num_steps', None, 'Length in grid steps (default 256; with --harmonize, the '
                                  "melody's length).", lower_bound=1, upper_bound=100_000)
_NUM_BARS = flags.DEFINE_integer('num_bars', None, "Length in bars of the meter in force (the primer's or melody's, "
                                 'else --time_signature), from the first downbeat (instead of --num_steps).',
                                 lower_bound=1)
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1, 'Pieces to generate (sampled together).', lower_bound=1,
                                    upper_bound=4096)
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Divides the logits: < 1 safer, > 1 wilder.')
_CONSERVATIVITY = flags.DEFINE_float('conservativity', 1.0, 'Exponent on P(play): > 1 fewer notes (the original).')
_ADAPTIVE = flags.DEFINE_boolean('adaptive', False, "The original's anti-silence mode.")
_PRIMER = flags.DEFINE_string('primer', None, 'A MIDI or score file (MusicXML, ABC, Humdrum) kept verbatim at the '
                              'start; the model continues it.')
_HARMONIZE = flags.DEFINE_string('harmonize', None, 'A MIDI or score file (MusicXML, ABC, Humdrum) whose melody (top '
                                 'voice) is kept exactly and harmonized; a score brings its pickup, key and fermatas.')
_FIXED = flags.DEFINE_string('fixed_notes', None, 'A .npz file with arrays mask and values, [T, N, 2] (or a [T, N] '
                             'mask): notes the sampler must obey.')
_MOTIF = flags.DEFINE_string('motif', None, 'A MIDI or score motif (a melody or a few voices) that recurs exactly at '
                             '--motif_at.')
_MOTIF_AT = flags.DEFINE_list('motif_at', [], 'Bars (from 1) where the motif\'s first downbeat falls; BAR:+N or '
                              'BAR:-N transposes that entry by N semitones (1,5,13:+2).')
_BRIDGE_TO = flags.DEFINE_string('bridge_to', None, 'A MIDI or score fragment reached --bridge_bars bars after the '
                                 'primer ends (a transition from --primer to it; without --primer, from scratch).')
_BRIDGE_BARS = flags.DEFINE_integer('bridge_bars', 4, 'Bars generated between --primer and --bridge_to.',
                                    lower_bound=0)
_ENDING = flags.DEFINE_string('ending', None, "End on the tonic of a key ('D minor', 'Bb major') or with a MIDI or "
                              'score passage, prepared by look-ahead.')
_KEY = flags.DEFINE_string('key', None, "The key a model with phrase and key inputs is told ('D minor'; default: "
                           "the primer's or melody's, else one drawn per sample).")
_PHRASES = flags.DEFINE_list('phrases', None, 'Phrase lengths in bars (2,2,2,2) for a model with phrase inputs; '
                             'without --num_steps/--num_bars the piece ends with its last phrase.')
_FORM = flags.DEFINE_string('form', None, 'One capital letter per phrase (AABA, with --phrases or the melody\'s '
                            'fermatas): a repeated letter repeats that phrase\'s melody.')
_FORM_HARMONY = flags.DEFINE_boolean('form_harmony', False, 'With --form: a repeat repeats every voice.')
_MAX_NOTES = flags.DEFINE_integer('max_notes', None, 'At most this many notes at once, given ones included (4: a '
                                  'four-voice texture), sampled as a condition with particles.', lower_bound=1)
_CADENCES = flags.DEFINE_boolean('cadences', None, 'Each phrase ends on a root-position major or minor triad, the last '
                                 'on the tonic, sampled as a condition with particles (default: on for a model with '
                                 'phrase and key inputs, such as the shipped one).')
_VOICE_LEADING = flags.DEFINE_string('voice_leading', 'all', 'For a model with voices: the voice-leading conditions '
                                     "the particles weigh, 'all', 'none', or some of fifths,octaves,crossing,spacing,"
                                     'range,clash (parallel fifths, parallel octaves, crossed voices, upper voices '
                                     'over an octave apart, a voice beyond its range, the alto a semitone under the '
                                     'soprano).')
_PARTICLES = flags.DEFINE_integer('particles', None, 'SMC particles per sample (default 32 under constraints '
                                  'beyond a primer, or with --search=best|beam; else 1, the plain sampler).',
                                  lower_bound=1)
_SEARCH = flags.DEFINE_enum('search', 'sample', ['sample', 'best', 'beam'], 'sample: a draw from the model given '
                            'the constraints; best: the most likely of the particles; beam: bar-wise beam search.')
_ALLOW_ABOVE = flags.DEFINE_boolean('allow_above_melody', False, 'With --harmonize or --motif: allow notes above '
                                    'the melody.')
_TIME_SIGNATURE = flags.DEFINE_string('time_signature', None, "Meter (3/4): of a free piece (default 4/4), or "
                                      "replacing the primer's or melody's (a MIDI file without one reads as 4/4).")
_PICKUP = flags.DEFINE_string('pickup', None, "Quarter notes (1, 0.5, 3/2) before the primer's or melody's first "
                              'downbeat, for a file that spells its pickup as a full bar (as music21 writes MIDI); 0 '
                              'removes one.')
_STYLE = flags.DEFINE_string('style', None, 'For a model with styles: one (chorale) or a mixture '
                             '(chorale:0.7,classical:0.3; weights normalized). Default: the model\'s first style.')
_TEMPO = flags.DEFINE_float('tempo', None, 'Quarter notes per minute (default: the primer/melody tempo, else 100).')
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


# What the page lists: the flags that shape the music (those given, and the controls and seed always).
_SETTINGS = (_SEED, _TEMPERATURE, _CONSERVATIVITY, _ADAPTIVE, _MAX_NOTES, _CADENCES, _VOICE_LEADING, _PARTICLES,
             _SEARCH, _PRIMER, _HARMONIZE, _FIXED, _MOTIF, _MOTIF_AT, _BRIDGE_TO, _BRIDGE_BARS, _ENDING, _KEY, _PHRASES, _FORM, _FORM_HARMONY,
             _NUM_STEPS, _NUM_BARS, _TIME_SIGNATURE, _PICKUP, _TEMPO, _STYLE, _DYNAMICS, _ALLOW_ABOVE, _BEST)
_ALWAYS_SHOWN = (_SEED, _TEMPERATURE, _CONSERVATIVITY, _ADAPTIVE, _SEARCH)

# Composer.sample's keyword arguments, as this script's flags (errors name the flag the user typed).
_FLAG_OF_ARGUMENT = {'num_steps': '--num_steps', 'num_samples': '--num_samples', 'seed': '--seed',
                     'temperature': '--temperature', 'conservativity': '--conservativity', 'primer': '--primer',
                     'melody': '--harmonize', 'fixed': '--fixed_notes', 'tempo': '--tempo',
                     'time_signature': '--time_signature', 'motif': '--motif', 'motif_at': '--motif_at',
                     'bridge_to': '--bridge_to', 'bridge_bars': '--bridge_bars', 'ending': '--ending',
                     'particles': '--particles', 'search': '--search', 'key': '--key', 'phrases': '--phrases',
                     'num_bars': '--num_bars', 'pickup': '--pickup', 'form': '--form', 'max_notes': '--max_notes',
                     'style': '--style', 'voice_leading': '--voice_leading'}


def _motif_at() -> list[tuple[int, int]]:
  entries = []
  for item in _MOTIF_AT.value:
    bar, _, shift = item.partition(':')
    try:
      entries.append((int(bar), int(shift or 0)))
    except ValueError:
      cli.fail(f'--motif_at: expected bars such as 1,5,13:+2, got {item!r}')
  return entries


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _CHECKPOINT.value:
    cli.fail('--checkpoint is required: a training workdir')
  for flag in (_PRIMER, _HARMONIZE, _FIXED, _MOTIF, _BRIDGE_TO):
    if flag.value and not os.path.isfile(flag.value):
      cli.fail(f'--{flag.name}: {flag.value}: no such file')
  motif_at = _motif_at()
  phrases = None
  if _PHRASES.value:
    if not all(p.isdigit() and int(p) >= 1 for p in _PHRASES.value):
      cli.fail(f'--phrases: expected phrase lengths in whole bars such as 2,2,2,2, got {",".join(_PHRASES.value)}')
    phrases = [int(p) for p in _PHRASES.value]
  if not os.path.isdir(_CHECKPOINT.value) and _CHECKPOINT.value not in SHIPPED:
    cli.fail(f'--checkpoint: {_CHECKPOINT.value}: no such folder (nor a shipped model: {", ".join(SHIPPED)})')
  if _NUM_STEPS.value and _NUM_BARS.value:
    cli.fail('--num_steps and --num_bars: give one of them')
  if _TIME_SIGNATURE.value is not None:
    from biaxial_jax.music import inputs  # pylint: disable=import-outside-toplevel
    try:
      inputs.parse_meter(_TIME_SIGNATURE.value)
    except inputs.MeterError as e:
      cli.fail(f'--time_signature: {e.message}')
  pickup = None
  if _PICKUP.value is not None:
    from fractions import Fraction  # pylint: disable=import-outside-toplevel
    try:
      pickup = Fraction(_PICKUP.value)
    except (ValueError, ZeroDivisionError):
      cli.fail(f'--pickup: expected quarter notes such as 1, 0.5 or 3/2, got {_PICKUP.value!r}')
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
  from biaxial_jax import render  # pylint: disable=import-outside-toplevel
  from biaxial_jax.checkpoint import CheckpointError  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.midi import write_midi  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.notation import write_musicxml  # pylint: disable=import-outside-toplevel
  from biaxial_jax.generation import GenerationError, load_checkpoint  # pylint: disable=import-outside-toplevel
  from biaxial_jax.generation import styles  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.piece import BiaxialError  # pylint: disable=import-outside-toplevel

  try:
    composer = load_checkpoint(_CHECKPOINT.value, best=_BEST.value)
    names = [f'sample_{_SEED.value}_{i}' for i in range(_NUM_SAMPLES.value)]
    outputs = [os.path.join(_OUTPUT_DIR.value, f'{name}.{ext}') for name in names
               for ext in ('mid', 'musicxml', 'png', 'score.png', 'wav')]
    existing = [p for p in outputs + [os.path.join(_OUTPUT_DIR.value, 'index.html')] if os.path.exists(p)]
    if existing and not _OVERWRITE.value:
      cli.fail(f'--output_dir: {existing[0]} exists ({len(existing)} files would be replaced); pass --overwrite or '
               'another --seed or --output_dir')
    generation = composer.generate(
        _NUM_STEPS.value, num_bars=_NUM_BARS.value, num_samples=_NUM_SAMPLES.value, seed=_SEED.value,
        temperature=_TEMPERATURE.value, conservativity=_CONSERVATIVITY.value, adaptive=_ADAPTIVE.value,
        particles=_PARTICLES.value, search=_SEARCH.value, primer=_PRIMER.value, melody=_HARMONIZE.value, fixed=fixed,
        motif=_MOTIF.value, motif_at=motif_at, bridge_to=_BRIDGE_TO.value, bridge_bars=_BRIDGE_BARS.value,
        ending=_ENDING.value, forbid_above_melody=not _ALLOW_ABOVE.value, time_signature=_TIME_SIGNATURE.value,
        pickup=pickup,
        tempo=_TEMPO.value, key=_KEY.value, phrases=phrases, form=_FORM.value, form_harmony=_FORM_HARMONY.value,
        max_notes=_MAX_NOTES.value, cadences=_CADENCES.value, style=_STYLE.value, voice_leading=_VOICE_LEADING.value)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  except GenerationError as e:
    cli.fail(f'{_FLAG_OF_ARGUMENT.get(e.field, e.field)}: {e.message}', code=1)
  except BiaxialError as e:
    cli.fail(str(e), code=1)
  for change in generation.changes:
    print(f'note: {change}')
  model_config = composer.config.model
  if (_DYNAMICS.value == 'model' and model_config.dynamics
      and not styles.plays_dynamics(generation.style, model_config.dynamics_styles)):
    print(f'note: this model learned dynamics for {", ".join(model_config.dynamics_styles)} only (the data of '
          f'{styles.describe(generation.style)} has none): every note at --velocity={_VELOCITY.value}')
  entries, notes = [], set()
  for i, (name, piece) in enumerate(zip(names, generation.pieces)):
    midi = write_midi(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.mid'), program=_PROGRAM.value,
                      velocity=_VELOCITY.value, given=generation.given, dynamics=_DYNAMICS.value == 'model')
    musicxml = write_musicxml(piece, os.path.join(_OUTPUT_DIR.value, f'{name}.musicxml'), generation.given)
    meter = piece.time_signatures[-1]
    info = (f'{piece.num_steps} steps, {meter.numerator}/{meter.denominator}, {piece.tempos[0].qpm:g} qpm, seed '
            f'{_SEED.value}, temperature {_TEMPERATURE.value:g}, conservativity {_CONSERVATIVITY.value:g}'
            f'{" (adaptive)" if _ADAPTIVE.value else ""}, {generation.particles} particle'
            f'{"s" if generation.particles > 1 else ""} ({_SEARCH.value})'
            f'{f", in {generation.keys[i]}" if composer.config.model.structure else ""}'
            f'{f", style {styles.describe(generation.style)}" if generation.style else ""}; model NLL '
            f'{-generation.log_likelihood[i] / piece.num_steps:.2f} nats/step')
    warning = ''
    if not piece.roll.any():
      warning = ('no note at all: the sampler wrote silence (a high --conservativity silences the model; try a '
                 'lower one or --adaptive)')
    elif generation.unmet[i]:
      warning = (f'no particle met a requirement (the ending\'s third above the bass, a phrase\'s closing chord, or '
                 f'four voices) at step {generation.unmet[i][0]}: try more --particles or another --seed')
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
  settings += [(f'--{flag.name}', flag.value) for flag in _SETTINGS
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
