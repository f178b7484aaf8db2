"""Four voices in generation (a model with `model.voices`): how the sampler gives each played note its voices, and
the voice leading the particles are weighed by.

Voices, note by note (`draw`). A voice sings at most one note per step. A note may take only voices still open at
its step (not placed below it, not reserved for given notes: a melody is the soprano) and, if it is generated, only
voices whose range (`music.voices.RANGES`) holds it or nearly (`REACH`, never below C2), or which sang it the step
before; a free note that no voice can
take is silent, weighed like a given silence (the model's probability of it), so that the output samples the model
*given* four voices in their ranges, not a truncated draw. A held note keeps the voices that sang it (those still
open; a note held on whose voices have all gone elsewhere is struck anew, weighed like a given strike); any other
played note draws its voice set from the model's voice output restricted to the sets it may take,
and its particle is weighed by the model's probability of that restriction. A given note with given voices (the
melody: soprano) takes them, and may be doubled by open voices (a unison), drawn and weighed the same way.

Voice leading, step by step (`weigh`), each a log-weight (`VoiceLeading`, traced: changing one does not
recompile; 0 turns a condition off):
- where any voice sings, every voice not closed to generated notes sings (a step where one is missing takes the
  weight of an unmet requirement): four voices at every onset, a rest only where all rest (or where a given melody
  rests and the others go on);
- parallel fifths, and parallel octaves or unisons, between any two voices (both moving, the same way, between two
  steps at which both sing): `fifths` and `octaves` per pair;
- at a step where a note is struck: two voices crossed (`crossing`, per crossed pair) and upper voices (soprano and
  alto, alto and tenor) more than an octave apart (`spacing`, per pair);
- a generated voice arriving on a note outside its range (`range`, per semitone outside): a voice leaves its range
  only where it must, as under a melody that sinks below the alto's range;
- at a struck step, the alto a semitone under the soprano (`clash`): the harshest sound under a melody, rare in
  Bach (0.8% of beats).
The weights are what measurement chose (docs/design.md, "Voices"): strong enough to bring the figures near Bach's,
no stronger, since each makes the particles more alike.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import voicing
from biaxial_jax.errors import GenerationError
from biaxial_jax.music import voices as music_voices


class VoiceLeading(typing.NamedTuple):
  """Log-weights of the voice-leading conditions (nats; 0 turns one off; `range` per semitone outside a voice's
  range) and each voice's range (MIDI, `[4, 2]`)."""
  fifths: jnp.ndarray | float = 4.0
  octaves: jnp.ndarray | float = 6.0
  crossing: jnp.ndarray | float = 2.0
  spacing: jnp.ndarray | float = 2.0
  range: jnp.ndarray | float = 2.0
  clash: jnp.ndarray | float = 4.0
  ranges: jnp.ndarray | np.ndarray = np.array(music_voices.RANGES, np.int32)


REACH = 4  # semitones a voice may go beyond its range (weighed by `range`), never further
FLOOR = 36  # MIDI C2: no voice ever goes below it


CONDITIONS = ('fifths', 'octaves', 'crossing', 'spacing', 'range', 'clash')


def parse(value) -> VoiceLeading:
  """The conditions asked for: None or 'all' (every one at its measured weight), 'none', names of `CONDITIONS` (a
  comma-separated string or an iterable: those on, the others off), or a `VoiceLeading`; `GenerationError` naming
  `voice_leading` otherwise."""
  if isinstance(value, VoiceLeading):
    weights = [getattr(value, c) for c in CONDITIONS]
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w < float('inf') for w in weights):
      raise GenerationError('voice_leading', f'weights must be finite numbers >= 0, got {weights}')
    return value
  if value is None or value == 'all':
    return VoiceLeading()
  names = [n.strip() for n in value.split(',') if n.strip()] if isinstance(value, str) else value
  try:
    names = list(names)
  except TypeError:
    names = None
  if names is None or not all(isinstance(n, str) for n in names) or not set(names) <= set(CONDITIONS) | {'none'} or (
      'none' in names and len(names) > 1):
    raise GenerationError('voice_leading', f"expected 'all', 'none' or some of {', '.join(CONDITIONS)}, got "
                          f'{value!r}')
  default = VoiceLeading()
  return default._replace(**{c: getattr(default, c) if c in names else 0.0 for c in CONDITIONS})


