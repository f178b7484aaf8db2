"""Given material made ready for generation: its meter and pickup as the user says, its silence cut away.

Files rarely say everything: music21 and many other writers spell a pickup as a full first bar (one time signature at
0 and the pickup note on it), a MIDI file without a time signature reads as 4/4, and writers pad the end with a beat
or more of silence. `prepare` fixes what the user declares (`meter`, `pickup`) and cuts the silence: after the last
note always (it would become generated music under a melody, or a forced rest after a primer), and before the first
note for a meter source (a melody or primer), keeping the bar lines where the file puts them (silence inside the
first bar becomes a pickup). Every change is reported in words for the user's log.
"""

from __future__ import annotations

import dataclasses
import numbers
from fractions import Fraction

import numpy as np

from biaxial_jax.errors import GenerationError
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece, Tempo, TimeSignature, time_signature_for_steps


def parse_meter(meter, steps_per_quarter: int | None = None) -> tuple[int, int]:
  """`(numerator, denominator)` from a pair or text such as '3/4', checked against the grid where one is given."""
  try:
    parts = meter.split('/') if isinstance(meter, str) else list(meter)
    if len(parts) != 2 or not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) or
                                  isinstance(x, str) and x.strip().isascii() and x.strip().isdecimal()
                                  for x in parts):
      raise ValueError(meter)
    numerator, denominator = (int(x) for x in parts)
  except (TypeError, ValueError):
    raise GenerationError('time_signature', f'expected a meter N/D such as 3/4, got {meter!r}') from None
  try:
    signature = TimeSignature(0, numerator, denominator)
    if steps_per_quarter is not None:
      signature.steps_per_bar(steps_per_quarter)
  except ValueError as e:
    raise GenerationError('time_signature', str(e)) from None
  return numerator, denominator


def with_pickup(meters: tuple[TimeSignature, ...], pickup: int, steps_per_quarter: int) -> tuple[TimeSignature, ...]:
  """The meter changes of a piece whose first `pickup` steps are a pickup before bar 1 (`pickup` shorter than the
  bar): the meter in force at step 0 begins at `pickup`, later changes stay where they are."""
  if pickup == 0:
    return meters
  first = meters[0]
  pickup_meter = time_signature_for_steps(pickup, steps_per_quarter)
  if pickup_meter is None or pickup >= first.steps_per_bar(steps_per_quarter):
    raise GenerationError('pickup', f'{_quarters(Fraction(pickup, steps_per_quarter))} is not a pickup of a bar of '
                     f'{first.numerator}/{first.denominator}')
  return (pickup_meter, dataclasses.replace(first, step=pickup)) + tuple(m for m in meters[1:] if m.step > pickup)


def _main_meters(piece: Piece) -> tuple[TimeSignature, ...]:
  """The piece's meter changes without a pickup bar, the first moved to step 0."""
  first = np.flatnonzero(piece.bar_position == 0)
  start = int(first[0]) if first.size else 0
  in_force = [m for m in piece.time_signatures if m.step <= start][-1]
  return (dataclasses.replace(in_force, step=0),) + tuple(m for m in piece.time_signatures if m.step > start)


