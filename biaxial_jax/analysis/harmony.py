"""Harmonic statistics of pieces, as a musician reads them: chords per beat, clashes, cadences, key, parallels.

Computed the same way for real and generated pieces (numpy + music21, offline, on outputs). A *beat* is the onset of
each beat of the meter in force (a quarter in x/4, a dotted quarter in 6/8, 9/8, 12/8, an eighth in other x/8, a
half in x/2); its *sonority* is the set of pitches sounding at that step. Chord types come from music21 (its
pitch-class set tables name every sonority, whatever its spelling), cached per sonority:

| category | what |
|---|---|
| `triad` | a complete major or minor triad (doublings allowed) |
| `dim_aug` | a complete diminished or augmented triad |
| `seventh` | a complete seventh chord (dominant, major, minor, half-diminished, diminished ...) |
| `incomplete` | one or two pitch classes, or three that music21 names an incomplete seventh chord |
| `other` | everything else: non-tertian sonorities, clusters, sevenths with added notes |
| `rest` | nothing sounds |

Voice leading (parallels, crossings, spacing, voices that drop out, each voice's range: `music.voices`) is read
from the score this project writes of a piece (`notation.to_score`: its voices where it has them, else voices by
pitch order under any given melody), one line per part, as a musician reads the score; Bach's chorales go through
the same code. Register: the lowest and highest sounding pitch of each 4-bar window, their medians over windows.
Intervals are compared as MIDI numbers (semitones): MIDI carries no spelling, and music21's interval names depend on
one.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from music21 import chord, note, stream

from biaxial_jax.music import notation, scores, voices
from biaxial_jax.music.midi import note_spans
from biaxial_jax.music.piece import PLAY, Key, Piece, TimeSignature

CATEGORIES = ('triad', 'dim_aug', 'seventh', 'incomplete', 'other', 'rest')
WINDOW_BARS = 4  # bars per key window and the unit of the cadence rate


def beat_steps(ts: TimeSignature, steps_per_quarter: int) -> int:
  """Grid steps per beat of a meter: compound meters (6/8, 9/8, 12/8 ...) beat in dotted quarters."""
  unit = max(4 * steps_per_quarter // ts.denominator, 1)
  compound = ts.denominator >= 8 and ts.numerator % 3 == 0 and ts.numerator > 3
  return unit * 3 if compound else unit


def beat_onsets(bar_position: np.ndarray, time_signatures, steps_per_quarter: int) -> np.ndarray:
  """The steps that start a beat, in order, given each step's position in its bar and the meters."""
  num_steps = len(bar_position)
  is_beat = np.zeros(num_steps, bool)
  starts = [ts.step for ts in time_signatures] + [num_steps]
  for ts, start, end in zip(time_signatures, starts, starts[1:]):
    beat = beat_steps(ts, steps_per_quarter)
    steps = np.arange(start, min(end, num_steps))
    is_beat[steps] = bar_position[steps] % beat == 0
  return np.flatnonzero(is_beat)


def beats_of(piece: Piece) -> np.ndarray:
  """The steps of `piece` that start a beat, in order."""
  return beat_onsets(piece.bar_position, piece.time_signatures, piece.steps_per_quarter)


def sonority(piece: Piece, step: int) -> tuple[int, ...]:
  """MIDI pitches sounding at `step`, low to high."""
  return tuple(int(piece.lowest + n) for n in np.flatnonzero(piece.roll[step, :, PLAY]))


@functools.lru_cache(maxsize=None)
def _classify_pitch_classes(pitch_classes: frozenset, bass_pc: int) -> tuple[str, int]:
  """(category, inversion of a major/minor triad: 0 root position, 1 six, 2 six-four; -1 for other sonorities).

  A triad without its fifth (root and third, as chorales often end) counts as incomplete, but has an inversion."""
  # One octave, bass first: music21 then spells the chord itself (simplifyEnharmonics) and finds its root.
  pitches = [60 + bass_pc] + [60 + bass_pc + (pc - bass_pc) % 12 for pc in sorted(pitch_classes) if pc != bass_pc]
  c = chord.Chord(pitches).simplifyEnharmonics()
  if c.isMajorTriad() or c.isMinorTriad():
    return 'triad', c.inversion()
  if c.isDiminishedTriad() or c.isAugmentedTriad():
    category = 'dim_aug'
  elif c.isSeventh():
    category = 'seventh'
  elif c.isIncompleteMajorTriad() or c.isIncompleteMinorTriad():
    return 'incomplete', 0 if c.root().pitchClass == bass_pc else 1
  elif len(pitch_classes) <= 2 or (len(pitch_classes) == 3 and c.commonName.startswith('incomplete')):
    category = 'incomplete'
  else:
    category = 'other'
  return category, -1


