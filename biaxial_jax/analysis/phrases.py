"""Where a melody's phrases end when nothing marks them: heard as a musician hears them.

A phrase of a song closes on a note that lasts (a long note, or one followed by a rest), on a strong beat, on a
degree of the tonic triad (1 most), and the next phrase begins as the tune began: with its pickup, and often with
its opening notes again. Phrases last a few bars, 2 most often. `heard_phrase_ends` scores every note end by those
cues (`boundary_scores`) and picks the best set of ends by dynamic programming, each phrase's length weighed
against `TYPICAL_BARS`. Measured against the phrase lines of Essen folk songs (`essen_agreement`; docs/results.md,
"Phrases heard in a melody").
"""

from __future__ import annotations

import numpy as np

from music21 import corpus

from biaxial_jax.analysis.harmony import beat_steps
from biaxial_jax.music import abc, scores
from biaxial_jax.music.midi import note_spans
from biaxial_jax.music.piece import Key, Piece

TYPICAL_BARS = 2.0  # the commonest phrase length of chorales and folk songs
MIN_BARS = 1.0  # no shorter phrase is heard (in bars of the meter in force)
LENGTH_WEIGHT = 8.0  # score lost per squared doubling (log2) of a phrase's length away from TYPICAL_BARS
REST = 3.0  # a rest after the note
LONG = 1.5  # per doubling of the note's span to the next onset over the tune's median span
DOWNBEAT, BEAT = 1.0, 0.4  # the closing note starts on a downbeat / another beat
TONIC, TRIAD = 1.0, 0.5  # the closing note is the tonic / the third or fifth
PICKUP = 3.0  # the next phrase begins where the tune's first phrase began in its bar (its pickup)
OPENING = 1.5  # the next phrase begins with the tune's first three intervals and rhythms


def melody_notes(piece: Piece) -> list[tuple[int, int, int]]:
  """`(start, end, pitch)` of the highest note struck at each onset, in order (a melody; a chord's top note)."""
  spans = sorted(note_spans(piece.roll), key=lambda s: (s[0], -s[2]))
  out = []
  for start, end, note in spans:
    if not out or start > out[-1][0]:
      out.append((int(start), int(end), piece.lowest + int(note)))
  return out


def boundary_scores(piece: Piece, key: Key | None) -> tuple[list[tuple[int, int, int]], np.ndarray]:
  """The melody's notes (`melody_notes`) and, per note but the last, how strongly a phrase is heard to end with it."""
  notes = melody_notes(piece)
  if len(notes) < 2:
    return notes, np.zeros(0)
  starts = np.array([n[0] for n in notes])
  spans = np.diff(starts)
  median = float(np.median(spans))
  position = piece.bar_position
  spq = piece.steps_per_quarter
  first_position = int(position[starts[0]])
  opening = _shape(notes, 0)
  scores = np.zeros(len(notes) - 1)
  for i, (start, end, pitch) in enumerate(notes[:-1]):
    meter = [m for m in piece.time_signatures if m.step <= start][-1]
    next_start = int(starts[i + 1])
    score = REST if next_start > end else 0.0
    score += LONG * max(np.log2(spans[i] / median), 0.0)
    score += DOWNBEAT if position[start] == 0 else BEAT if position[start] % beat_steps(meter, spq) == 0 else 0.0
    if key is not None:
      degree = (pitch - key.tonic) % 12
      score += TONIC if degree == 0 else TRIAD if degree in (7, 3 if not key.major else 4) else 0.0
    if first_position and position[next_start] == first_position:
      score += PICKUP
    if opening and _shape(notes, i + 1) == opening:
      score += OPENING
    scores[i] = score
  return notes, scores


def _shape(notes, first: int, length: int = 3):
  """The intervals and onset gaps of `length` notes from `first` (None where the tune has fewer)."""
  if first + length >= len(notes):
    return None
  part = notes[first:first + length + 1]
  return tuple((b[2] - a[2], b[0] - a[0]) for a, b in zip(part, part[1:]))


def heard_phrase_ends(piece: Piece, key: Key | None = None) -> tuple[int, ...]:
  """Phrase ends of a melody (the steps where each phrase's last note ends; the last at the piece's end), chosen to
  maximise the boundary scores less each phrase's length cost (see the module docstring)."""
  notes, scores = boundary_scores(piece, key or piece.key)
  end = piece.num_steps
  if not scores.size:
    return (end,)
  first = np.flatnonzero(piece.bar_position == 0)
  meter = [m for m in piece.time_signatures if m.step <= (first[0] if first.size else 0)][-1]
  bar_steps = meter.steps_per_bar(piece.steps_per_quarter)  # phrase lengths in bars of the main meter
  # Phrases begin at onsets: the start of the tune, or the note after a boundary; they end where a note ends.
  starts = [notes[0][0]] + [notes[i + 1][0] for i in range(len(scores))]
  ends = [notes[i][1] for i in range(len(scores))] + [end]

  def cost(a, b):  # a phrase from onset index a to end index b
    length = (ends[b] - starts[a]) / bar_steps
    if length < MIN_BARS and b < len(scores):
      return -np.inf
    return -LENGTH_WEIGHT * np.log2(max(length, 0.25) / TYPICAL_BARS) ** 2

  # best[b]: the best total of phrases covering onsets 0..b with a phrase ending at index b
  best = np.full(len(ends), -np.inf)
  back = np.zeros(len(ends), int)
  for b in range(len(ends)):
    gain = scores[b] if b < len(scores) else 0.0
    for a in range(b + 1):
      before = 0.0 if a == 0 else best[a - 1]
      total = before + cost(a, b) + gain
      if total > best[b]:
        best[b], back[b] = total, a
  chosen, b = [], len(ends) - 1
  while b >= 0:
    chosen.append(ends[b])
    b = back[b] - 1
  return tuple(sorted(set(chosen)))


def essen_agreement(books=('erk10', 'erk20'), tunes_per_book: int = 80) -> dict:
  """How the phrases heard in Essen folk songs (music21's corpus: `essenFolksong/<book>`, the first tunes of each
  book) agree with the phrase lines the collection wrote: recall and precision of the phrase ends (the piece's end
  counted once in each), and the share of tunes heard exactly as written. Tunes with a meter change are left out."""
  found = marked = agreed = exact = tunes = 0
  for book in books:
    with open(corpus.getWork(f'essenFolksong/{book}'), encoding='latin-1') as f:
      text = f.read()
    for tune in abc.tunes(text)[:tunes_per_book]:
      try:
        piece = scores.score_to_piece(tune.score(), book, mode_named=tune.mode_named, phrase_lines=tune.line_ends())
      except Exception:  # pylint: disable=broad-except  # a few tunes of the collection music21 cannot read
        continue
      if not piece.phrase_ends or len(piece.time_signatures) > 3:
        continue
      written, heard = set(piece.phrase_ends) | {piece.num_steps}, set(heard_phrase_ends(piece))
      found, marked, agreed = found + len(heard), marked + len(written), agreed + len(written & heard)
      exact, tunes = exact + (written == heard), tunes + 1
  return {'tunes': tunes, 'recall': agreed / max(marked, 1), 'precision': agreed / max(found, 1),
          'exact_share': exact / max(tunes, 1)}
