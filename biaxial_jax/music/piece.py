"""The `Piece`: a note-state roll on a rhythmic grid, with the meter and tempo needed to write it back.

A roll is `uint8[T, N, 2]`: for each of `T` grid steps and `N` notes (note `n` is MIDI pitch `lowest + n`), the pair
`(play, articulate)`. `play` = the note sounds during the step; `articulate` = it is struck at the start of the step. A held
note is `(1, 0)` after its first step, a repeated note is `(1, 1)` again: this is what tells "C twice" from "C held".
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from typing import Literal

import numpy as np

from biaxial_jax.errors import BiaxialError
from biaxial_jax.music.keys import Key

PLAY, ARTICULATE = 0, 1
RangePolicy = Literal['fold', 'drop', 'error']
RANGE_POLICIES = ('fold', 'drop', 'error')


class MidiReadError(BiaxialError):
  """A MIDI file that cannot be turned into a `Piece`; the message names the file."""


class Grid(typing.NamedTuple):
  """A representation's note range and rhythmic grid: notes MIDI `lowest` .. `lowest + num_notes - 1`, and
  `steps_per_quarter` grid steps per quarter note."""
  lowest: int = 24
  num_notes: int = 78
  steps_per_quarter: int = 4

  @classmethod
  def of(cls, piece: Piece) -> Grid:
    return cls(piece.lowest, piece.num_notes, piece.steps_per_quarter)

  def __str__(self):
    return f'{self.num_notes} notes from MIDI {self.lowest} at {self.steps_per_quarter} steps per quarter'


class ReadNote(UserWarning):
  """What reading a file changed that the user should hear of (notes folded into range, notes with no room on the
  grid); `Composer` passes these on as `Generation.changes`."""


STYLE_NAME = re.compile(r'[A-Za-z0-9_-]{1,64}')


@dataclasses.dataclass(frozen=True)
class TimeSignature:
  """A meter that starts at grid step `step` (a new bar starts there).

  `numerator` beats of `1/denominator` whole notes per bar; `denominator` is a power of two in [1, 64].
  """
  step: int
  numerator: int
  denominator: int

  def __post_init__(self):
    if self.step < 0:
      raise ValueError(f'time signature step must be >= 0, got {self.step}')
    if not 1 <= self.numerator <= 255:
      raise ValueError(f'time signature numerator must be in [1, 255], got {self.numerator}')
    if self.denominator not in (1, 2, 4, 8, 16, 32, 64):
      raise ValueError(f'time signature denominator must be a power of two in [1, 64], got {self.denominator}')

  def steps_per_bar(self, steps_per_quarter: int) -> int:
    """Bar length in grid steps; a `ValueError` when the bar is not a whole number of steps."""
    steps = self.numerator * 4 * steps_per_quarter / self.denominator
    if steps != int(steps):
      raise ValueError(f'a bar of {self.numerator}/{self.denominator} is {steps} steps at {steps_per_quarter} steps per'
                       ' quarter: not a whole number of steps')
    return int(steps)


@dataclasses.dataclass(frozen=True)
class Tempo:
  """A tempo of `qpm` quarter notes per minute from grid step `step` on: one a MIDI file can hold, whose tempo is
  microseconds per quarter in 24 bits (`MIN_QPM` = 60e6 / (2**24 - 1), about 3.58, up to 6e7)."""
  step: int
  qpm: float

  def __post_init__(self):
    if self.step < 0:
      raise ValueError(f'tempo step must be >= 0, got {self.step}')
    if not MIN_QPM <= self.qpm <= 6e7:
      raise ValueError(f'tempo must be in [{MIN_QPM:.4g}, 6e7] quarter notes per minute (what MIDI can hold), got '
                       f'{self.qpm}')


MIN_QPM = 60e6 / (2**24 - 1)


def time_signature_for_steps(num_steps: int, steps_per_quarter: int) -> TimeSignature | None:
  """A signature whose one bar lasts `num_steps` steps (how a pickup bar is written), or None if none can."""
  frac_num, frac_den = num_steps, 4 * steps_per_quarter  # the bar as a fraction of a whole note
  g = math.gcd(frac_num, frac_den)
  frac_num, frac_den = frac_num // g, frac_den // g
  while frac_den < 4 and frac_num * 2 <= 255:  # prefer quarter-note or shorter beats: 2/4 rather than 1/2
    frac_num, frac_den = frac_num * 2, frac_den * 2
  if frac_den & (frac_den - 1) or frac_den > 64 or frac_num > 255:
    return None
  return TimeSignature(0, frac_num, frac_den)


def bar_positions(num_steps: int, time_signatures: tuple[TimeSignature, ...], steps_per_quarter: int) -> np.ndarray:
  """Position of each step within its bar, `int32[num_steps]`, 0 on every downbeat.

  Each time signature starts a bar. A first signature that lasts exactly one bar that is shorter than the next
  signature's bar is a pickup (anacrusis, how MIDI files spell one): its steps are the last steps of a full bar.
  """
  pos = np.zeros(num_steps, np.int32)
  for i, ts in enumerate(time_signatures):
    end = time_signatures[i + 1].step if i + 1 < len(time_signatures) else num_steps
    start, end = min(ts.step, num_steps), min(end, num_steps)
    bar = ts.steps_per_bar(steps_per_quarter)
    offset = 0
    if i == 0 and i + 1 < len(time_signatures) and end - start == bar:
      next_bar = time_signatures[1].steps_per_bar(steps_per_quarter)
      if next_bar > bar:
        offset = next_bar - bar
    pos[start:end] = np.arange(end - start) % bar + offset
  return pos


@dataclasses.dataclass(frozen=True)
class ReadStats:
  """What reading did to the notes of a file.

  Attributes:
    notes: notes kept in the roll (counting folded ones).
    folded: notes moved by whole octaves into the range (policy 'fold').
    dropped: notes outside the range left out (policy 'drop', or 'fold' with a range under an octave).
    drum_notes: notes on the drum channel, skipped.
    lengthened: notes that rounded to zero steps, kept as one step.
    unterminated: notes never turned off, held to the end of their track.
  """
  notes: int = 0
  folded: int = 0
  dropped: int = 0
  drum_notes: int = 0
  lengthened: int = 0
  unterminated: int = 0


def fit_pitch(pitch: int, lowest: int, num_notes: int, out_of_range: RangePolicy) -> tuple[int | None, bool]:
  """Note index of MIDI `pitch` under a range policy, and whether it was folded; index None when dropped."""
  index = pitch - lowest
  if 0 <= index < num_notes:
    return index, False
  if out_of_range == 'error':
    raise ValueError(f'note {pitch} lies outside MIDI {lowest}..{lowest + num_notes - 1}')
  if out_of_range == 'drop' or num_notes < 12:
    return None, False
  while index < 0:
    index += 12
  while index >= num_notes:
    index -= 12
  return index, True


def roll_from_notes(notes, *, lowest: int, num_notes: int, out_of_range: RangePolicy = 'fold', num_steps: int = 0,
                    max_steps: int = 200_000) -> tuple[np.ndarray, ReadStats]:
  """Paints notes `(start_step, end_step, midi_pitch)` (end exclusive) into a valid roll.

  A note that rounded to no length keeps one step; notes of one pitch that overlap sound on, re-struck at each onset.
  The roll lasts `num_steps` steps or until the last note ends. `ValueError` if no note lands in range.
  """
  if out_of_range not in RANGE_POLICIES:
    raise ValueError(f'out_of_range must be one of {RANGE_POLICIES}, got {out_of_range!r}')
  cells = []
  folded = dropped = lengthened = 0
  for start, end, pitch in notes:
    index, was_folded = fit_pitch(pitch, lowest, num_notes, out_of_range)
    if index is None:
      dropped += 1
      continue
    folded += was_folded
    if end <= start:
      end, lengthened = start + 1, lengthened + 1
    cells.append((start, end, index))
    num_steps = max(num_steps, end)
  if not cells:
    raise ValueError(f"none of its {len(notes)} notes lie in MIDI {lowest}..{lowest + num_notes - 1} "
                     f"(out_of_range='{out_of_range}')")
  if num_steps > max_steps:
    raise ValueError(f'it would be {num_steps} steps long, over the limit of {max_steps} (max_steps)')
  # Sounding-note counts by difference arrays: linear in notes plus cells, however long and overlapping the notes.
  starts, ends, indices = (np.array(column) for column in zip(*cells))
  change = np.zeros((num_steps + 1, num_notes), np.int32)
  np.add.at(change, (starts, indices), 1)
  np.add.at(change, (ends, indices), -1)
  roll = np.zeros((num_steps, num_notes, 2), np.uint8)
  roll[..., PLAY] = np.cumsum(change[:-1], axis=0, dtype=np.int32) > 0
  roll[starts, indices, ARTICULATE] = 1
  return roll, ReadStats(len(cells), folded, dropped, 0, lengthened)


def velocity_from_notes(notes, roll: np.ndarray, *, lowest: int, out_of_range: RangePolicy = 'fold') -> np.ndarray:
  """`uint8[T, N]` velocities for a roll painted by `roll_from_notes` from notes `(start_step, midi_pitch,
  velocity)`: each note's velocity at its onset cell (the loudest where notes share one), under the same range
  policy; an articulated cell no note explains (none in practice) gets the median velocity."""
  velocity = np.zeros(roll.shape[:2], np.int32)
  for start, pitch, value in notes:
    index, _ = fit_pitch(pitch, lowest, roll.shape[1], out_of_range)
    if index is not None and 0 <= start < len(roll):
      velocity[start, index] = max(velocity[start, index], int(np.clip(value, 1, 127)))
  struck = roll[..., ARTICULATE] > 0
  velocity[~struck] = 0
  missing = struck & (velocity == 0)
  if missing.any():
    velocity[missing] = int(np.median(velocity[struck & (velocity > 0)])) if (velocity > 0).any() else 80
  return velocity.astype(np.uint8)


def onsets_of(roll: np.ndarray) -> np.ndarray:
  """Where a note starts sounding (plays now, did not play the step before), `bool[T, N]`."""
  play = roll[..., PLAY].astype(bool)
  before = np.concatenate([np.zeros_like(play[:1]), play[:-1]], axis=0)
  return play & ~before


def canonical_roll(roll: np.ndarray) -> np.ndarray:
  """`roll` made valid: articulate only where played, and set wherever a note starts sounding."""
  roll = np.asarray(roll).astype(np.uint8) & 1
  out = roll.copy()
  out[..., ARTICULATE] = (roll[..., ARTICULATE] & roll[..., PLAY]) | onsets_of(roll)
  return out


def _checked_velocity(velocity, roll: np.ndarray) -> np.ndarray:
  """`velocity` as a read-only `uint8[T, N]` that strikes exactly the articulated cells of `roll`, else ValueError."""
  velocity = np.asarray(velocity)
  if velocity.shape != roll.shape[:2]:
    raise ValueError(f'velocity must have shape {roll.shape[:2]} (steps, notes), got {velocity.shape}')
  if not np.issubdtype(velocity.dtype, np.integer):
    raise ValueError(f'velocity must hold integers, got dtype {velocity.dtype}')
  struck = roll[..., ARTICULATE] > 0
  if np.any(velocity[struck] < 1) or np.any(velocity[struck] > 127) or np.any(velocity[~struck] != 0):
    raise ValueError('velocity must be in [1, 127] where a note is articulated and 0 elsewhere')
  velocity = velocity.astype(np.uint8)
  velocity.flags.writeable = False
  return velocity


VOICE_BITS = 0b1111  # soprano, alto, tenor, bass (`music.voices`)


def _checked_voices(voices, roll: np.ndarray) -> np.ndarray:
  """`voices` as a read-only `uint8[T, N]` of voice bits set only where `roll` plays, else ValueError."""
  voices = np.asarray(voices)
  if voices.shape != roll.shape[:2]:
    raise ValueError(f'voices must have shape {roll.shape[:2]} (steps, notes), got {voices.shape}')
  if not np.issubdtype(voices.dtype, np.integer) or np.any(voices < 0) or np.any(voices > VOICE_BITS):
    raise ValueError(f'voices must hold integers in [0, {VOICE_BITS}] (a bit per voice)')
  if np.any((voices > 0) & (roll[..., PLAY] == 0)):
    t, n = np.argwhere((voices > 0) & (roll[..., PLAY] == 0))[0]
    raise ValueError(f'voices gives a voice to note {n} at step {t}, which does not sound')
  voices = voices.astype(np.uint8)
  voices.flags.writeable = False
  return voices


@dataclasses.dataclass(frozen=True, eq=False)
class Piece:
  """A piece of music on a grid of `steps_per_quarter` steps per quarter note.

  Attributes:
    roll: `uint8[T, N, 2]`, (play, articulate) per step and note; values in {0, 1}; articulate implies play, and a
      note that starts sounding is articulated. Read-only.
    lowest: MIDI note number of note index 0, in [0, 127]; note `n` is MIDI `lowest + n` (at most 127).
    steps_per_quarter: grid steps per quarter note (4: sixteenth notes).
    time_signatures: meter changes, sorted by step, the first at step 0.
    tempos: tempo changes, sorted by step, the first at step 0.
    name: where the piece came from (a file or corpus identifier), for messages.
    key: the piece's key, where known (a score's analysis, a MIDI key signature).
    phrase_ends: steps where phrases end (after a fermata), in order, where known (scores with fermatas); the end
      of the piece ends the last phrase. None: unknown.
    style: the style the piece belongs to ('chorale', a MIDI folder's subfolder name), where known: a non-empty name
      of letters, digits, '_' and '-'.
    velocity: `uint8[T, N]`, the MIDI velocity (1..127) of each articulated cell and 0 elsewhere, where the piece
      has dynamics (a MIDI file whose notes are not all struck alike, a score with dynamic markings); None: it has
      none. Read-only.
  Equality compares the music (roll, grid, meter, tempo, velocities), not the names, keys or phrases read along
  with it.
  """
  roll: np.ndarray
  lowest: int = 24
  steps_per_quarter: int = 4
  time_signatures: tuple[TimeSignature, ...] = (TimeSignature(0, 4, 4),)
  tempos: tuple[Tempo, ...] = (Tempo(0, 120.0),)
  name: str = ''
  key: Key | None = None
  phrase_ends: tuple[int, ...] | None = None
  style: str | None = None
  velocity: np.ndarray | None = None
  voices: np.ndarray | None = None

  def __post_init__(self):
    roll = np.asarray(self.roll)
    if roll.ndim != 3 or roll.shape[2] != 2:
      raise ValueError(f'roll must have shape [T, N, 2], got {roll.shape}')
    if roll.shape[0] < 1 or roll.shape[1] < 1:
      raise ValueError(f'roll must have at least one step and one note, got shape {roll.shape}')
    if not (np.issubdtype(roll.dtype, np.number) or roll.dtype == bool):
      raise ValueError(f'roll must hold numbers 0/1, got dtype {roll.dtype}')
    if not np.all((roll == 0) | (roll == 1)):
      raise ValueError('roll values must be 0 or 1')
    roll = roll.astype(np.uint8)
    if np.any(roll[..., ARTICULATE] > roll[..., PLAY]):
      t, n = np.argwhere(roll[..., ARTICULATE] > roll[..., PLAY])[0]
      raise ValueError(f'roll articulates note {n} at step {t} without playing it')
    if np.any(onsets_of(roll) & (roll[..., ARTICULATE] == 0)):
      t, n = np.argwhere(onsets_of(roll) & (roll[..., ARTICULATE] == 0))[0]
      raise ValueError(f'note {n} starts sounding at step {t} without being articulated (see canonical_roll)')
    if not 0 <= self.lowest or self.lowest + roll.shape[1] - 1 > 127:
      raise ValueError(f'notes {self.lowest}..{self.lowest + roll.shape[1] - 1} fall outside MIDI 0..127')
    if self.steps_per_quarter < 1:
      raise ValueError(f'steps_per_quarter must be >= 1, got {self.steps_per_quarter}')
    for label, events in (('time_signatures', self.time_signatures), ('tempos', self.tempos)):
      steps = [e.step for e in events]
      if not steps or steps[0] != 0 or steps != sorted(set(steps)):
        raise ValueError(f'{label} must start at step 0 and have strictly increasing steps, got steps {steps}')
    for ts in self.time_signatures:
      ts.steps_per_bar(self.steps_per_quarter)
    if self.key is not None and not (isinstance(self.key, Key) and 0 <= self.key.tonic < 12):
      raise ValueError(f'key must be a Key with a tonic in [0, 12), got {self.key!r}')
    if self.phrase_ends is not None:
      ends = list(self.phrase_ends)
      if ends != sorted(set(ends)) or (ends and not (0 < ends[0] and ends[-1] <= roll.shape[0])):
        raise ValueError(f'phrase_ends must be increasing steps in (0, {roll.shape[0]}], got {ends}')
      object.__setattr__(self, 'phrase_ends', tuple(int(e) for e in ends))
    if self.style is not None and not (isinstance(self.style, str) and STYLE_NAME.fullmatch(self.style)):
      raise ValueError(f"style must be a name of letters, digits, '_' and '-', got {self.style!r}")
    if self.velocity is not None:
      object.__setattr__(self, 'velocity', _checked_velocity(self.velocity, roll))
    if self.voices is not None:
      object.__setattr__(self, 'voices', _checked_voices(self.voices, roll))
    roll.flags.writeable = False
    object.__setattr__(self, 'roll', roll)
    object.__setattr__(self, 'time_signatures', tuple(self.time_signatures))
    object.__setattr__(self, 'tempos', tuple(self.tempos))

  @property
  def num_steps(self) -> int:
    return self.roll.shape[0]

  @property
  def num_notes(self) -> int:
    return self.roll.shape[1]

  @functools.cached_property
  def bar_position(self) -> np.ndarray:
    """Position of each step within its bar, `int32[T]`; 0 on downbeats. Read-only."""
    positions = bar_positions(self.num_steps, self.time_signatures, self.steps_per_quarter)
    positions.flags.writeable = False
    return positions

  def with_roll(self, roll: np.ndarray) -> Piece:
    """The same meter, tempo, range and key with another roll (its length may differ); phrase ends past it go, and
    so do the velocities and voices (they belong to the old notes)."""
    ends = None if self.phrase_ends is None else tuple(e for e in self.phrase_ends if e <= len(roll))
    return dataclasses.replace(self, roll=roll, phrase_ends=ends, velocity=None, voices=None)

  def __eq__(self, other):
    if not isinstance(other, Piece):
      return NotImplemented
    # Tempos compare at MIDI's resolution (whole microseconds per quarter), so a written and re-read piece is equal.
    def tempo_key(piece):
      return [(t.step, round(6e7 / t.qpm)) for t in piece.tempos]
    for name in ('velocity', 'voices'):
      mine, theirs = getattr(self, name), getattr(other, name)
      if (mine is None) != (theirs is None) or (mine is not None and not np.array_equal(mine, theirs)):
        return False
    return (self.roll.shape == other.roll.shape and np.array_equal(self.roll, other.roll) and
            (self.lowest, self.steps_per_quarter, self.time_signatures, tempo_key(self)) ==
            (other.lowest, other.steps_per_quarter, other.time_signatures, tempo_key(other)))

  __hash__ = None

  def __repr__(self):
    meters = ', '.join(f'{ts.numerator}/{ts.denominator}@{ts.step}' for ts in self.time_signatures)
    return (f'Piece({self.name!r}, {self.num_steps} steps x {self.num_notes} notes from MIDI {self.lowest}, '
            f'{self.steps_per_quarter} steps/quarter, meter {meters}, {self.tempos[0].qpm:g} qpm)')