def classify(pitches: Sequence[int]) -> tuple[str, int]:
  """(category, inversion of a major/minor triad, else -1) of a sonority given as MIDI pitches."""
  if not pitches:
    return 'rest', -1
  return _classify_pitch_classes(frozenset(p % 12 for p in pitches), min(pitches) % 12)


def _stream(piece: Piece, start: int = 0, end: int | None = None):
  """The notes of steps [start, end) as a flat music21 stream (offsets and lengths in quarter notes)."""
  end = piece.num_steps if end is None else end
  s = stream.Stream()
  for a, b, n in note_spans(piece.roll):
    a, b = max(a, start), min(b, end)
    if a < b:
      element = note.Note(int(piece.lowest + n), quarterLength=(b - a) / piece.steps_per_quarter)
      s.insert((a - start) / piece.steps_per_quarter, element)
  return s


def _analyzed_key(s) -> Key | None:
  if not s.notes:
    return None
  k = s.analyze('key')
  return Key(k.tonic.pitchClass, k.mode == 'major')


def analyzed_key(piece: Piece) -> Key | None:
  """music21's Krumhansl-Schmuckler key of the whole piece (None for silence)."""
  return _analyzed_key(_stream(piece))


def key_windows(piece: Piece) -> tuple[int, int, int]:
  """(4-bar windows, how many are in the piece's key, how many in a key of its key signature: the key or its
  relative major or minor), windows starting on each downbeat. The piece's key is its own (`piece.key`: notated in a
  score, asked of the sampler), else music21's Krumhansl-Schmuckler analysis of the whole piece; each window's key is
  that analysis of the window; for the first count tonic and mode must both agree. The second forgives the analysis
  its commonest confusion (a passage in A minor or C major uses the same notes) and a move to the relative key."""
  piece_key = piece.key or analyzed_key(piece)
  downbeats = np.flatnonzero(piece.bar_position == 0)
  windows = in_key = in_signature = 0
  for i in range(len(downbeats) - WINDOW_BARS + 1):
    end = downbeats[i + WINDOW_BARS] if i + WINDOW_BARS < len(downbeats) else piece.num_steps
    window_key = _analyzed_key(_stream(piece, downbeats[i], end))
    if window_key is not None:
      windows += 1
      in_key += window_key == piece_key
      in_signature += _signature(window_key) == _signature(piece_key)
  return windows, in_key, in_signature


def _signature(key: Key) -> int:
  """The tonic pitch class of the major key with the same signature."""
  return key.tonic if key.major else (key.tonic + 3) % 12


def phrase_closes(piece: Piece) -> tuple[int, int, int]:
  """(phrase ends, how many close on a root-position major/minor triad, how many of those the bass reached by a
  fourth or fifth) over `piece.phrase_ends` (fermatas; a generated piece's plan). The closing chord is the one on
  the last beat before the end; held over earlier beats, it arrived at the first of them."""
  ends = triads = leaps = 0
  beats = beats_of(piece)
  sonorities = [sonority(piece, int(t)) for t in beats] if piece.phrase_ends else []
  for end in piece.phrase_ends or ():
    before = sonorities[:int(np.searchsorted(beats, end))]  # the beats before the end
    if not before:
      continue
    ends += 1
    closing = before[-1]
    category, inversion = classify(closing)
    if category != 'triad' or inversion != 0:
      continue
    triads += 1
    first = len(before) - 1
    while first > 0 and before[first - 1] == closing:
      first -= 1
    leaps += first > 0 and bool(before[first - 1]) and (closing[0] - before[first - 1][0]) % 12 in (5, 7)
  return ends, triads, leaps


def piece_statistics(piece: Piece) -> dict:
  """Counts for one piece (add them over pieces with `combine`)."""
  beats = beats_of(piece)
  sonorities = [sonority(piece, int(t)) for t in beats]
  counts = {c: 0 for c in CATEGORIES}
  clashes = crowded = downbeats = consonant_downbeats = cadences = 0
  for i, (step, notes) in enumerate(zip(beats, sonorities)):
    category, inversion = classify(notes)
    counts[category] += 1
    clashes += len(notes) >= 2 and notes[-1] - notes[-2] == 1
    crowded += len(notes) >= 5
    if piece.bar_position[step] == 0:
      downbeats += 1
      consonant_downbeats += category == 'triad' and inversion in (0, 1)  # a six-four is no consonance
    if i:
      held = i + 1 == len(sonorities) or sonorities[i + 1] == notes
      bass_move = (notes[0] - sonorities[i - 1][0]) % 12 if notes and sonorities[i - 1] else 0
      cadences += inversion == 0 and held and bass_move in (5, 7)
  sounding = np.flatnonzero(piece.roll[..., PLAY].any(axis=1))
  final = sonority(piece, int(sounding[-1])) if sounding.size else ()
  final_category, final_inversion = classify(final) if final else ('rest', -1)
  windows, in_key, in_signature = key_windows(piece)
  phrase_ends, closing_triads, closing_leaps = phrase_closes(piece)
  bars = max(int((piece.bar_position == 0).sum()), 1)
  return {'beats': len(beats), **{f'beats_{c}': n for c, n in counts.items()}, 'clashes': clashes,
          'crowded': crowded, 'downbeats': downbeats, 'consonant_downbeats': consonant_downbeats, 'cadences': cadences,
          'bars': bars, 'windows': windows, 'windows_in_key': in_key,
          'windows_in_signature': in_signature, 'pieces': 1, 'phrase_ends': phrase_ends,
          'phrase_ends_on_triads': closing_triads, 'phrase_ends_by_leaps': closing_leaps,
          'final_root_position_triad': int(final_inversion == 0),
          'final_tonic_triad': int(is_tonic_triad(final, piece.key or analyzed_key(piece))),
          f'final_{final_category}': 1, **register_windows(piece)}


