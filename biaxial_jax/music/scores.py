"""Scores (MusicXML, ABC, Humdrum ...) into `Piece`s through music21, and one reader for every input format.

`read_piece(path)` picks the format by content (a Standard MIDI File starts with `MThd`, or `RIFF` for `.rmi`) and
extension: MIDI through `midi.read_midi`, anything else music21 parses (`.musicxml`, `.mxl`, `.xml`, `.abc`, `.krn`)
through `read_score`. Scores keep what MIDI often loses: the true pickup, the meter, the key and the fermatas (phrase
ends).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from music21 import converter, expressions, key as m21key, meter, stream, tempo as m21tempo

from biaxial_jax.music import dynamics, voices as voices_lib
from biaxial_jax.errors import GenerationError
from biaxial_jax.music.inputs import with_pickup
from biaxial_jax.music.midi import read_midi
from biaxial_jax.music.piece import (BiaxialError, Key, Piece, RangePolicy, Tempo, TimeSignature, roll_from_notes,
                                     time_signature_for_steps, velocity_from_notes)

SCORE_EXTENSIONS = ('.musicxml', '.mxl', '.xml', '.abc', '.krn')


class ScoreReadError(BiaxialError):
  """A score file that cannot be turned into a `Piece`; the message names the file."""


def _to_step(quarters, steps_per_quarter) -> int:
  return int(np.floor(Fraction(quarters) * steps_per_quarter + Fraction(1, 2)))


def _tied_notes(part) -> list[tuple[Fraction, Fraction, int, bool]]:
  """`(start, end, midi, fermata)` in quarters of every note of a part, tied notes joined pitch by pitch (music21's
  `stripTies` joins whole chords, so a chord holding one note on and striking another lost the new note)."""
  held, out = {}, []  # held: midi -> [start, end, midi, fermata] of a note whose tie goes on
  for element in part.flatten().notes:
    start, end = Fraction(element.offset), Fraction(element.offset) + Fraction(element.quarterLength)
    fermata = any(isinstance(e, expressions.Fermata) for e in element.expressions)
    for member in ([element] if element.isNote else list(element.notes)):
      midi = member.pitch.midi
      tie = (member.tie or element.tie) and (member.tie or element.tie).type
      if tie in ('continue', 'stop') and midi in held and held[midi][1] == start:
        held[midi][1], held[midi][3] = end, held[midi][3] or fermata
        if tie == 'stop':
          out.append(tuple(held.pop(midi)))
        continue
      if midi in held:  # a tie that never stopped: the note ends where it was last extended
        out.append(tuple(held.pop(midi)))
      if tie in ('start', 'continue'):
        held[midi] = [start, end, midi, fermata]
      else:
        out.append((start, end, midi, fermata))
  return out + [tuple(note) for note in held.values()]


def score_to_piece(score, identifier: str, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
                   out_of_range: RangePolicy = 'fold', vocal: bool = False) -> Piece:
  """A music21 score (all parts merged) as a `Piece`: tied notes joined, pickup bar and meter changes kept, its key
  (the first notated key with a mode, else music21's analysis), its phrase ends (where fermata notes end; None
  when it has no fermata) and, where it has dynamic markings, velocities from them (`music.dynamics`).

  A score of exactly four vocal parts (`voices.vocal_parts`: Soprano, Alto, Tenor, Bass, or four unnamed parts)
  also gives each cell its voices (`Piece.voices`). With `vocal`, a score that has the four vocal parts beside
  instrumental ones is read as the four alone (a chorale whose instruments double or decorate the choir)."""

  parts = list(score.parts)
  vocal_parts = voices_lib.vocal_parts(parts)
  if vocal_parts is not None and (vocal or len(parts) == voices_lib.NUM_VOICES):
    parts = vocal_parts
  else:
    vocal_parts = None
  notes, fermata_ends, strikes, sung = [], set(), [], []
  marked = dynamics.has_dynamics(score)
  for voice, part in enumerate(parts):
    velocity = dynamics.part_velocity(part, score) if marked else None
    for start, end, midi, fermata in _tied_notes(part):
      notes.append((_to_step(start, steps_per_quarter), _to_step(end, steps_per_quarter), midi))
      sung.append(voice)
      if fermata:
        fermata_ends.add(notes[-1][1])
      if marked:
        strikes.append((notes[-1][0], midi, velocity(start)))
  roll, _ = roll_from_notes(notes, lowest=lowest, num_notes=num_notes, out_of_range=out_of_range)
  velocities = velocity_from_notes(strikes, roll, lowest=lowest, out_of_range=out_of_range) if marked else None
  voices = None
  if vocal_parts is not None:
    voices = voices_lib.voices_from_notes(notes, sung, roll, lowest=lowest, out_of_range=out_of_range)
  notated = [k for k in score.flatten().getElementsByClass(m21key.Key) if k.mode in ('major', 'minor')]
  found = notated[0] if notated else score.analyze('key')
  key = Key(found.tonic.pitchClass, found.mode == 'major')

  first_part = parts[0]
  flat = first_part.flatten()
  meters = _meters(first_part, steps_per_quarter)
  marks = flat.getElementsByClass(m21tempo.MetronomeMark)
  qpm = next((m.getQuarterBPM() for m in marks if m.getQuarterBPM()), 100.0)
  ends = tuple(sorted(e for e in fermata_ends if 0 < e <= len(roll))) if fermata_ends else None
  return Piece(roll, lowest=lowest, steps_per_quarter=steps_per_quarter, time_signatures=tuple(meters),
               tempos=(Tempo(0, float(qpm)),), name=identifier, key=key, phrase_ends=ends, velocity=velocities,
               voices=voices)



def score_lines(score, steps_per_quarter: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A score read as lines, one per part, top part first, for `voices.voice_leading`: `(pitch_TxV, struck_TxV,
  held_TxV)`, each part's MIDI pitch at each step (its highest where it holds a chord; -1 where it rests), where it
  strikes a note, and how many notes it holds. Bach's chorales and this project's own MusicXML are measured so."""
  parts = [_tied_notes(part) for part in score.parts]
  length = max((_to_step(end, steps_per_quarter) for notes in parts for _, end, _, _ in notes), default=0)
  pitch = np.full((length, len(parts)), -1, np.int64)
  struck = np.zeros((length, len(parts)), bool)
  held = np.zeros((length, len(parts)), np.int64)
  for v, notes in enumerate(parts):
    for start, end, midi, _ in notes:
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


