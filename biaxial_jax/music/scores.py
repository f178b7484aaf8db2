"""Scores (MusicXML, ABC, Humdrum ...) into `Piece`s through music21, and one reader for every input format.

`read_piece(path)` picks the format by content (a Standard MIDI File starts with `MThd`, or `RIFF` for `.rmi`) and
extension: MIDI through `midi.read_midi`, anything else music21 parses (`.musicxml`, `.mxl`, `.xml`, `.abc`, `.krn`)
through `read_score`. Scores keep what MIDI often loses: the true pickup, the meter, the key and the fermatas (phrase
ends).
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction

import numpy as np

from music21 import articulations, exceptions21, expressions, key as m21key, meter, spanner, stream
from music21 import tempo as m21tempo

from biaxial_jax.music import abc, dynamics, score_files, voices as voices_lib
from biaxial_jax.errors import GenerationError
from biaxial_jax.music.inputs import with_pickup
from biaxial_jax.music.midi import read_midi
from biaxial_jax.music.piece import (Grid, Key, Piece, RangePolicy, ReadNote, Tempo, TimeSignature,
                                     roll_from_notes, time_signature_for_steps, velocity_from_notes)

SCORE_EXTENSIONS = ('.musicxml', '.mxl', '.xml', '.abc', '.krn')
ScoreReadError = score_files.ScoreReadError


def _to_step(quarters, steps_per_quarter) -> int:
  return int(np.floor(Fraction(quarters) * steps_per_quarter + Fraction(1, 2)))


PHRASE_SLUR_NOTES = 4  # a slur over at least this many notes and a bar marks a phrase; shorter ones are legato


def _phrase_slur_ends(part) -> set[int]:
  """`id`s of the notes that end a phrase slur: one over at least `PHRASE_SLUR_NOTES` notes that lasts at least a
  bar (MusicXML writes phrase and legato slurs alike; a melisma's or a legato slur is shorter)."""
  onsets = [Fraction(n.offset) for n in part.flatten().notes]
  ends = set()
  for slur in part.spannerBundle.getByClass(spanner.Slur):
    first, last = slur.getFirst(), slur.getLast()
    try:
      start, stop = Fraction(first.getOffsetInHierarchy(part)), Fraction(last.getOffsetInHierarchy(part))
    except (AttributeError, exceptions21.Music21Exception):  # a slur without notes, or notes outside the part
      continue
    signature = first.getContextByClass(meter.TimeSignature)
    bar = Fraction(signature.barDuration.quarterLength) if signature else Fraction(4)
    if (sum(start <= onset <= stop for onset in onsets) >= PHRASE_SLUR_NOTES
        and stop + Fraction(last.quarterLength) - start >= bar):
      ends.add(id(last))
  return ends


def _tied_notes(part) -> list[tuple[Fraction, Fraction, int, bool, bool]]:
  """`(start, end, midi, phrase_mark, slur_end)` in quarters of every note of a part (a phrase mark: a fermata or
  a breath mark; a slur end: the end of a phrase slur, `_phrase_slur_ends`), tied notes joined pitch by pitch
  (music21's `stripTies` joins whole chords, so a chord holding one note on and striking another lost the new
  note)."""
  held, out = {}, []  # held: midi -> [start, end, midi, fermata, slur_end] of a note whose tie goes on
  slur_ends = _phrase_slur_ends(part)
  for element in part.flatten().notes:
    start, end = Fraction(element.offset), Fraction(element.offset) + Fraction(element.quarterLength)
    fermata = (any(isinstance(e, expressions.Fermata) for e in element.expressions) or
               any(isinstance(a, articulations.BreathMark) for a in element.articulations))
    slur_end = id(element) in slur_ends
    for member in ([element] if element.isNote else list(element.notes)):
      midi = member.pitch.midi
      tie = (member.tie or element.tie) and (member.tie or element.tie).type
      if tie in ('continue', 'stop') and midi in held and held[midi][1] == start:
        held[midi][1], held[midi][3], held[midi][4] = end, held[midi][3] or fermata, held[midi][4] or slur_end
        if tie == 'stop':
          out.append(tuple(held.pop(midi)))
        continue
      if midi in held:  # a tie that never stopped: the note ends where it was last extended
        out.append(tuple(held.pop(midi)))
      if tie in ('start', 'continue'):
        held[midi] = [start, end, midi, fermata, slur_end]
      else:
        out.append((start, end, midi, fermata, slur_end))
  return out + [tuple(note) for note in held.values()]


def _on_grid(notes, steps_per_quarter: int) -> tuple[list[list], int]:
  """A part's notes (`_tied_notes`) as `[start_step, end_step, midi, phrase_mark, slur_end, start]`, and how many
  found no room. A note that rounds to no length (a grace note; a tuplet finer than the grid) takes its step from the notes
  that end where it starts (several in a row, a step each, in order), or from a rest there; where those notes are
  too short to give one, it finds no room."""
  spans = [[_to_step(start, steps_per_quarter), _to_step(end, steps_per_quarter), midi, mark, slur_end, start]
           for start, end, midi, mark, slur_end in notes]
  timed = [span for span in spans if span[1] > span[0]]
  untimed: dict[int, list[list]] = {}
  for span in spans:
    if span[1] <= span[0]:
      untimed.setdefault(span[0], []).append(span)
  lost = 0
  for anchor, group in sorted(untimed.items()):
    k, first = len(group), anchor - len(group)
    before = [span for span in timed if span[1] == anchor]
    blocked = any(span[0] < anchor and span[1] > first for span in timed if span[1] != anchor)
    if first < 0 or blocked or any(span[1] - span[0] <= k for span in before):
      lost += k
      continue
    for span in before:
      span[1] = first
    for i, span in enumerate(group):
      span[0], span[1] = first + i, first + i + 1
      timed.append(span)
  return timed, lost


def score_to_piece(score, identifier: str, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold',
                   vocal: bool = False, mode_named: bool = True, phrase_lines: tuple[Fraction, ...] = ()) -> Piece:
  """A music21 score (all parts merged) as a `Piece` on `grid`: tied notes joined, pickup bar and meter changes kept,
  its key (`_notated_key`; `mode_named` False: the notation's mode is not to be trusted, as in an ABC `K:D`), its
  phrase ends (where notes marked with a fermata or a breath mark end; else where phrase slurs end; else the ends of
  `phrase_lines`, offsets in quarters, each moved back to the end of the last note before it; None when nothing
  marks them; a Humdrum file's phrase ends `}` read as fermatas, `score_files.parse`) and, where it has dynamic
  markings, velocities from them (`music.dynamics`).

  A score of exactly four vocal parts (`voices.vocal_parts`: Soprano, Alto, Tenor, Bass, or four unnamed parts)
  also gives each cell its voices (`Piece.voices`). With `vocal`, a score that has the four vocal parts beside
  instrumental ones is read as the four alone (a chorale whose instruments double or decorate the choir)."""

  parts = list(score.parts)
  vocal_parts = voices_lib.vocal_parts(parts)
  if vocal_parts is not None and (vocal or len(parts) == voices_lib.NUM_VOICES):
    parts = vocal_parts
  else:
    vocal_parts = None
  lowest, num_notes, steps_per_quarter = grid
  notes, fermata_ends, slur_ends, strikes, sung = [], set(), set(), [], []
  marked = dynamics.has_dynamics(score)
  lost = 0
  for voice, part in enumerate(parts):
    velocity = dynamics.part_velocity(part, score) if marked else None
    placed, part_lost = _on_grid(_tied_notes(part), steps_per_quarter)
    lost += part_lost
    for first, last, midi, fermata, slur_end, start in placed:
      notes.append((first, last, midi))
      sung.append(voice)
      if fermata:
        fermata_ends.add(last)
      if slur_end:
        slur_ends.add(last)
      if marked:
        strikes.append((first, midi, velocity(start)))
  if lost:
    warnings.warn(ReadNote(f'{identifier}: {lost} note{"s" if lost > 1 else ""} shorter than the grid of '
                           f'{steps_per_quarter} steps per quarter (grace notes, tuplets) found no room beside the '
                           f'notes before them and {"are" if lost > 1 else "is"} left out'), stacklevel=2)
  roll, _ = roll_from_notes(notes, lowest=lowest, num_notes=num_notes, out_of_range=out_of_range)
  velocities = velocity_from_notes(strikes, roll, lowest=lowest, out_of_range=out_of_range) if marked else None
  voices = None
  if vocal_parts is not None:
    voices = voices_lib.voices_from_notes(notes, sung, roll, lowest=lowest, out_of_range=out_of_range)
  key = _notated_key(score, mode_named)

  first_part = parts[0]
  flat = first_part.flatten()
  meters = _meters(first_part, steps_per_quarter)
  marks = flat.getElementsByClass(m21tempo.MetronomeMark)
  qpm = next((m.getQuarterBPM() for m in marks if m.getQuarterBPM()), 100.0)
  fermata_ends = fermata_ends or slur_ends
  if not fermata_ends:
    note_ends = sorted({end for _, end, _ in notes})
    for line_end in phrase_lines:
      before = [e for e in note_ends if e <= _to_step(line_end, steps_per_quarter)]
      if before:
        fermata_ends.add(before[-1])
  ends = tuple(sorted(e for e in fermata_ends if 0 < e <= len(roll))) if fermata_ends else None
  return Piece(roll, lowest=lowest, steps_per_quarter=steps_per_quarter, time_signatures=tuple(meters),
               tempos=(Tempo(0, float(qpm)),), name=identifier, key=key, phrase_ends=ends, velocity=velocities,
               voices=voices)



def _notated_key(score, mode_named: bool) -> Key:
  """The first notated key with a mode (where `mode_named`); else the key music21's analysis finds likeliest among
  those the notation allows: a bare key signature, its major key or relative minor; a named tonic whose mode is
  open (ABC `K:D`), its major or minor key or the signature's relative minor; nothing notated, any key."""
  signatures = list(score.flatten().getElementsByClass(m21key.KeySignature))
  if signatures and mode_named and getattr(signatures[0], 'mode', None) in ('major', 'minor'):
    found = signatures[0]
    return Key(found.tonic.pitchClass, found.mode == 'major')
  analysis = score.analyze('key')
  candidates = None
  if signatures:
    major = signatures[0].asKey('major').tonic.pitchClass
    candidates = {Key(major, True), Key((major + 9) % 12, False)}
    if getattr(signatures[0], 'mode', None) in ('major', 'minor'):
      tonic = signatures[0].tonic.pitchClass
      candidates |= {Key(tonic, True), Key(tonic, False)}
  for found in [analysis, *analysis.alternateInterpretations]:
    key = Key(found.tonic.pitchClass, found.mode == 'major')
    if candidates is None or key in candidates:
      return key
  return Key(analysis.tonic.pitchClass, analysis.mode == 'major')


def score_lines(score, steps_per_quarter: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A score read as lines, one per part, top part first, for `voices.voice_leading`: `(pitch_TxV, struck_TxV,
  held_TxV)`, each part's MIDI pitch at each step (its highest where it holds a chord; -1 where it rests), where it
  strikes a note, and how many notes it holds. Bach's chorales and this project's own MusicXML are measured so."""
  parts = [_tied_notes(part) for part in score.parts]
  length = max((_to_step(note[1], steps_per_quarter) for notes in parts for note in notes), default=0)
  pitch = np.full((length, len(parts)), -1, np.int64)
  struck = np.zeros((length, len(parts)), bool)
  held = np.zeros((length, len(parts)), np.int64)
  for v, notes in enumerate(parts):
    for start, end, midi, *_ in notes:
      a, b = _to_step(start, steps_per_quarter), _to_step(end, steps_per_quarter)
      b = max(b, a + 1)
      pitch[a:b, v] = np.maximum(pitch[a:b, v], midi)
      held[a:b, v] += 1
      struck[a, v] = True
  return pitch, struck, held


def _meters(part, steps_per_quarter: int) -> tuple[TimeSignature, ...]:
  """The bar lines of a part as meter changes: its time signatures, its pickup, and short bars inside. Short
  measures that add up to a bar (a repeated section's end and the next section's pickup, notated as two measures)
  keep the bar grid; a short bar left incomplete becomes a bar of its own, so the bars after it fall where the score
  puts them."""
  measures = list(part.getElementsByClass('Measure'))
  signatures = {}
  for ts in part.flatten().getElementsByClass(meter.TimeSignature):
    signatures.setdefault(_to_step(ts.offset, steps_per_quarter), (ts.numerator, ts.denominator))
  signatures.setdefault(0, (4, 4))
  current, short_since, short = signatures[0], 0, 0
  for measure in measures[1:]:
    start = _to_step(measure.offset, steps_per_quarter)
    if start in signatures:
      current, short = signatures[start], 0
    bar = TimeSignature(0, *current).steps_per_bar(steps_per_quarter)
    length = _to_step(measure.duration.quarterLength, steps_per_quarter)
    if short and (length >= bar or short + length > bar):  # the short bar was left incomplete: a bar of its own
      spelled = time_signature_for_steps(short, steps_per_quarter)
      if spelled is not None:
        signatures[short_since] = (spelled.numerator, spelled.denominator)
        signatures.setdefault(start, current)
      short = 0
    if length < bar and measure is not measures[-1]:
      short_since = start if not short else short_since
      short = (short + length) % bar  # completed (0): the grid goes on
  meters = []
  for step, (n, d) in sorted(signatures.items()):
    if meters and (n, d) == (meters[-1].numerator, meters[-1].denominator) and (
        (step - meters[-1].step) % meters[-1].steps_per_bar(steps_per_quarter) == 0):
      continue  # the same meter again on its own bar line
    meters.append(TimeSignature(step, n, d))
  meters = tuple(meters)
  if measures and measures[0].paddingLeft:
    try:
      meters = with_pickup(meters, _to_step(measures[0].duration.quarterLength, steps_per_quarter),
                           steps_per_quarter)
    except GenerationError:
      pass  # a pickup no time signature can spell (or a full first bar): read as a bar of its own
  return meters


def read_score(path: str | os.PathLike, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold',
               tune: int | str | None = None) -> Piece:
  """A score file music21 can parse (MusicXML, compressed MusicXML, ABC, Humdrum ...) as a `Piece`, all parts merged.
  Of a file holding several tunes (an ABC tunebook, an opus), the one `tune` names (`music.abc.choose`: its number
  or part of its title; `abc.TuneError` listing them where that is ambiguous); an ABC tune's lines mark its phrases
  where nothing else does. `ScoreReadError` naming the file otherwise."""
  path = os.fspath(path)
  name = os.path.basename(path)
  on_grid = dict(grid=grid, out_of_range=out_of_range)
  try:
    if path.lower().endswith('.abc'):
      text = score_files.decode(score_files.read_bytes(path))
      score_files.check_text_meters(text, path, r'^M:\s*(\d+)\s*/\s*(\d+)')
      chosen = abc.choose(abc.tunes(text), tune, path)
      return score_to_piece(chosen.score(), name if chosen.number is None else f'{name}#{chosen.number}',
                            mode_named=chosen.mode_named, phrase_lines=chosen.line_ends(), **on_grid)
    score = score_files.parse(path)
    if isinstance(score, stream.Opus):
      book = [abc.Tune(s.metadata.number if s.metadata else None, s.metadata.title if s.metadata else '', '')
              for s in score.scores]
      score = score.scores[book.index(abc.choose(book, tune, path))]
    elif tune not in (None, 1):
      raise abc.TuneError(f'{path}: holds one tune; tune {tune!r} asks for another')
    return score_to_piece(score, name, **on_grid)
  except (abc.TuneError, ScoreReadError):
    raise
  except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on damaged files
    raise ScoreReadError(f'{path}: not a readable score ({type(e).__name__}: {str(e)[:200]})') from None


def stream_to_piece(s, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold') -> Piece:
  """A music21 stream (a score, a part, or notes) as a `Piece`; `ScoreReadError` when it holds nothing usable."""
  try:
    if not isinstance(s, stream.Score):
      s = stream.Score([s if isinstance(s, stream.Part) else stream.Part(s.flatten().notesAndRests)])
    return score_to_piece(s, s.metadata.title if s.metadata and s.metadata.title else 'stream', grid=grid,
                          out_of_range=out_of_range)
  except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on odd streams
    raise ScoreReadError(f'a music21 {type(s).__name__}: not usable as a piece ({type(e).__name__}: '
                         f'{str(e)[:200]})') from None


def is_midi(path: str | os.PathLike) -> bool:
  """A Standard MIDI File by its first bytes (or, for an empty or unreadable file, by its extension)."""
  try:
    with open(path, 'rb') as f:
      head = f.read(4)
  except OSError:
    head = b''
  if head in (b'MThd', b'RIFF'):
    return True
  return not head and os.fspath(path).lower().endswith(('.mid', '.midi', '.rmi'))


def read_piece(path: str | os.PathLike, *, grid: Grid = Grid(), out_of_range: RangePolicy = 'fold',
               tune: int | str | None = None) -> Piece:
  """MIDI or a score, by content and extension (see the module docstring; `tune` as in `read_score`, for a score);
  the package's own error naming the file otherwise."""
  kwargs = dict(grid=grid, out_of_range=out_of_range)
  if not os.path.exists(path):
    raise ScoreReadError(f'{path}: no such file')
  if not os.path.isfile(path):  # a FIFO would block the first read
    raise ScoreReadError(f'{path}: not a regular file')
  if is_midi(path):
    if tune not in (None, 1):
      raise abc.TuneError(f'{path}: a MIDI file holds one tune; tune {tune!r} asks for another')
    return read_midi(path, **kwargs)
  if not os.fspath(path).lower().endswith(SCORE_EXTENSIONS):
    raise ScoreReadError(f'{path}: neither a MIDI file nor a score ({", ".join(SCORE_EXTENSIONS)})')
  return read_score(path, tune=tune, **kwargs)