def is_tonic_triad(pitches: Sequence[int], key: Key | None) -> bool:
  """Whether a sonority (MIDI pitches, lowest first) is `key`'s tonic triad in root position, doublings allowed (in
  minor, with its Picardy third too)."""
  if not pitches or key is None:
    return False
  bass = pitches[0] % 12
  return bass == key.tonic and {(p - bass) % 12 for p in pitches} in ({0, 4, 7}, {0, 4 if key.major else 3, 7})


def register_windows(piece: Piece) -> dict:
  """`{'window_lows': [...], 'window_highs': [...]}`: the lowest and highest MIDI pitch sounding in each 4-bar
  window (from each downbeat; windows with no note left out)."""
  downbeats = np.flatnonzero(piece.bar_position == 0)
  play = piece.roll[..., PLAY] > 0
  lows, highs = [], []
  for i in range(len(downbeats) - WINDOW_BARS + 1):
    end = downbeats[i + WINDOW_BARS] if i + WINDOW_BARS < len(downbeats) else piece.num_steps
    notes = np.flatnonzero(play[downbeats[i]:end].any(axis=0))
    if notes.size:
      lows.append(piece.lowest + int(notes[0]))
      highs.append(piece.lowest + int(notes[-1]))
  return {'window_lows': lows, 'window_highs': highs}


def voice_figures(piece: Piece, given: np.ndarray | None = None) -> dict:
  """`voices.voice_leading` counts of the score this project writes of `piece` (`given`: its given notes, as
  generation marks them), read as one line per part."""
  return voices.voice_leading(*scores.score_lines(notation.to_score(piece, given), piece.steps_per_quarter))


def combine(counts: Sequence[dict]) -> dict:
  """Adds per-piece counts (lists are joined), then derives the shares a musician reads (see `summary` for their
  names)."""
  total: dict = {}
  for c in counts:
    for k, v in c.items():
      total[k] = total[k] + v if k in total else v
  return summary(total)


def summary(total: dict) -> dict:
  beats = max(total.get('beats', 0), 1)
  out = {f'share_{c}': total.get(f'beats_{c}', 0) / beats for c in CATEGORIES}
  out.update(
      clash_share=total.get('clashes', 0) / beats,
      crowded_share=total.get('crowded', 0) / beats,
      consonant_downbeat_share=total.get('consonant_downbeats', 0) / max(total.get('downbeats', 0), 1),
      register_low_median=float(np.median(total['window_lows'])) if total.get('window_lows') else float('nan'),
      register_high_median=float(np.median(total['window_highs'])) if total.get('window_highs') else float('nan'),
      cadences_per_4_bars=WINDOW_BARS * total.get('cadences', 0) / max(total.get('bars', 0), 1),
      key_window_share=total.get('windows_in_key', 0) / max(total.get('windows', 0), 1),
      key_signature_window_share=total.get('windows_in_signature', 0) / max(total.get('windows', 0), 1),
      phrase_end_triad_share=total.get('phrase_ends_on_triads', 0) / max(total.get('phrase_ends', 0), 1),
      phrase_end_leap_share=total.get('phrase_ends_by_leaps', 0) / max(total.get('phrase_ends', 0), 1),
      final_root_position_triad_share=total.get('final_root_position_triad', 0) / max(total.get('pieces', 0), 1),
      final_tonic_triad_share=total.get('final_tonic_triad', 0) / max(total.get('pieces', 0), 1),
      pieces=total.get('pieces', 0), beats=total.get('beats', 0))
  return out


def statistics(pieces: Sequence[Piece], givens: Sequence[np.ndarray | None] | None = None) -> dict:
  """The harmonic statistics of a set of pieces, pooled over all their beats, with their voice leading
  (`voices.combine` of `voice_figures`; `givens`: each piece's given notes) and register (see the module
  docstring)."""
  givens = [None] * len(pieces) if givens is None else givens
  return {**combine([piece_statistics(p) for p in pieces]),
          **voices.combine([voice_figures(p, g) for p, g in zip(pieces, givens)])}
