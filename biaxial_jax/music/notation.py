"""A `Piece` as a score a musician opens: MusicXML through music21.

A piece with voices (`Piece.voices`: a model with voices wrote it, or a four-part score was read) is written one
part per voice, as the voices sang it: Soprano and Alto in treble clef, Tenor in the octave treble clef, Bass in
bass clef, each voice resting only where it rests (notes no voice sings, if any, go to a part of their own).
Otherwise the given material (a melody, primer, motif) gets a part of its own. The generated notes are split into voices by
pitch order where the texture allows (up to four voices, a voice taking two notes where a few steps have more: a
chorale becomes Soprano, Alto, Tenor and Bass, or Alto, Tenor and Bass under a given melody), each note kept whole in
one voice and voices chosen to move as little as they can; a denser texture goes on a grand staff split at middle C. Bar lines, the pickup, meter changes, the key
signature, ties across bar lines and fermatas at phrase ends come from the piece.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from music21 import chord, clef as m21clef, expressions, key as m21key, metadata, meter, note, pitch as m21pitch, stream, tempo, tie

from biaxial_jax.music.files import atomic_path
from biaxial_jax.music.midi import note_spans, whole_given_notes
from biaxial_jax.music.keys import TONIC_NAMES
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece

CHORALE_VOICES = ('Soprano', 'Alto', 'Tenor', 'Bass')
MIDDLE_C = 60
CROSSING_PENALTY = 24  # semitones of movement a voice crossing costs when assigning notes to voices
DIVISI_PENALTY = 36  # and a voice taking a second note at once
DIVISI_SHARE = 0.1  # steps with more notes than the score has voices, at most: a voice then takes two (divisi)


def assign_voices(roll: np.ndarray, num_voices: int) -> np.ndarray:
  """`int[T, N]`: the voice (0 the highest) of every sounding cell of a roll, -1 elsewhere. Each note stays whole in
  one voice; the notes struck together go to voices in pitch order, where they move least, preferring free voices;
  where more notes sound than there are voices, a voice takes two at once (divisi)."""
  voice_of = np.full(roll.shape[:2], -1, np.int32)
  busy_until = np.zeros(num_voices, np.int64)
  last_pitch = np.full(num_voices, np.nan)
  for start, group in itertools.groupby(note_spans(roll), key=lambda s: s[0]):
    group = sorted(group, key=lambda s: -s[2])  # highest first
    held = {v: last_pitch[v] for v in range(num_voices) if busy_until[v] > start}
    best, best_cost = None, np.inf
    for voices in itertools.combinations_with_replacement(range(num_voices), len(group)):
      cost = DIVISI_PENALTY * (len(voices) - len(set(voices)) + sum(v in held for v in voices))
      for v, (_, _, pitch) in zip(voices, group):
        cost += 0 if np.isnan(last_pitch[v]) else abs(pitch - last_pitch[v])
        cost += CROSSING_PENALTY * sum((u < v and p < pitch) or (u > v and p > pitch) for u, p in held.items())
      if cost < best_cost:
        best, best_cost = voices, cost
    for v, (s, e, pitch) in zip(best, group):
      voice_of[s:e, pitch] = v
      busy_until[v], last_pitch[v] = max(busy_until[v], e), pitch
  return voice_of


def _segments(roll: np.ndarray, breaks) -> list[tuple[int, int]]:
  """Spans between consecutive onsets, note ends and `breaks` (phrase ends, the pickup's end)."""
  play, art = roll[..., PLAY].astype(bool), roll[..., ARTICULATE].astype(bool)
  changed = np.flatnonzero((play != np.pad(play, ((1, 0), (0, 0)))[:-1]).any(axis=1) | art.any(axis=1))
  edges = sorted({0, len(roll), *changed.tolist(), *(b for b in breaks if 0 < b < len(roll))})
  return list(zip(edges[:-1], edges[1:]))


def _part(roll: np.ndarray, piece: Piece, name: str, first: bool, pickup: int, clef: str | None = None):
  """A music21 Part of the notes of `roll` (notes, chords and rests; ties where a note goes on), in measures, in
  `clef` (a music21 clef class name) or the one music21 finds best."""
  spq = piece.steps_per_quarter
  shift = 0
  meters = piece.time_signatures
  if pickup:  # the pickup's bar is written as the full bar, its missing beats padded, and re-aligned below
    shift = meters[1].steps_per_bar(spq) - pickup
    meters = meters[1:]
  part = stream.Part()
  for i, ts in enumerate(meters):
    part.insert((ts.step + shift) / spq if i else 0, meter.TimeSignature(f'{ts.numerator}/{ts.denominator}'))
  if clef is not None:
    part.insert(0, getattr(m21clef, clef)())
  if piece.key is not None:
    part.insert(0, _key(piece.key))
  if first:
    part.insert(0, tempo.MetronomeMark(number=round(piece.tempos[0].qpm, 2)))
  play, art = roll[..., PLAY].astype(bool), roll[..., ARTICULATE].astype(bool)
  ends = set(piece.phrase_ends or ())
  spell = _speller(piece.key)
  for a, b in _segments(roll, [pickup, *ends]):
    pitches = np.flatnonzero(play[a])
    length = (b - a) / spq
    if not pitches.size:
      element = note.Rest(quarterLength=length)
    else:
      spelled = [spell(piece.lowest + int(p)) for p in pitches]
      element = (note.Note(spelled[0], quarterLength=length) if pitches.size == 1
                 else chord.Chord(spelled, quarterLength=length))
      notes = [element] if pitches.size == 1 else list(element.notes)
      for n, p in zip(notes, pitches):
        tied_in = a > 0 and play[a - 1, p] and not art[a, p]
        tied_out = b < len(roll) and play[b, p] and not art[b, p]
        if tied_in or tied_out:
          n.tie = tie.Tie('continue' if tied_in and tied_out else 'stop' if tied_in else 'start')
      if b in ends:
        element.expressions.append(expressions.Fermata())
    part.insert((a + shift) / spq, element)
  part = part.makeMeasures()
  part.makeTies(inPlace=True)
  part.partName = name
  if shift:
    measures = list(part.getElementsByClass('Measure'))
    for element in list(measures[0].notesAndRests):
      measures[0].setElementOffset(element, element.offset - shift / spq)
    measures[0].paddingLeft = shift / spq
    for number, measure in enumerate(measures):
      measure.number = number
      if number:
        part.setElementOffset(measure, measure.offset - shift / spq)
  return part


# Notes outside a key's scale, by semitones above the tonic: the scale degree they alter and how (music21
# intervals). Major: the leading tones of ii, iii, V and vi (#1, #2, #4, #5) and the flat seventh of V7/IV; minor
# (its natural scale): the Neapolitan flat second, the Picardy third, the leading tone of V, and the raised sixth and
# seventh of the melodic and harmonic minor. So C-sharp and F-sharp in D minor, never D-flat and G-flat.
_CHROMATIC = {True: {1: (1, 'A1'), 3: (2, 'A1'), 6: (4, 'A1'), 8: (5, 'A1'), 10: (7, '-A1')},
              False: {1: (2, '-A1'), 4: (3, 'A1'), 6: (4, 'A1'), 9: (6, 'A1'), 11: (7, 'A1')}}


def _speller(key):
  """MIDI note number -> music21 Pitch spelled for `key`: the scale's own names (A-flat, not G-sharp, in F minor),
  and the other five as the alterations tonal music gives them (`_CHROMATIC`)."""
  if key is None:
    return lambda midi: m21pitch.Pitch(midi=midi)
  m21 = _key(key)
  names = {}
  for degree in range(1, 8):
    scale_pitch = m21.pitchFromDegree(degree)
    names[scale_pitch.pitchClass] = scale_pitch.name
  for semitones, (degree, interval) in _CHROMATIC[key.major].items():
    names[(key.tonic + semitones) % 12] = m21.pitchFromDegree(degree).transpose(interval).name

  def spell(midi: int):
    plain = m21pitch.Pitch(midi=midi)
    return next((c for c in (plain, plain.getEnharmonic(), plain.getLowerEnharmonic(), plain.getHigherEnharmonic())
                 if c is not None and c.name == names[midi % 12]), plain)
  return spell


def _key(key):
  name = TONIC_NAMES[key.major][key.tonic].replace('b', '-')  # music21 writes flats as '-'
  return m21key.Key(name if key.major else name.lower())


VOICE_CLEFS = ('TrebleClef', 'TrebleClef', 'Treble8vbClef', 'BassClef')


def voice_rolls(piece: Piece) -> list[np.ndarray]:
  """The roll of each voice of a piece with voices, soprano first: the cells it sings, struck where the cell is
  struck or the voice arrives on it; and, last, a roll of the notes no voice sings (empty in a well-formed piece)."""
  roll = np.asarray(piece.roll)
  rolls = []
  for v in range(len(CHORALE_VOICES)):
    sings = (piece.voices >> v) & 1 > 0
    before = np.vstack([np.zeros_like(sings[:1]), sings[:-1]])
    voice = np.zeros_like(roll)
    voice[..., PLAY] = sings
    voice[..., ARTICULATE] = sings & ((roll[..., ARTICULATE] > 0) | ~before)
    rolls.append(voice)
  rolls.append(roll * ((piece.voices == 0) & (roll[..., PLAY] > 0))[..., None])
  return rolls


def to_score(piece: Piece, given: np.ndarray | None = None, *, given_name: str = 'Melody'):
  """The music21 Score of `piece` (see the module docstring); `given` (`bool[T, N]`) marks given notes."""
  roll = np.asarray(piece.roll)
  pickup = 0
  if len(piece.time_signatures) > 1 and piece.bar_position[0] != 0:
    pickup = piece.time_signatures[1].step
  score = stream.Score()
  score.metadata = metadata.Metadata(title=piece.name or 'biaxial-jax', composer='biaxial-jax')
  if piece.voices is not None and piece.voices.any():
    *rolls, others = voice_rolls(piece)
    parts = list(zip(CHORALE_VOICES, rolls, VOICE_CLEFS)) + ([('Others', others, None)] if others.any() else [])
    for i, (name, part_roll, clef) in enumerate(parts):
      score.insert(0, _part(part_roll, piece, name, i == 0, pickup, clef))
    return score
  given = (np.zeros(roll.shape[:2], bool) if given is None
           else whole_given_notes(roll, np.asarray(given, bool)[:len(roll)]))
  given_roll = roll * given[..., None]
  generated = roll * ~given[..., None]
  parts = []
  if given_roll[..., PLAY].any():
    parts.append((given_name, given_roll))
  counts = generated[..., PLAY].sum(axis=1)
  counts = counts[counts > 0]
  # the texture's number of voices: the fewest that hold all but DIVISI_SHARE of the sounding steps
  usual = int(np.argmax(np.cumsum(np.bincount(counts)) >= (1 - DIVISI_SHARE) * counts.size)) if counts.size else 0
  if 0 < usual <= len(CHORALE_VOICES):
    voices = usual
    voice_of = assign_voices(generated, voices)
    if parts:  # under a given melody the generated voices are the lower ones: Alto, Tenor, Bass in a chorale
      names = CHORALE_VOICES[1:] if voices == 3 else [f'Voice {v + 1}' for v in range(voices)]
    else:
      names = CHORALE_VOICES if voices == 4 else [f'Voice {v + 1}' for v in range(voices)] if voices > 1 else ['Voice']
    for v in range(voices):
      parts.append((names[v], generated * (voice_of == v)[..., None]))
  elif usual:
    lower = np.arange(roll.shape[1]) + piece.lowest < MIDDLE_C
    parts.append(('Upper', generated * ~lower[None, :, None]))
    parts.append(('Lower', generated * lower[None, :, None]))
  for i, (name, part_roll) in enumerate(parts):
    score.insert(0, _part(part_roll, piece, name, i == 0, pickup))
  return score


def write_musicxml(piece: Piece, path: str | os.PathLike, given: np.ndarray | None = None) -> str:
  """Writes `to_score(piece, given)` as MusicXML (whole or not at all) and returns the path."""
  score = to_score(piece, given)
  with atomic_path(path) as tmp:
    score.write('musicxml', fp=tmp)
  return os.fspath(path)
