"""Keys: a tonic's pitch class and a mode, read from text ('D minor', 'Bb major') and named with the fewest
accidentals."""

from __future__ import annotations

import re
import typing

_KEY_PATTERN = re.compile(r'^\s*([A-Ga-g])\s*(#|b|-|sharp|flat)?\s*(major|minor|maj|min)?\s*$', re.IGNORECASE)
_LETTER_PITCH_CLASS = {'C': 0, 'D': 2, 'E': 4, 'F': 5, 'G': 7, 'A': 9, 'B': 11}
# Tonic names by mode, each the key signature with the fewest accidentals (D-flat major, C-sharp minor).
TONIC_NAMES = {True: ('C', 'Db', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'),
               False: ('C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'G#', 'A', 'Bb', 'B')}


class Key(typing.NamedTuple):
  """A key: its tonic's pitch class (C = 0) and mode."""
  tonic: int
  major: bool

  @classmethod
  def parse(cls, text: str) -> Key:
    """'D minor', 'Bb major', 'f# minor', 'E-' (major when the mode is left out); `ValueError` otherwise."""
    match = _KEY_PATTERN.match(text) if isinstance(text, str) else None
    if not match:
      raise ValueError(f"expected a key such as 'D minor' or 'Bb major', got {text!r}")
    letter, accidental, mode = match.groups()
    shift = {'#': 1, 'sharp': 1, 'b': -1, '-': -1, 'flat': -1}.get((accidental or '').lower(), 0)
    return cls((_LETTER_PITCH_CLASS[letter.upper()] + shift) % 12, not (mode or 'major').lower().startswith('min'))

  def transposed(self, semitones: int) -> Key:
    return Key((self.tonic + semitones) % 12, self.major)

  def __str__(self):
    return f'{TONIC_NAMES[self.major][self.tonic]} {"major" if self.major else "minor"}'
