"""What a piece must obey, as masks over its steps: primers, melodies, motifs, fragments, endings, fixed notes.

Every mode of generation becomes the same three arrays (`mask`, `values` `bool[T, N, 2]`, `force_articulate`
`bool[T, N]`) plus the steps where a fixed span begins after free music (`spans`, what look-ahead steers toward).
Two constraints that give one cell different values are an error naming both. Bars are counted from 1 at the first
downbeat (a pickup comes before bar 1).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from biaxial_jax.errors import GenerationError
from biaxial_jax.analysis.harmony import beat_steps
from biaxial_jax.generation import outline
from biaxial_jax.generation.outline import downbeats, pickup_steps
from biaxial_jax.music.piece import (ARTICULATE, PLAY, Key, Piece, Tempo, TimeSignature,
                                     bar_positions)


SOPRANO = 0  # the voice a melody is sung by (for a model with voices)
ENDING_BASS_LOW = 40  # MIDI E2: an ending on a key puts the tonic in the bass in E2..D#3, as chorales end


def parse_key(text: str) -> Key:
  """`Key.parse`, its error naming the `ending` argument."""
  try:
    return Key.parse(text)
  except ValueError as e:
    raise GenerationError('ending', f'{e}, or a piece') from None


@dataclasses.dataclass(frozen=True)
class Constraints:
  """What the sampler must obey over `T` steps (numpy), and the meter and tempo of the piece.

  mask, values: `bool[T, N, 2]`: cells whose (play, articulate) are given; values are False where not given.
  force_articulate: `bool[T, N]`: a note played there must be struck anew (a fixed note ends there).
  require: `bool[T, N]`: where a step marks notes, at least one of them must sound (a final chord's third).
  spans: steps where a fixed span begins after free music (a motif, a fragment, an ending): look-ahead targets.
  key: the key the model is told (the asked one, else the primer's or melody's); None: one is drawn per sample.
  phrase_ends: where phrases end (the asked plan, the melody's fermatas, or 2-bar phrases), the last at the end.
  changes: what reading the given material changed, in words (for the user's log).
  voices: `uint8[T, N]`: the voices given notes are sung by, for a model with voices (a melody: the soprano).
  closed: `int32[T]`: the voices generated notes may not take at each step (a melody's soprano while it lasts).
  """
  mask: np.ndarray
  values: np.ndarray
  force_articulate: np.ndarray
  require: np.ndarray
  spans: tuple[int, ...]
  time_signatures: tuple[TimeSignature, ...]
  tempos: tuple[Tempo, ...]
  steps_per_quarter: int
  key: Key | None
  phrase_ends: tuple[int, ...]
  changes: tuple[str, ...] = ()
  voices: np.ndarray | None = None
  closed: np.ndarray | None = None

  @property
  def num_steps(self) -> int:
    return self.mask.shape[0]

  @property
  def bar_position(self) -> np.ndarray:
    return bar_positions(self.num_steps, self.time_signatures, self.steps_per_quarter)

  @property
  def weighs(self) -> bool:
    """Whether anything but a primer constrains the piece (a primer alone weighs every particle the same)."""
    fixed_steps = self.mask.all(axis=(1, 2))
    primer = np.argmin(fixed_steps) if not fixed_steps.all() else self.num_steps
    return bool(self.mask[primer:].any() or self.force_articulate.any() or self.require.any())

  def unmet(self, roll: np.ndarray) -> list[int]:
    """Steps of a sampled roll where none of the required notes sounds (SMC failed to meet a requirement)."""
    steps = np.flatnonzero(self.require.any(axis=1))
    return [int(t) for t in steps if not (roll[t, :, PLAY].astype(bool) & self.require[t]).any()]

  def lookahead_steps(self, longest: int) -> int:
    """How many steps of a span look-ahead scores: `longest`, or the power of two that covers what is left of the
    piece after every span, where that is shorter (a final chord): nothing is given past the end, so more steps would
    cost the same look-ahead again and score nothing more."""
    room = max((self.num_steps - start for start in self.spans), default=longest)
    return min(longest, 1 << max(room - 1, 0).bit_length())

  def lookahead_schedule_with(self, starts, lookahead_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """`lookahead_schedule` where fixed spans also begin at `starts` (music a later round fixes)."""
    spans = tuple(sorted({*self.spans, *starts} - {self.num_steps}))
    return dataclasses.replace(self, spans=spans).lookahead_schedule(lookahead_steps)

  def lookahead_schedule(self, lookahead_steps: int, horizon_bars: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """`(lookahead_T, drop_T)` for `plans.Plan`: after every beat of the `horizon_bars` bars before each span
    (and always right before it), score the span's first `lookahead_steps` steps; drop that score once they have
    been sampled. The last event is always a drop, so the final weights carry no look-ahead."""
    t = self.num_steps
    lookahead, drop = np.full(t, -1, np.int32), np.zeros(t, bool)
    bar_position = self.bar_position
    meters = self.time_signatures
    for start in self.spans:
      meter = [m for m in meters if m.step <= start][-1]
      beat = beat_steps(meter, self.steps_per_quarter)
      horizon = horizon_bars * meter.steps_per_bar(self.steps_per_quarter)
      for step in range(max(start - horizon, 0), start):
        if step == start - 1 or bar_position[step + 1] % beat == 0:
          lookahead[step] = start
      drop[min(start + lookahead_steps, t) - 1] = True
    return lookahead, drop


class Builder:
  """Collects constraints over `num_steps` steps of `num_notes` notes, refusing contradictions."""

  def __init__(self, num_steps: int, num_notes: int, lowest: int):
    self.lowest, self.num_notes = lowest, num_notes
    self.mask = np.zeros((num_steps, num_notes, 2), bool)
    self.values = np.zeros((num_steps, num_notes, 2), bool)
    self.force = np.zeros((num_steps, num_notes), bool)
    self.require = np.zeros((num_steps, num_notes), bool)
    self.voices = np.zeros((num_steps, num_notes), np.uint8)
    self.closed = np.zeros(num_steps, np.int32)
    self.owner = np.full((num_steps, num_notes, 2), -1, np.int16)
    self.owners: list[str] = []
    self.spans: set[int] = set()

  def fix(self, field: str, mask: np.ndarray, values: np.ndarray, start: int = 0, what: str | None = None):
    """Fixes the cells of `mask` (`[L, N, 2]`, placed at `start`) to `values`."""
    end = start + mask.shape[0]
    region = (slice(start, end),)
    clash = self.mask[region] & mask & (self.values[region] != values)
    if clash.any():
      step, note, bit = np.argwhere(clash)[0]
      other = self.owners[self.owner[region][step, note, bit]]
      raise GenerationError(field, f'{what or field} contradicts {other} at step {start + step}, MIDI note '
                            f'{self.lowest + note} ({"play" if bit == PLAY else "articulate"})')
    self.values[region] = np.where(mask, values, self.values[region])
    self.mask[region] |= mask
    self.owner[region] = np.where(mask, len(self.owners), self.owner[region])
    self.owners.append(what or field)

  def fix_steps(self, field: str, piece: Piece, start: int, what: str):
    """Every cell of `piece`'s steps, placed at `start` (a primer, a fragment, a final chord)."""
    roll = piece.roll.astype(bool)
    self.fix(field, np.ones(roll.shape, bool), roll, start, what)
    if start > 0:
      self.spans.add(start)

  def fix_notes(self, field: str, piece: Piece, start: int, what: str, forbid_above: bool, transpose: int = 0,
                voice: int | None = None):
    """The notes of `piece` exactly (pitch, onset, length, repeats), placed at `start` and moved by `transpose`
    semitones; with `forbid_above`, nothing sounds above its highest note while one sounds (a melody, a motif);
    with `voice` (0 soprano .. 3 bass), sung by that voice, which generated notes leave to it while it lasts."""
    roll = piece.roll.astype(bool)
    if transpose:
      notes = np.flatnonzero(roll[..., PLAY].any(axis=0))
      if notes.size and not (0 <= notes[0] + transpose and notes[-1] + transpose < self.num_notes):
        raise GenerationError(field, f'{what} moved by {transpose:+d} semitones leaves MIDI '
                              f'{self.lowest}..{self.lowest + self.num_notes - 1}')
      roll = np.roll(roll, transpose, axis=1)
    play = roll[..., PLAY]
    mask = np.repeat(play[..., None], 2, axis=-1)
    if forbid_above:
      for t in np.flatnonzero(play.any(axis=1)):
        mask[t, np.flatnonzero(play[t])[-1] + 1:] = True
    self.fix(field, mask, roll & mask, start, what)
    if voice is not None:
      self.voices[start:start + len(roll)][play] |= np.uint8(1 << voice)
      self.closed[start:start + len(roll)] |= 1 << voice
    # where a fixed note ends, a generated note on that pitch must be struck anew: the fixed note keeps its length
    after = np.concatenate([roll[1:], np.zeros_like(roll[:1])])
    ended = play & ~(after[..., PLAY] & ~after[..., ARTICULATE])
    end = min(start + 1 + len(roll), len(self.force))
    self.force[start + 1:end] |= ended[:end - start - 1]
    if start > 0:
      self.spans.add(start)

  def build(self, time_signatures, tempos, steps_per_quarter: int, key: Key | None, phrase_ends: tuple[int, ...],
            changes: tuple[str, ...] = ()) -> Constraints:
    return Constraints(self.mask, self.values, self.force, self.require, tuple(sorted(self.spans)),
                       tuple(time_signatures), tuple(tempos), steps_per_quarter, key, phrase_ends, changes,
                       self.voices, self.closed)


def tonic_ending(num_notes: int, lowest: int, key: tuple[int, bool],
                 length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """What an ending on a key fixes over its last `length` steps: `[length, N, 2]` mask and values (the tonic struck
  in the bass, E2..D#3, and held; nothing below it; nothing above it outside the tonic triad) and the `[N]` notes
  of which one must sound at its first step (the triad's third above the bass: a complete chord, not a bare
  fifth)."""
  tonic, major = key
  triad = {tonic, (tonic + (4 if major else 3)) % 12, (tonic + 7) % 12}
  bass = ENDING_BASS_LOW + (tonic - ENDING_BASS_LOW) % 12 - lowest
  while bass >= num_notes:
    bass -= 12
  if bass < 0:
    raise GenerationError('ending', f'the tonic has no bass note in MIDI {lowest}..{lowest + num_notes - 1}')
  mask = np.zeros((length, num_notes, 2), bool)
  values = np.zeros((length, num_notes, 2), bool)
  pitch_class = (lowest + np.arange(num_notes)) % 12
  outside = np.array([pc not in triad for pc in pitch_class])
  outside[:bass] = True
  mask[:, outside] = True
  mask[:, bass] = True
  values[:, bass, PLAY] = True
  values[0, bass, ARTICULATE] = True
  third = (pitch_class == (tonic + (4 if major else 3)) % 12) & (np.arange(num_notes) > bass)
  return mask, values, third


@dataclasses.dataclass(frozen=True)
class Prepared:
  """A `request.Request` read for one model: its material as pieces of the model's grid, its text parsed."""
  num_steps: int | None = None
  num_bars: int | None = None  # bars of the meter in force, from the first downbeat
  primer: Piece | None = None
  melody: Piece | None = None
  motif: Piece | None = None
  motif_at: tuple[tuple[int, int], ...] = ()  # (bar from 1, semitones)
  bridge_to: Piece | None = None
  bridge_bars: int = 4
  ending: Piece | Key | None = None  # a final passage, or a key whose tonic triad ends the piece
  fixed: tuple | None = None  # [T, N, 2] mask and values, and optionally [T, N] voice bits (or None)
  forbid_above_melody: bool = True
  time_signature: tuple[int, int] = (4, 4)
  tempo: float | None = None
  key: Key | None = None  # the key the model is told (with phrase and key inputs)
  phrases: tuple[int, ...] | None = None  # phrase lengths in bars, from bar 1
  final_chord: bool = True  # under a melody ending in the tonic triad, the tonic in root position under its last note
  changes: tuple[str, ...] = ()  # what reading the given material changed, in words


DEFAULT_STEPS = 256  # 16 bars of 4/4
DEFAULT_QPM = 100.0
MAX_STEPS = 100_000


def _meter_and_tempo(request: Prepared, steps_per_quarter: int) -> tuple[tuple[TimeSignature, ...], tuple[Tempo, ...]]:
  source = request.primer or request.melody
  if source is not None:
    meters, tempos = source.time_signatures, source.tempos
  else:
    try:
      meters = (TimeSignature(0, *request.time_signature),)
      meters[0].steps_per_bar(steps_per_quarter)
    except (TypeError, ValueError) as e:
      raise GenerationError('time_signature', str(e)) from None
    tempos = (Tempo(0, DEFAULT_QPM),)
  if request.tempo is not None:
    tempos = (Tempo(0, float(request.tempo)),)
  return meters, tempos


def _bridge_start(request: Prepared, meters, steps_per_quarter: int) -> int:
  """Where fragment B starts: its first downbeat `bridge_bars` bars after the bar line that ends the primer."""
  after = len(request.primer.roll) if request.primer is not None else 0
  longest_bar = max(m.steps_per_bar(steps_per_quarter) for m in meters)
  bars = downbeats(after + (request.bridge_bars + 2) * longest_bar, meters, steps_per_quarter)
  first = int(np.searchsorted(bars, after))
  start = int(bars[first + request.bridge_bars]) - pickup_steps(request.bridge_to)
  if start < after:
    raise GenerationError('bridge_bars', f'{request.bridge_bars} bars leave no room for the pickup of the fragment '
                          'to bridge to')
  return start


def _length(request: Prepared, meters, steps_per_quarter: int) -> int:
  """The piece's length in steps, within `MAX_STEPS`; else an error on the argument that set it."""
  length, field = _asked_length(request, meters, steps_per_quarter)
  if not 1 <= length <= MAX_STEPS:
    what = {'num_bars': f'{request.num_bars} bars', 'melody': 'the melody', 'phrases': 'the phrases',
            'bridge_bars': 'the primer, bridge and fragment'}.get(field, 'the piece')
    raise GenerationError(field, f'{what} would be {length:,} steps long; at most {MAX_STEPS:,} are generated')
  return length


def _asked_length(request: Prepared, meters, steps_per_quarter: int) -> tuple[int, str]:
  if request.bridge_to is not None:
    length = _bridge_start(request, meters, steps_per_quarter) + request.bridge_to.num_steps
    for field in ('num_steps', 'num_bars'):
      if getattr(request, field) is not None and (field == 'num_bars' or request.num_steps != length):
        raise GenerationError(field, f'bridging sets the length ({length} steps); leave {field} out')
    return length, 'bridge_bars'
  if request.num_steps is not None:
    return request.num_steps, 'num_steps'
  if request.num_bars is not None:
    return _end_of_bar(request.num_bars, meters, steps_per_quarter), 'num_bars'
  if request.melody is not None:
    return request.melody.num_steps, 'melody'
  if request.phrases:  # the piece ends with its last phrase
    return _end_of_bar(sum(request.phrases), meters, steps_per_quarter), 'phrases'
  return DEFAULT_STEPS, 'num_steps'


def _end_of_bar(bar: int, meters, steps_per_quarter: int) -> int:
  """The step where bar `bar` (from 1, after any pickup) ends."""
  longest = max(m.steps_per_bar(steps_per_quarter) for m in meters)
  return int(downbeats(meters[-1].step + (bar + 2) * longest, meters, steps_per_quarter)[bar])


def _fixed_spans(mask: np.ndarray, meters, steps_per_quarter: int) -> list[int]:
  """Steps where fixed cells resume after at least a bar of free steps (look-ahead targets of an infilling)."""
  any_fixed = mask.any(axis=(1, 2))
  spans, free_since = [], 0
  for t, fixed in enumerate(any_fixed):
    if not fixed:
      continue
    bar = [m for m in meters if m.step <= t][-1].steps_per_bar(steps_per_quarter)
    if t > 0 and t - free_since >= bar:
      spans.append(t)
    free_since = t + 1
  return spans


def assemble(request: Prepared, lowest: int, num_notes: int, steps_per_quarter: int) -> Constraints:
  """The masks and look-ahead spans of a request; every contradiction or misfit is a `GenerationError` naming the
  argument."""
  if request.ending is not None and not isinstance(request.ending, (Piece, Key)):
    request = dataclasses.replace(request, ending=Key(*request.ending))
  meters, tempos = _meter_and_tempo(request, steps_per_quarter)
  num_steps = _length(request, meters, steps_per_quarter)
  builder = Builder(num_steps, num_notes, lowest)
  if request.primer is not None:
    if request.primer.num_steps >= num_steps:
      raise GenerationError('primer', f'{request.primer.num_steps} steps long, as long as or longer than the '
                            f'{num_steps} steps asked for: nothing would be generated (num_steps)')
    builder.fix_steps('primer', request.primer, 0, 'the primer')
  if request.melody is not None:
    if request.melody.num_steps > num_steps:
      raise GenerationError('melody', f'{request.melody.num_steps} steps long, longer than the {num_steps} steps '
                            'asked for (num_steps)')
    builder.fix_notes('melody', request.melody, 0, 'the melody', request.forbid_above_melody, voice=SOPRANO)
  if request.motif is not None:
    bars = downbeats(num_steps, meters, steps_per_quarter)
    for bar, transpose in request.motif_at:
      start = int(bars[bar - 1]) - pickup_steps(request.motif) if 1 <= bar <= len(bars) else -1
      if start < 0 or start + request.motif.num_steps > num_steps:
        raise GenerationError('motif_at', f'the motif at bar {bar} does not fit in the piece\'s {len(bars)} bars '
                              f'({num_steps} steps)')
      builder.fix_notes('motif_at', request.motif, start, f'the motif at bar {bar}', request.forbid_above_melody,
                        transpose)
  if request.bridge_to is not None:
    builder.fix_steps('bridge_to', request.bridge_to, num_steps - request.bridge_to.num_steps, 'the fragment')
  if isinstance(request.ending, Piece):
    if request.ending.num_steps >= num_steps:
      raise GenerationError('ending', f'{request.ending.num_steps} steps long, not shorter than the piece')
    builder.fix_steps('ending', request.ending, num_steps - request.ending.num_steps, 'the ending')
  if request.fixed is not None:
    mask, values, *voices = request.fixed
    voices = voices[0] if voices else None
    if mask.shape[0] > num_steps:
      raise GenerationError('fixed', f'{mask.shape[0]} steps long, longer than the {num_steps} steps asked for')
    builder.fix('fixed', mask, values & mask, 0, 'the fixed notes')
    builder.spans.update(_fixed_spans(mask, meters, steps_per_quarter))
    if voices is not None:  # sung by the voices given, which generated notes leave to them while they sound
      sung = np.where(mask[..., PLAY] & values[..., PLAY], voices, 0).astype(np.uint8)
      builder.voices[:len(sung)] |= sung
      builder.closed[:len(sung)] |= np.bitwise_or.reduce(sung, axis=1).astype(builder.closed.dtype)
  key, key_note = outline.told_key(request, lowest, steps_per_quarter)
  notes = list(request.changes) + [key_note]
  ending = request.ending if isinstance(request.ending, Key) else None
  if (request.melody is not None and request.melody.num_steps == num_steps and not isinstance(request.ending, Piece)
      and (ending is not None or request.final_chord)):
    final = outline.final_under_melody(request.melody, ending or key, lowest)
    if final is None and ending is not None:
      raise GenerationError('ending', f'the melody\'s last note is not in the tonic triad of {ending}')
    if final is not None and ending is None:
      try:
        tonic_ending(num_notes, lowest, key, 1)
      except GenerationError:
        final = None  # no room for the tonic in the bass (a model of few notes)
    if final is None:
      notes.append(f'the melody ends outside the tonic triad of {key}: its last chord is left free'
                   if key is not None else 'no key: the last chord is left free')
    else:
      ending, length = ending or key, num_steps - final
  elif ending is not None:
    meter = meters[-1]
    beat = beat_steps(meter, steps_per_quarter)
    length = min(-(-meter.steps_per_bar(steps_per_quarter) // beat // 2) * beat, num_steps)
  if ending is not None:
    mask, values, third = tonic_ending(num_notes, lowest, ending, length)
    builder.fix('ending', mask, values, num_steps - length, 'the ending')
    builder.require[num_steps - length] |= third
    builder.require[num_steps - 1] |= third  # the last chord is the full triad
    if num_steps > length:
      builder.spans.add(num_steps - length)
  if request.phrases is not None and not all(isinstance(p, int) and p >= 1 for p in request.phrases):
    raise GenerationError('phrases', f'expected phrase lengths in whole bars >= 1, got {request.phrases}')
  ends, phrase_note = outline.phrase_ends(request, num_steps, meters, steps_per_quarter, key)
  return builder.build(meters, tempos, steps_per_quarter, key, ends,
                       tuple(notes) + ((phrase_note,) if phrase_note else ()))