def _bits(flags_Bx4: jnp.ndarray) -> jnp.ndarray:
  return jnp.sum(jnp.where(flags_Bx4, 1 << jnp.arange(voicing.NUM_VOICES), 0), axis=-1)


def open_voices(carry: voicing.VoiceCarry, closed_B: jnp.ndarray) -> jnp.ndarray:
  """`int32[B]`: the voices a note may still take at this point of the note scan."""
  return voicing.ALL & ~(carry.bits() | closed_B)


def takeable(note_midi: jnp.ndarray, open_B: jnp.ndarray, prev_bits_B: jnp.ndarray, ranges_Vx2) -> jnp.ndarray:
  """`int32[B]`: the open voices a generated note at `note_midi` may take: those whose range, widened by `REACH`
  (never below `FLOOR`), holds it, and those that sang it the step before."""
  midi = jnp.asarray(note_midi)[..., None]
  in_range = _bits((jnp.maximum(ranges_Vx2[:, 0] - REACH, FLOOR) <= midi) & (midi <= ranges_Vx2[:, 1] + REACH))
  return open_B & (in_range | prev_bits_B)


def may_take(fixed_B, given_B, open_B, take_B) -> jnp.ndarray:
  """`int32[B]`: the voices a note may be sung by: a given note its given voices (`given_B`, 0 where none are
  given), doubled by others `take_B` allows (an alto in unison with the melody); a given note without given voices
  any open voice; a generated note those `take_B` allows."""
  given = jnp.where(fixed_B, given_B, 0)
  return jnp.where(given > 0, given | take_B, jnp.where(fixed_B, open_B, take_B))


def draw(logits_BxC: jnp.ndarray, gumbel_BxC: jnp.ndarray, play_B, held_B, fixed_B, given_B, may_take_B,
         prev_bits_B) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """The voice bits of one note for every particle (0 where it does not sound or no voice can take it), the
  log-weight of the conditions on them, and the model's log-probability of them (see the module docstring).

  play_B, held_B: the note sounds; it sounds on from the step before without a new strike (then some voice that
    sang it the step before may go on: `sampler` strikes it anew where none may).
  fixed_B, given_B: the note is given (a melody, a primer); the voices given to sing it (0: none given).
  may_take_B: the voices that may sing it (`may_take`).
  prev_bits_B: the voices that sang this note the step before.
  """
  log_p = jax.nn.log_softmax(logits_BxC, axis=-1)
  given = jnp.where(fixed_B, given_B, 0)
  allowed_BxC = (((voicing.CLASS_BITS & ~may_take_B[:, None]) == 0)
                 & ((voicing.CLASS_BITS & given[:, None]) == given[:, None]))
  drawn = 1 + jnp.argmax(jnp.where(allowed_BxC, log_p + gumbel_BxC, -jnp.inf), axis=-1)  # a class's bits
  drawn = jnp.where(allowed_BxC.any(axis=-1), drawn, 0)
  inherited = prev_bits_B & may_take_B
  keep = held_B & (inherited > 0) & ((inherited & given) == given)  # a held note goes on in its voices
  bits = jnp.where(play_B, jnp.where(keep, inherited, drawn), 0)
  chosen_log_p = jnp.take_along_axis(log_p, voicing.class_of(jnp.maximum(bits, 1))[:, None], -1)[:, 0]
  allowed_mass = jax.nn.logsumexp(jnp.where(allowed_BxC, log_p, -jnp.inf), axis=-1)
  weighed = play_B & ~keep & (bits > 0)
  return bits, jnp.where(weighed, allowed_mass, 0.0), jnp.where(bits > 0, chosen_log_p, 0.0)


