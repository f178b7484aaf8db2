"""MIDI files <-> `Piece`, with mido.

Reading merges every track and channel except the drum channel (MIDI channel 10, `channel == 9` in mido), rounds onsets
and offsets to the grid in musical time (ticks, so tempo changes do not move the grid), keeps notes shorter than a step
as one step, and applies a pitch-range policy. Writing is exact: `read_midi(write_midi(p))` gives back `p`'s roll,
meter and tempo for any valid `Piece`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import warnings
from collections import defaultdict, deque

import mido
from mido.midifiles.meta import KeySignatureError
import numpy as np

from biaxial_jax.music.files import atomic_path
from biaxial_jax.music.piece import (ARTICULATE, PLAY, RANGE_POLICIES, Grid, Key, MidiReadError, Piece, RangePolicy,
                                    ReadNote, ReadStats, Tempo, TimeSignature, roll_from_notes, velocity_from_notes)

DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0 as mido does
STEPS_PER_BYTE = 256  # longest roll per byte of file: roll memory is at most 256 * 2 * num_notes bytes per file byte
MAX_BYTES = 8 * 2**20  # mido costs about 190 bytes of memory and 2-3 us per file byte: 8 MB is 1.5 GB and 20 s


def _to_step(tick: int, ticks_per_quarter: int, steps_per_quarter: int) -> int:
  """Nearest grid step to a tick, halves rounded up (integer arithmetic: no float rounding surprises)."""
  return (2 * tick * steps_per_quarter + ticks_per_quarter) // (2 * ticks_per_quarter)


def _open_midi(path, max_bytes: int) -> mido.MidiFile:
  if not os.path.isfile(path):
    raise MidiReadError(f'{path}: {"not a regular file" if os.path.exists(path) else "no such file"}')
  size = os.path.getsize(path)
  if size == 0:
    raise MidiReadError(f'{path}: the file is empty')
  if size > max_bytes:
    raise MidiReadError(f'{path}: {size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit for a MIDI file '
                        '(max_bytes raises it)')
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:  # no permission, a folder, an I/O error: the user's file, named
    raise MidiReadError(f'{path}: cannot be read ({e.strerror or type(e).__name__})') from None
  data = _standard_chunks(_unwrap_riff(data))
  try:
    # From memory: a file object's read(n) reserves n bytes first, and a damaged chunk length can claim gigabytes.
    # Data bytes above 127 are clipped rather than refused: a common fault of hand-made files that loses nothing.
    try:
      return mido.MidiFile(file=io.BytesIO(data), clip=True)
    except KeySignatureError:  # a key signature out of range (say 9 sharps): read the music, drop the keys
      with _lenient_key_signatures():
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
      mid.key_signatures_unreadable = True
      return mid
  except Exception as e:  # mido raises OSError, EOFError, KeyError, IndexError... for damaged files.
    raise MidiReadError(f'{path}: not a readable MIDI file ({type(e).__name__}: {str(e)[:200]})') from None


def _unwrap_riff(data: bytes) -> bytes:
  """The Standard MIDI File inside a RIFF-wrapped one (`.rmi`: RIFF, RMID, then a `data` chunk holding it)."""
  if data[:4] != b'RIFF' or data[8:12] != b'RMID':
    return data
  position = 12
  while position + 8 <= len(data):
    chunk, size = data[position:position + 4], int.from_bytes(data[position + 4:position + 8], 'little')
    if chunk == b'data':
      return data[position + 8:position + 8 + size]
    position += 8 + size + size % 2
  return data


def _standard_chunks(data: bytes) -> bytes:
  """The header and track chunks of a Standard MIDI File, without the chunks of other types that the standard says
  readers must skip (mido refuses them)."""
  kept, position = [], 0
  while position + 8 <= len(data):
    chunk, size = data[position:position + 4], int.from_bytes(data[position + 4:position + 8], 'big')
    if position + 8 + size > len(data):  # a damaged length: leave the rest for mido to report
      kept.append(data[position:])
      break
    if chunk in (b'MThd', b'MTrk') or position == 0:
      kept.append(data[position:position + 8 + size])
    position += 8 + size
  else:
    kept.append(data[position:])
  return b''.join(kept)


@contextlib.contextmanager
def _lenient_key_signatures():
  """While it is open, mido reads a key signature it cannot name as C major instead of raising (the caller then
  ignores every key signature of the file)."""
  specs = mido.midifiles.meta._META_SPECS  # pylint: disable=protected-access  # type byte and name -> spec
  strict = specs[0x59]

  class Lenient(type(strict)):
    def decode(self, message, data):
      try:
        super().decode(message, data)
      except KeySignatureError:
        message.key = 'C'

  lenient = Lenient()
  lenient.__dict__.update(strict.__dict__)  # mido sets the spec's name and attributes on the instance
  specs[0x59] = lenient
  try:
    yield
  finally:
    specs[0x59] = strict


def read_midi_with_stats(path: str | os.PathLike, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold',
                         max_steps: int = 200_000, max_bytes: int = MAX_BYTES) -> tuple[Piece, ReadStats]:
  """Reads a MIDI file into a `Piece` (see `read_midi`) and says what was changed on the way."""
  lowest, num_notes, steps_per_quarter = grid
  if out_of_range not in RANGE_POLICIES:
    raise ValueError(f'out_of_range must be one of {RANGE_POLICIES}, got {out_of_range!r}')
  if not 0 <= lowest <= 127 or num_notes < 1 or lowest + num_notes - 1 > 127:
    raise ValueError(f'notes {lowest}..{lowest + num_notes - 1} fall outside MIDI 0..127')
  path = os.fspath(path)
  mid = _open_midi(path, max_bytes)
  # Work and memory stay proportional to the file: a few bytes cannot ask for hours of roll.
  max_steps = min(max_steps, STEPS_PER_BYTE * os.path.getsize(path) + 1024)
  tpq = mid.ticks_per_beat
  if not isinstance(tpq, int) or tpq <= 0:
    raise MidiReadError(f'{path}: unsupported time division {tpq!r} (only ticks per quarter note are supported)')

  notes = []  # (start_tick, end_tick, pitch, velocity)
  tempos, meters, keys = {}, {}, {}
  drum_notes = unterminated = 0
  end_tick = 0
  for track in mid.tracks:  # type 0, 1 and 2 alike: every track's clock starts at 0
    tick = 0
    sounding = defaultdict(deque)  # (channel, pitch) -> (start tick, velocity), matched first in first out
    for msg in track:
      tick += msg.time
      if msg.type == 'set_tempo':
        tempos[tick] = msg.tempo
      elif msg.type == 'time_signature':
        meters[tick] = (msg.numerator, msg.denominator)
      elif msg.type == 'key_signature' and not getattr(mid, 'key_signatures_unreadable', False):
        keys[tick] = msg.key  # 'C', 'F#m', 'Bb' ...
      elif msg.type in ('note_on', 'note_off'):
        if msg.channel == DRUM_CHANNEL:
          drum_notes += msg.type == 'note_on' and msg.velocity > 0
          continue
        key = (msg.channel, msg.note)
        if msg.type == 'note_on' and msg.velocity > 0:
          sounding[key].append((tick, msg.velocity))
        elif sounding[key]:
          start, velocity = sounding[key].popleft()
          notes.append((start, tick, msg.note, velocity))
    end_tick = max(end_tick, tick)
    unterminated += sum(len(starts) for starts in sounding.values())
    notes.extend((start, end_tick, key[1], velocity) for key, starts in sounding.items() for start, velocity in starts)

  end_step = _to_step(end_tick, tpq, steps_per_quarter)  # trailing rests up to the end of the last track
  velocity = None
  if not notes:
    if drum_notes:
      raise MidiReadError(f'{path}: only drum-channel notes (MIDI channel 10), which are skipped')
    if not 1 <= end_step <= max_steps:
      raise MidiReadError(f'{path}: contains no notes')
    roll, stats = np.zeros((end_step, num_notes, 2), np.uint8), ReadStats()  # silence of the file's length
  else:
    spans = [(_to_step(start, tpq, steps_per_quarter), _to_step(end, tpq, steps_per_quarter), pitch)
             for start, end, pitch, _ in notes]
    try:
      roll, stats = roll_from_notes(spans, lowest=lowest, num_notes=num_notes, out_of_range=out_of_range,
                                    num_steps=end_step if end_step <= max_steps else 0, max_steps=max_steps)
    except ValueError as e:
      raise MidiReadError(f'{path}: {e}') from None
    if len({note[3] for note in notes}) > 1:  # all struck alike: a writer's default, not dynamics
      velocity = velocity_from_notes([(start, pitch, v) for (start, _, pitch), (*_, v) in zip(spans, notes)], roll,
                                     lowest=lowest, out_of_range=out_of_range)

  def events_on_grid(ticks_to_value, default):
    by_step = {0: default}
    for tick in sorted(ticks_to_value):  # a later event at the same rounded step wins
      by_step[_to_step(tick, tpq, steps_per_quarter)] = ticks_to_value[tick]
    return sorted(by_step.items())

  try:
    meter = tuple(TimeSignature(s, n, d) for s, (n, d) in events_on_grid(meters, (4, 4)))
    tempo = tuple(Tempo(s, mido.tempo2bpm(t)) for s, t in events_on_grid(tempos, 500_000) if t > 0)
    piece = Piece(roll, lowest=lowest, steps_per_quarter=steps_per_quarter, time_signatures=meter,
                  tempos=tempo if tempo and tempo[0].step == 0 else (Tempo(0, 120.0),) + tempo,
                  name=os.path.basename(path), key=_first_key(keys), velocity=velocity)
  except ValueError as e:
    raise MidiReadError(f'{path}: {e}') from None
  return piece, dataclasses.replace(stats, drum_notes=drum_notes, unterminated=unterminated)


def _first_key(keys: dict) -> Key | None:
  """The key of the first key-signature event (mido spells it 'C', 'F#m', 'Bb'...), if any."""
  if not keys:
    return None
  name = keys[min(keys)]
  return Key.parse(name[:-1] + ' minor' if name.endswith('m') else name)


def read_midi(path: str | os.PathLike, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold',
              max_steps: int = 200_000, max_bytes: int = MAX_BYTES) -> Piece:
  """Reads a MIDI file (type 0, 1 or 2) into a `Piece`, with its note-on velocities as `piece.velocity` unless
  every note is struck alike (a writer's default velocity says nothing about dynamics).

  Args:
    path: the MIDI file.
    grid: the roll's notes (`lowest` in [0, 127], `lowest + num_notes - 1` at most 127) and grid steps per quarter
      note (4: sixteenth notes).
    out_of_range: what to do with a note outside the range: 'fold' moves it by whole octaves into the range (or
      drops it when the range is under an octave), 'drop' leaves it out, 'error' raises. A warning counts changes;
      `read_midi_with_stats` returns the counts.
    max_steps: longest roll accepted, a guard against files whose notes last for hours; a file of `b` bytes may
      also give at most `256 * b + 1024` steps, so that memory stays proportional to the file.
    max_bytes: largest file accepted (8 MB: reading costs about 190 bytes of memory and 2-3 microseconds per file
      byte); a folder skips larger files and lists them.

  Raises:
    MidiReadError (a `ValueError`): the file is missing, empty, damaged, has no notes and no length (a silent
      file with a length reads as silence), only drum notes, no note in
      range, or a meter that does not fit the grid. The message names the file.
  """
  piece, stats = read_midi_with_stats(path, grid=grid, out_of_range=out_of_range, max_steps=max_steps,
                                      max_bytes=max_bytes)
  if stats.folded or stats.dropped:
    warnings.warn(ReadNote(f'{path}: {stats.folded} notes folded by octaves and {stats.dropped} dropped to fit '
                           f'MIDI {grid.lowest}..{grid.lowest + grid.num_notes - 1}'), stacklevel=2)
  if stats.unterminated:
    warnings.warn(ReadNote(f'{path}: {stats.unterminated} notes are never turned off; they are held to the end of '
                           'their track'), stacklevel=2)
  return piece


def note_spans(roll: np.ndarray) -> list[tuple[int, int, int]]:
  """The notes of a valid roll as `(start_step, end_step, note_index)`, end exclusive, sorted by start."""
  spans = []
  num_steps = roll.shape[0]
  for n in range(roll.shape[1]):
    play, art = roll[:, n, PLAY], roll[:, n, ARTICULATE]
    starts = np.flatnonzero(art)
    if not starts.size:
      continue
    breaks = np.append(np.flatnonzero(art.astype(bool) | ~play.astype(bool)), num_steps)
    ends = breaks[np.searchsorted(breaks, starts, side='right')]
    spans.extend(zip(starts.tolist(), ends.tolist(), [n] * len(starts)))
  return sorted(spans)


def whole_given_notes(roll: np.ndarray, given: np.ndarray) -> np.ndarray:
  """`bool[T, N]`: the cells of every note struck on a `given` cell, to its end (a note held on past given material
  stays one note, on the given side)."""
  out = np.zeros(roll.shape[:2], bool)
  for start, end, n in note_spans(roll):
    if given[start, n]:
      out[start:end, n] = True
  return out


def to_midi_file(piece: Piece, *, velocity: int = 80, program: int = 0, channel: int = 0,
                 ticks_per_quarter: int = 480, given: np.ndarray | None = None,
                 dynamics: bool = True) -> mido.MidiFile:
  """The `mido.MidiFile` that `write_midi` saves: type 0, or with `given` notes type 1 with those on a track and
  channel (`channel + 1`) of their own."""
  for label, value, lo, hi in (('velocity', velocity, 1, 127), ('program', program, 0, 127),
                                ('channel', channel, 0, 15), ('ticks_per_quarter', ticks_per_quarter, 1, 32767)):
    if not lo <= value <= hi:
      raise ValueError(f'{label} must be in [{lo}, {hi}], got {value}')
  spq = piece.steps_per_quarter

  def tick(step):
    return (step * ticks_per_quarter + spq // 2) // spq

  given_cells = (np.zeros(piece.roll.shape[:2], bool) if given is None
                 else whole_given_notes(piece.roll, np.asarray(given, bool)[:piece.num_steps]))
  events = []  # (tick, order, message): meta first, then note-offs, then note-ons at the same tick
  for ts in piece.time_signatures:
    events.append((tick(ts.step), 0, mido.MetaMessage('time_signature', numerator=ts.numerator,
                                                      denominator=ts.denominator)))
  for tempo in piece.tempos:
    events.append((tick(tempo.step), 0, mido.MetaMessage('set_tempo', tempo=round(mido.bpm2tempo(tempo.qpm)))))
  given_events = []
  given_channel = (channel + 1) % 16 if channel + 1 != DRUM_CHANNEL else DRUM_CHANNEL + 1
  for side, chan in ((events, channel), (given_events, given_channel)):
    if side is given_events and not given_cells.any():
      continue
    side.append((0, 1, mido.Message('program_change', program=program, channel=chan)))
  for start, end, n in note_spans(piece.roll):
    pitch = piece.lowest + n
    side, chan = (given_events, given_channel) if given_cells[start, n] else (events, channel)
    strike = int(piece.velocity[start, n]) if dynamics and piece.velocity is not None else velocity
    side.append((tick(start), 3, mido.Message('note_on', note=pitch, velocity=strike, channel=chan)))
    side.append((tick(end), 2, mido.Message('note_off', note=pitch, velocity=0, channel=chan)))

  mid = mido.MidiFile(type=1 if given_events else 0, ticks_per_beat=ticks_per_quarter)
  for side in (events, given_events) if given_events else (events,):
    side.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    now = 0
    for t, _, msg in side:
      track.append(msg.copy(time=t - now))
      now = t
    track.append(mido.MetaMessage('end_of_track', time=tick(piece.num_steps) - now))
    mid.tracks.append(track)
  return mid


def write_midi(piece: Piece, path: str | os.PathLike, *, velocity: int = 80, program: int = 0, channel: int = 0,
               ticks_per_quarter: int = 480, given: np.ndarray | None = None, dynamics: bool = True) -> str:
  """Writes `piece` as a type-0 MIDI file (type 1 with `given` notes on a track of their own) and returns the path.

  Every note gets a note-off (notes sounding at the end stop at the piece's last step); the file carries the piece's
  tempo and time-signature events. The file appears whole or not at all (written to a temporary file, then renamed);
  missing parent folders are created.

  Args:
    velocity: note-on velocity in [1, 127] of every note of a piece without dynamics (`piece.velocity` None), or of
      every note with `dynamics=False`.
    dynamics: strike each note at the piece's own velocity where it has them (`piece.velocity`).
    program: General MIDI program in [0, 127] (0: acoustic grand piano, 19: church organ).
    channel: MIDI channel in [0, 15] (9 is the drum channel).
    ticks_per_quarter: time resolution of the file.
    given: `bool[T, N]`, notes that were given (a melody, a primer): written on channel `channel + 1`.
  """
  mid = to_midi_file(piece, velocity=velocity, program=program, channel=channel, ticks_per_quarter=ticks_per_quarter,
                     given=given, dynamics=dynamics)
  with atomic_path(path) as tmp:
    mid.save(tmp)
  return os.fspath(path)
