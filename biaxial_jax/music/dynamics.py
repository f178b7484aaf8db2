"""Velocities from a score's dynamic markings, where a score has them (MIDI files carry their own).

The mapping, per part (a marking governs its own part only, as a player reads it):

| marking | ppp | pp | p  | mp | mf | f  | ff  | fff |
|---------|-----|----|----|----|----|----|-----|-----|
| velocity| 16  | 33 | 49 | 64 | 80 | 96 | 112 | 127 |

- A level holds from its marking to the next; before a part's first marking, mf (80).
- Accents (sf, sfz, sffz, fz, rf, rfz) strike the notes at the marking 24 louder (at most 127) and leave the level;
  fp strikes them f and leaves the level p; sfp and sfpp strike them sf and leave p or pp.
- A crescendo or diminuendo hairpin ramps the velocity linearly over its span, from the level at its start to the
  next level marking within a quarter note after its end, or by one level (16) up or down where none follows; the
  level it reaches then holds until the next marking.

A score without any dynamic marking has no dynamics (`Piece.velocity` None), so that training leaves it out of the
dynamics loss rather than teaching that all music is mf.
"""

from __future__ import annotations

import bisect
from fractions import Fraction

from music21 import dynamics

LEVELS = {'ppp': 16, 'pp': 33, 'p': 49, 'mp': 64, 'mf': 80, 'f': 96, 'ff': 112, 'fff': 127}
DEFAULT_LEVEL = LEVELS['mf']
ACCENT = 24
ACCENTS = {'sf', 'sfz', 'sffz', 'fz', 'rf', 'rfz'}
STRIKE_THEN_LEVEL = {'fp': ('f', 'p'), 'sfp': ('sf', 'p'), 'sfpp': ('sf', 'pp')}
HAIRPIN_STEP = 16


def has_dynamics(score) -> bool:
  return any(True for _ in score.recurse().getElementsByClass(dynamics.Dynamic))


def part_velocity(part, score):
  """A function from an onset (quarters from the start, a `Fraction`) to the velocity of a note of `part` struck
  there, by the table of the module docstring."""
  breakpoints: dict[Fraction, int] = {}  # offset -> level from there on
  accents: dict[Fraction, int] = {}  # offset -> velocity of the notes struck there
  for marking in part.flatten().getElementsByClass(dynamics.Dynamic):
    offset, value = Fraction(marking.offset), str(marking.value)
    if value in LEVELS:
      breakpoints[offset] = LEVELS[value]
    elif value in STRIKE_THEN_LEVEL:
      strike, level = STRIKE_THEN_LEVEL[value]
      accents[offset] = LEVELS[strike] if strike in LEVELS else None
      breakpoints[offset] = LEVELS[level]
    elif value in ACCENTS:
      accents[offset] = None  # the level in force, plus ACCENT
  offsets = sorted(breakpoints)

  def level_at(offset: Fraction) -> int:
    i = bisect.bisect_right(offsets, offset)
    return breakpoints[offsets[i - 1]] if i else DEFAULT_LEVEL

  ramps = []  # (start, end, from_level, to_level)
  own = {id(n) for n in part.recurse().notesAndRests}
  for wedge in score.spannerBundle.getByClass(dynamics.DynamicWedge):
    first, last = wedge.getFirst(), wedge.getLast()
    if first is None or last is None or id(first) not in own or id(last) not in own:
      continue  # another part's hairpin, or one whose end lies outside this part (a damaged score): the levels hold
    try:
      start = Fraction(first.getOffsetInHierarchy(part))
      end = Fraction(last.getOffsetInHierarchy(part)) + Fraction(last.quarterLength)
    except Exception:  # pylint: disable=broad-except  # music21's SitesException where its hierarchy is inconsistent
      continue
    begin = level_at(start)
    following = [o for o in offsets if end - 1 <= o <= end + 1 and o > start]
    sign = 1 if isinstance(wedge, dynamics.Crescendo) else -1
    target = breakpoints[following[0]] if following else min(max(begin + sign * HAIRPIN_STEP, 1), 127)
    ramps.append((start, end, begin, target))
  for start, end, _, target in ramps:
    if not any(start < o <= end + 1 for o in offsets):
      breakpoints[end] = target
  offsets = sorted(breakpoints)

  def velocity(onset: Fraction) -> int:
    value = level_at(onset)
    for start, end, begin, target in ramps:
      if start <= onset < end:
        value = round(begin + (target - begin) * (onset - start) / (end - start))
    if onset in accents:
      value = accents[onset] if accents[onset] is not None else value + ACCENT
    return int(min(max(value, 1), 127))

  return velocity