def read_score(path: str | os.PathLike, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
               out_of_range: RangePolicy = 'fold') -> Piece:
  """A score file music21 can parse (MusicXML, compressed MusicXML, ABC, Humdrum ...) as a `Piece`, all parts merged;
  of a file holding several songs (an ABC collection), the first. `ScoreReadError` naming the file otherwise."""
  path = os.fspath(path)
  name = os.path.basename(path)
  try:
    score = converter.parse(path)
    if isinstance(score, stream.Opus):
      score = score.scores[0]
    return score_to_piece(score, name, lowest=lowest, num_notes=num_notes, steps_per_quarter=steps_per_quarter,
                          out_of_range=out_of_range)
  except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on damaged files
    raise ScoreReadError(f'{path}: not a readable score ({type(e).__name__}: {str(e)[:200]})') from None


def stream_to_piece(s, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
                    out_of_range: RangePolicy = 'fold') -> Piece:
  """A music21 stream (a score, a part, or notes) as a `Piece`; `ScoreReadError` when it holds nothing usable."""
  try:
    if not isinstance(s, stream.Score):
      s = stream.Score([s if isinstance(s, stream.Part) else stream.Part(s.flatten().notesAndRests)])
    return score_to_piece(s, s.metadata.title if s.metadata and s.metadata.title else 'stream', lowest=lowest,
                          num_notes=num_notes, steps_per_quarter=steps_per_quarter, out_of_range=out_of_range)
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


def read_piece(path: str | os.PathLike, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
               out_of_range: RangePolicy = 'fold') -> Piece:
  """MIDI or a score, by content and extension (see the module docstring); the package's own error naming the file
  otherwise."""
  kwargs = dict(lowest=lowest, num_notes=num_notes, steps_per_quarter=steps_per_quarter, out_of_range=out_of_range)
  if is_midi(path):
    return read_midi(path, **kwargs)
  if not os.path.isfile(path):
    raise ScoreReadError(f'{path}: no such file')
  if not os.fspath(path).lower().endswith(SCORE_EXTENSIONS):
    raise ScoreReadError(f'{path}: neither a MIDI file nor a score ({", ".join(SCORE_EXTENSIONS)})')
  return read_score(path, **kwargs)