def crop(piece: Piece, start: int, end: int) -> Piece:
  """Steps `[start, end)` of `piece`, its bar lines kept: a start inside a bar makes the rest of that bar a pickup
  (or, where no time signature can spell that pickup, the crop starts at the bar line)."""
  position = piece.bar_position
  if position[start] != 0:
    downbeats = np.flatnonzero(position[start:] == 0)
    if downbeats.size and time_signature_for_steps(int(downbeats[0]), piece.steps_per_quarter) is None:
      start -= int(position[start])
  downbeats = np.flatnonzero(position[start:end] == 0)
  first = start + int(downbeats[0]) if downbeats.size else end
  in_force = [m for m in piece.time_signatures if m.step <= min(first, end - 1)][-1]
  meters = (dataclasses.replace(in_force, step=first - start),) + tuple(
      dataclasses.replace(m, step=m.step - start) for m in piece.time_signatures if first < m.step < end)
  if first > start and first < end:
    meters = (dataclasses.replace(time_signature_for_steps(first - start, piece.steps_per_quarter), step=0),) + meters
  elif first > start:  # no downbeat inside: the piece is a fragment of one bar
    meters = (dataclasses.replace(in_force, step=0),)
  tempo = [t for t in piece.tempos if t.step <= start][-1]
  tempos = (Tempo(0, tempo.qpm),) + tuple(Tempo(t.step - start, t.qpm) for t in piece.tempos if start < t.step < end)
  ends = None if piece.phrase_ends is None else tuple(e - start for e in piece.phrase_ends if start < e <= end)
  roll = np.array(piece.roll[start:end])
  roll[0, :, ARTICULATE] = roll[0, :, PLAY]  # a note cut at the start is struck there, as loud as it was struck
  velocity = None
  if piece.velocity is not None:
    velocity = np.array(piece.velocity[start:end])
    for n in np.flatnonzero(roll[0, :, ARTICULATE] & (velocity[0] == 0)):
      struck = np.flatnonzero(piece.velocity[:start + 1, n])
      velocity[0, n] = piece.velocity[struck[-1], n] if struck.size else 80
  voices = None if piece.voices is None else piece.voices[start:end]
  return dataclasses.replace(piece, roll=roll, time_signatures=meters, tempos=tempos, phrase_ends=ends,
                             velocity=velocity, voices=voices)


def prepare(piece: Piece, what: str, *, trim_start: bool, meter: tuple[int, int] | None = None,
            pickup: Fraction | None = None) -> tuple[Piece, list[str]]:
  """`piece` with the asked `meter` (replacing the file's; a pickup the file spells is kept) and `pickup` (quarters
  before bar 1, replacing the file's), cut to its notes (see the module docstring), and what was changed, in
  words naming `what` ('the melody')."""
  changes = []
  spq = piece.steps_per_quarter
  meters = piece.time_signatures
  if meter is not None or pickup is not None:
    first_downbeat = np.flatnonzero(piece.bar_position == 0)
    own_pickup = int(first_downbeat[0]) if first_downbeat.size else 0
    meters = (TimeSignature(0, *meter),) if meter is not None else _main_meters(piece)
    if pickup is not None:
      steps = pickup * spq
      if steps.denominator != 1 or steps < 0:
        raise GenerationError('pickup', f'{_quarters(pickup)} is not a whole number of grid steps ({spq} per quarter)')
      own_pickup = int(steps)
    meters = with_pickup(meters, own_pickup, spq)
    old, new = _meter_text(piece.time_signatures, spq), _meter_text(meters, spq)
    if old != new:
      changes.append(f'{what} read in {new} (the file says {old})')
    piece = dataclasses.replace(piece, time_signatures=meters)
  sounding = np.flatnonzero(piece.roll[..., PLAY].any(axis=1))
  if not sounding.size:  # all silence (a Piece built in code): nothing to cut it to
    return piece, changes
  start = int(sounding[0]) if trim_start else 0
  end = int(sounding[-1]) + 1
  if start or end < piece.num_steps:
    cropped = crop(piece, start, end)
    cut_before, cut_after = end - cropped.num_steps, piece.num_steps - end
    for steps, where in ((cut_before, 'before its first note'), (cut_after, 'after its last note')):
      if steps:
        changes.append(f'{what}: {_quarters(Fraction(steps, spq))} of silence {where} dropped')
    piece = cropped
  return piece, changes


def _meter_text(meters: tuple[TimeSignature, ...], steps_per_quarter: int) -> str:
  """'3/4 with a pickup of 1 quarter' or '4/4' (the first bar's meter and pickup)."""
  first = meters[0]
  if len(meters) > 1 and meters[1].step == first.steps_per_bar(steps_per_quarter) and (
      meters[1].steps_per_bar(steps_per_quarter) > first.steps_per_bar(steps_per_quarter)):
    pickup = Fraction(meters[1].step, steps_per_quarter)
    return f'{meters[1].numerator}/{meters[1].denominator} with a pickup of {_quarters(pickup)}'
  return f'{first.numerator}/{first.denominator}'


def _quarters(count: Fraction) -> str:
  return f'{count} quarter{"" if count == 1 else "s"}'
