"""What to generate (`Request`) and how to sample it (`Controls`): the generation front door's two values.

Each field is written once, here: its default, what it means (its flag's help), and the flag that sets it (`flag`:
most are the field's own name). `Composer.generate(request, controls)` takes them; the sample script and the studio
derive their flags and form fields from `dataclasses.fields`; a `GenerationError`'s `field` is a field's name,
mapped to its flag at the edge (`flag_names`).

The values are checked where they can be on their own (ranges, types: `GenerationError` naming the field, at
construction); what needs the model (its grid, its styles) is checked by the `Composer`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import numbers
import re
import typing
from fractions import Fraction

from biaxial_jax import values
from biaxial_jax.errors import GenerationError
from biaxial_jax.generation.constraints import MAX_STEPS
from biaxial_jax.generation.sampler import MODES as SEARCH_MODES
from biaxial_jax.music import inputs
from biaxial_jax.music.keys import Key

MAX_SAMPLES = 4096
MAX_PARTICLES = 4096
MAX_PROPOSALS = 64
MAX_REDRAWS = 16
MAX_SEED = 2**63 - 1
MAX_EXPONENT = 1e6  # temperature and conservativity: far past where the output stops changing
# MIDI writes a tempo as microseconds per quarter in 24 bits: 60e6 / (2**24 - 1) = 3.58 quarters a minute is the least.
MIN_TEMPO, MAX_TEMPO = 4.0, 1000.0

# How a flag reads its value: as absl's DEFINE_<kind> (a 'file' is a string naming a file that must exist; 'list' a
# comma-separated list; 'npz' an .npz file with arrays mask and values).
Kind = typing.Literal['integer', 'float', 'boolean', 'string', 'file', 'list', 'enum', 'npz']


def _field(default, help_text: str, kind: Kind, *, flag: str | None = None, choices: tuple[str, ...] = ()):
  return dataclasses.field(default=default, metadata={'help': help_text, 'kind': kind, 'flag': flag,
                                                      'choices': choices})


def flag_name(field: dataclasses.Field) -> str:
  """The flag (without dashes) that sets a `Request` or `Controls` field."""
  return field.metadata['flag'] or field.name


def flag_names() -> dict[str, str]:
  """Every field of `Request` and `Controls`, mapped to its flag (`--harmonize` for `melody`)."""
  return {f.name: f'--{flag_name(f)}' for cls in (Request, Controls) for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class Request:
  """What to generate, under which constraints (they combine). Given material is a `Piece`, a music21 stream, or a
  MIDI or score file (MusicXML, ABC, Humdrum); it ends with its last note (silence after it is dropped,
  `Generation.changes` says so), and a primer or melody also starts at its first note (bar lines kept)."""
  num_steps: int | None = _field(
      None, 'Length in grid steps (default 256 = 16 bars of 4/4; with a melody, its length; bridging sets it).',
      'integer')
  num_bars: int | None = _field(
      None, "Length in bars of the meter in force (the primer's or melody's, else the time signature's), counted from "
      'the first downbeat (a pickup comes before bar 1); instead of the number of steps.', 'integer')
  primer: typing.Any = _field(None, 'Music kept verbatim at the start; the model continues it.', 'file')
  melody: typing.Any = _field(
      None, 'A melody (the top voice of what is given) kept exactly (pitch, onset, length, repeats) and harmonized '
      'under it; a score brings its pickup, key and phrase marks (fermatas, breath marks, an ABC tune\'s lines), and '
      'its last note gets the tonic triad in root position when it belongs to it.', 'file', flag='harmonize')
  tune: typing.Any = _field(
      None, 'Of a tunebook given as the melody or primer (an ABC file of many tunes, an opus): the tune to take, by '
      'number (its X: field) or by part of its title.', 'string')
  motif: typing.Any = _field(None, 'A motif (a melody or a few voices) that recurs exactly where motif_at says.',
                             'file')
  motif_at: tuple = _field(
      (), "Bars (from 1) where the motif's first downbeat falls; BAR:+N or BAR:-N (or a (bar, semitones) pair) "
      'transposes that entry by N semitones (1,5,13:+2).', 'list')
  bridge_to: typing.Any = _field(
      None, 'A fragment reached bridge_bars bars after the primer ends (a smooth transition from the primer to it; '
      'without a primer, from scratch).', 'file')
  bridge_bars: int = _field(4, 'Bars generated between the primer and bridge_to.', 'integer')
  ending: typing.Any = _field(
      None, "End on the tonic triad of a key ('D minor', 'Bb major': the tonic in the bass, held for the last half "
      'bar, or under a melody from its last note; the key the model is told unless key says another), or with a final '
      'passage (music), prepared by look-ahead.', 'string')
  fixed: typing.Any = _field(
      None, 'Notes the sampler must obey (infilling): (mask, values), [T, N, 2] arrays (T <= steps; a [T, N] mask fixes '
      'play and articulate together), and for a model with voices optionally their [T, N] voice bits (mask, values, '
      'voices); as a flag, an .npz file with arrays mask and values.', 'npz',
      flag='fixed_notes')
  allow_above_melody: bool = _field(
      False, 'Allow generated notes above the melody (or motif) while it sounds.', 'boolean')
  time_signature: typing.Any = _field(
      None, "Meter (3/4 or (3, 4)): of a free piece (default 4/4), or replacing the primer's or melody's (a MIDI file "
      'without one reads as 4/4); a pickup the file spells is kept.', 'string')
  pickup: typing.Any = _field(
      None, "Quarter notes (1, 0.5, 3/2) before the primer's or melody's first downbeat, replacing the file's own (a "
      'pickup written as a full first bar, as music21 writes MIDI); 0 removes one.', 'string')
  tempo: float | None = _field(
      None, 'Quarter notes per minute of the output (default: the primer/melody tempo, else 100).', 'float')
  key: typing.Any = _field(
      None, "The key a model with phrase and key inputs is told ('D minor', or a Key; default: the primer's or "
      "melody's (its notation, or an analysis), else the ending's, else the key of the motif, fragment or fixed "
      "notes, else one drawn per sample; the log says which).", 'string')
  phrases: tuple | None = _field(
      None, "Phrase lengths in bars from bar 1 (2,2,2,2) for a model with phrase inputs; without a length the piece "
      "ends with its last phrase (default: the melody's phrase marks, else the phrases heard in the melody, else "
      "phrases of 2 bars of 4/4).", 'list')
  form: str | None = _field(
      None, "One capital letter per phrase (AABA, with phrases or the melody's fermatas): a repeated letter repeats "
      "that phrase's melody (its top voice), sampled in rounds; given notes win where they cover the same cells.",
      'string')
  form_harmony: bool = _field(False, 'With a form: a repeat repeats every voice, not only the melody.', 'boolean')
  max_notes: int | None = _field(
      None, 'At most this many notes at once, given ones included (4: a four-voice texture), sampled as a condition '
      'with particles.', 'integer')
  cadences: bool | None = _field(
      None, 'Each phrase ends on a root-position major or minor triad on a degree of the key, the last on its tonic, '
      'most reached by a bass fourth or fifth (at Bach\'s rates; not under a melody), sampled as a condition with '
      'particles (default: on for a model with phrase and key inputs, such as the shipped one).', 'boolean')
  style: typing.Any = _field(
      None, "For a model with styles: one (chorale), a mixture (chorale:0.7,classical:0.3; weights normalized) or a "
      "mapping of weights. Default: the model's first style.", 'string')
  voice_leading: typing.Any = _field(
      'all', "For a model with voices: the voice-leading conditions the particles weigh, 'all', 'none', or some of "
      'fifths,octaves,crossing,spacing,range,clash (parallel fifths, parallel octaves, crossed voices, upper voices '
      'over an octave apart, a voice beyond its range, the alto a semitone under the soprano), or a VoiceLeading of '
      'weights. A model with voices always sings four voices in their ranges, the melody as the soprano.', 'string')

  def __post_init__(self):
    for name, high in (('num_steps', MAX_STEPS), ('num_bars', MAX_STEPS), ('max_notes', None)):
      if getattr(self, name) is not None:
        _set(self, name, values.integer(name, getattr(self, name), 1, high))
    _set(self, 'bridge_bars', values.integer('bridge_bars', self.bridge_bars, 0, 1000))
    for name in ('allow_above_melody', 'form_harmony'):
      _set(self, name, values.boolean(name, getattr(self, name)))
    if self.cadences is not None:
      _set(self, 'cadences', values.boolean('cadences', self.cadences))
    if self.num_steps is not None and self.num_bars is not None:
      raise GenerationError('num_bars', 'give num_steps or num_bars, not both')
    if self.tempo is not None:
      _set(self, 'tempo', values.real('tempo', self.tempo, MIN_TEMPO, MAX_TEMPO,
                                      what='a number of quarter notes per minute'))
    if self.key is not None and not isinstance(self.key, Key):
      try:
        object.__setattr__(self, 'key', Key.parse(self.key))
      except ValueError as e:
        raise GenerationError('key', str(e)) from None
    if isinstance(self.key, Key) and not (isinstance(self.key.tonic, numbers.Integral) and 0 <= self.key.tonic < 12
                                          and isinstance(self.key.major, bool)):
      raise GenerationError('key', f'a Key needs a tonic pitch class in [0, 12) and major True or False, got '
                            f'{tuple(self.key)}')
    if self.phrases is not None:
      phrases = (self.phrases.split(',') if isinstance(self.phrases, str) else
                 self.phrases if isinstance(self.phrases, collections.abc.Iterable) else None)
      object.__setattr__(self, 'phrases', None if phrases is None else tuple(_bars(p) for p in phrases))
      if not self.phrases:
        raise GenerationError('phrases', f'expected phrase lengths in whole bars such as 2,2,2,2, got {phrases!r}')
      if sum(self.phrases) > MAX_STEPS:  # a bar is at least a step: checked before bar lines are laid out
        raise GenerationError('phrases', f'{sum(self.phrases):,} bars in all; at most {MAX_STEPS:,} are generated')
    object.__setattr__(self, 'motif_at', tuple(_motif_entry(item) for item in self.motif_at))
    if (self.motif is None) != (not self.motif_at):
      raise GenerationError('motif_at' if self.motif is not None else 'motif', 'a motif needs the bars where it '
                            'recurs (motif_at), and motif_at needs a motif')
    if self.time_signature is not None:
      inputs.parse_meter(self.time_signature)
    if self.tune is not None:
      object.__setattr__(self, 'tune', _tune(self.tune))
      if self.primer is None and self.melody is None:
        raise GenerationError('tune', 'a tune is chosen from the melody or primer; there is none')
    if self.pickup is not None:
      object.__setattr__(self, 'pickup', _quarters('pickup', self.pickup))
      if self.primer is None and self.melody is None:
        raise GenerationError('pickup', 'a pickup applies to a primer or melody; there is none')


@dataclasses.dataclass(frozen=True)
class Controls:
  """How to sample a `Request`: how many pieces, from which seed, how boldly, with how many particles."""
  num_samples: int = _field(1, 'Pieces to generate (sampled together, in one call).', 'integer')
  seed: int = _field(0, 'Sampling seed: the same seed and request give the same pieces on the same machine.',
                     'integer')
  temperature: float = _field(1.0, 'Divides the logits (> 0): below 1 safer, above 1 wilder.', 'float')
  conservativity: float = _field(1.0, 'Exponent on P(play) (> 0; the original\'s): above 1 fewer notes.', 'float')
  adaptive: bool = _field(False, "The original's anti-silence mode (lowers the exponent while fewer than 2 notes "
                          'sound).', 'boolean')
  particles: int | None = _field(
      None, 'Sequential Monte Carlo particles per piece (default 32 where anything beyond a primer weighs them, or '
      'with search best or beam; else 1, the plain sampler).', 'integer')
  search: str = _field('sample', "sample: a draw from the model given the constraints; best: the most likely of the "
                       'particles (best-of-N); beam: bar-wise beam search by likelihood.', 'enum',
                       choices=SEARCH_MODES)
  proposals: int = _field(
      8, "At a step where a given note sounds (a melody's) or with a requirement (a phrase's closing chord, the final "
      "chord's third), each particle draws the step this many times and keeps one by weight; with particles, what "
      'meets a melody and its closes (1: once, as elsewhere).', 'integer')
  redraws: int = _field(
      8, 'Where no particle met a requirement (a phrase\'s closing chord, the final chord\'s third, four voices), '
      'draw that phrase again, everything else kept, up to this many times (0: never).', 'integer')

  def __post_init__(self):
    for name in ('temperature', 'conservativity'):
      _set(self, name, values.real(name, getattr(self, name), 0, MAX_EXPONENT, above_low=True,
                                   what='a finite number'))
    for name, low, high in (('num_samples', 1, MAX_SAMPLES), ('seed', 0, MAX_SEED), ('proposals', 1, MAX_PROPOSALS),
                            ('redraws', 0, MAX_REDRAWS)):
      _set(self, name, values.integer(name, getattr(self, name), low, high))
    if self.particles is not None:
      _set(self, 'particles', values.integer('particles', self.particles, 1, MAX_PARTICLES))
    _set(self, 'adaptive', values.boolean('adaptive', self.adaptive))
    if self.search not in SEARCH_MODES:
      raise GenerationError('search', f'must be one of {", ".join(SEARCH_MODES)}, got {self.search!r}')


MAX_PICKUP = 64  # quarter notes: longer than any bar a score can have here
_QUARTERS = re.compile(r'\s*\d{1,6}(\.\d{1,6})?(/\d{1,6})?\s*')


def _quarters(name: str, value) -> Fraction:
  """A number of quarter notes in [0, MAX_PICKUP]: an int, a float, a Fraction, or text such as '1', '0.5', '3/2'
  (read digit by digit: '1e1000000000' is refused, never expanded)."""
  try:
    if isinstance(value, str):
      if not _QUARTERS.fullmatch(value):
        raise ValueError(value)
      quarters = Fraction(value.strip())
    elif isinstance(value, bool) or not isinstance(value, (numbers.Rational, float)):
      raise TypeError(value)
    else:
      if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(value)
      quarters = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
  except (TypeError, ValueError, ZeroDivisionError):
    raise GenerationError(name, f'expected a number of quarter notes such as 1, 0.5 or 3/2, got {value!r}') from None
  if not 0 <= quarters <= MAX_PICKUP:
    raise GenerationError(name, f'must be in [0, {MAX_PICKUP}] quarter notes, got {value!r}')
  return quarters


def _set(value, name: str, checked):
  object.__setattr__(value, name, checked)


def _tune(value) -> int | str:
  """A tune's number (ASCII digits, or an integer >= 0) or a non-empty part of its title."""
  if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**31:
    return int(value)
  if isinstance(value, str) and value.strip():
    text = value.strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 10 else text
  raise GenerationError('tune', f'expected a tune number (its X: field) or part of its title, got {value!r}')


def _bars(item) -> int:
  """A phrase length in whole bars, from an int or its decimal digits."""
  return values.integer('phrases', item, 1, 10_000, what='a phrase length in whole bars (2,2,2,2: four of 2)')


def _motif_entry(item) -> tuple[int, int]:
  """A motif entry: a bar (from 1), or `(bar, semitones)`, or the text 'BAR' or 'BAR:+N'."""
  if isinstance(item, str):
    bar, _, shift = item.partition(':')
    item = (bar, shift or 0)
  bar, transpose = item if isinstance(item, (tuple, list)) and len(item) == 2 else (item, 0)
  try:
    return (values.integer('motif_at', bar, 1, 100_000, what='a bar'),
            values.integer('motif_at', transpose, -127, 127, what='a transposition in semitones'))
  except GenerationError as e:
    raise GenerationError('motif_at', f'expected bars such as 1,5,13:+2 (bar from 1, semitones), got '
                          f'{item!r}: {e.message}') from None