def counts(prev_Bx4: jnp.ndarray, now_Bx4: jnp.ndarray, struck_B: jnp.ndarray) -> tuple[jnp.ndarray, ...]:
  """Per particle: `(parallel fifths, parallel octaves or unisons, crossed pairs, spread upper pairs, clashes)`
  between the voices' pitches at the previous step and now (-1: silent); crossings, spacing and a clash (the alto a
  semitone under the soprano) count only at a struck step."""
  both = (prev_Bx4 >= 0) & (now_Bx4 >= 0)
  u, v = np.triu_indices(voicing.NUM_VOICES, 1)
  moved = both[:, u] & both[:, v]
  du, dv = now_Bx4[:, u] - prev_Bx4[:, u], now_Bx4[:, v] - prev_Bx4[:, v]
  interval = (prev_Bx4[:, u] - prev_Bx4[:, v]) % 12
  parallel = moved & (du != 0) & (jnp.sign(du) == jnp.sign(dv)) & (interval == (now_Bx4[:, u] - now_Bx4[:, v]) % 12)
  fifths = jnp.sum(parallel & (interval == 7), axis=-1)
  octaves = jnp.sum(parallel & (interval == 0), axis=-1)
  sounding = now_Bx4 >= 0
  # voice 0 is the highest: a pair (u < v) is crossed when u sings below v
  crossed = jnp.sum(sounding[:, u] & sounding[:, v] & (now_Bx4[:, u] < now_Bx4[:, v]), axis=-1)
  upper_u, upper_v = np.array(music_voices.UPPER_PAIRS).T
  spread = jnp.sum(sounding[:, upper_u] & sounding[:, upper_v]
                   & (now_Bx4[:, upper_u] - now_Bx4[:, upper_v] > music_voices.SPACING), axis=-1)
  clash = sounding[:, 0] & sounding[:, 1] & (now_Bx4[:, 0] - now_Bx4[:, 1] == 1)
  return fifths, octaves, jnp.where(struck_B, crossed, 0), jnp.where(struck_B, spread, 0), struck_B & clash


def missing(voices_TxN: np.ndarray, closed_T: np.ndarray) -> list[int]:
  """Steps of a sampled piece with voices where some voice sings but one not left to a given melody does not (the
  four-voice requirement unmet by every particle)."""
  sung = np.bitwise_or.reduce(np.asarray(voices_TxN, np.int64), axis=1)
  return np.flatnonzero((sung != 0) & ((voicing.ALL & ~np.asarray(closed_T) & ~sung) != 0)).tolist()


def outside(prev_Bx4: jnp.ndarray, now_Bx4: jnp.ndarray, closed_B: jnp.ndarray, ranges_Vx2,
            lowest: int) -> jnp.ndarray:
  """`[B]`: semitones outside their ranges of the notes generated voices arrive on at this step."""
  midi = now_Bx4 + lowest
  distance = jnp.maximum(ranges_Vx2[:, 0] - midi, 0) + jnp.maximum(midi - ranges_Vx2[:, 1], 0)
  generated = ((closed_B[:, None] >> jnp.arange(voicing.NUM_VOICES)) & 1) == 0
  return jnp.sum(jnp.where((now_Bx4 >= 0) & (now_Bx4 != prev_Bx4) & generated, distance, 0), axis=-1)


def weigh(prev_Bx4: jnp.ndarray, now_Bx4: jnp.ndarray, struck_B: jnp.ndarray, closed_B: jnp.ndarray,
          controls: VoiceLeading, lowest: int, unmet_log_weight: float) -> jnp.ndarray:
  """The log-weight of one step's voice leading for every particle (see the module docstring); pitches are note
  indices from MIDI `lowest`."""
  placed = _bits(now_Bx4 >= 0)
  partial = (placed != 0) & ((voicing.ALL & ~closed_B & ~placed) != 0)
  fifths, octaves, crossed, spread, clash = counts(prev_Bx4, now_Bx4, struck_B)
  beyond = outside(prev_Bx4, now_Bx4, closed_B, jnp.asarray(controls.ranges), lowest)
  return (jnp.where(partial, unmet_log_weight, 0.0) - controls.fifths * fifths - controls.octaves * octaves
          - controls.crossing * crossed - controls.spacing * spread - controls.range * beyond
          - controls.clash * clash)
