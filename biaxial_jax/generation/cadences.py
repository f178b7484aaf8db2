"""Cadences as a condition: each phrase ends on a root-position major or minor triad on a degree of the key, the last
on the tonic, and most of them reach it by a leap of the bass (V-I, IV-I, I-V, ii-V: authentic, plagal and half
cadences).

In Bach's chorales (the train split, `harmony.phrase_closes`) the chord on the last beat of a phrase (the fermata
chord) is a root-position major or minor triad at 92% of phrase ends; 99% of those before the last stand on a degree
of the piece's key (major: I ii iii IV V vi; minor: i ii III iv v/V VI VII); and at 60% of phrase ends the closing
triad arrived by a bass leap of a fourth or fifth (88% of final ones); the rest close by step (deceptive and Phrygian
cadences, a bass that walks into the tonic). A model told where its phrases end still closes them far less often
(docs/design.md, "Cadences as a condition"). With `cadences` on, the sampler conditions on it like on any constraint:
at the last beat before each phrase end, a particle whose chord is not such a triad, or, where the plan asks for a
leap, whose chord did not arrive by one, takes the log-weight of an unmet requirement, so the particles that
resampling keeps are those whose phrases close. The output approximates the model *given* that its phrases close,
not a patched draw. Which phrase ends ask for a leap is drawn per piece at Bach's rates (`LEAP_SHARE`,
`FINAL_LEAP_SHARE`), so that the closes vary as his do.

Where a chord *arrived*: the sampler follows, per particle, the sonority of the last beat and the bass of the one
before the current chord began (`arrival`); a chord held over several beats arrived at its first.

Targets are `int32[T]`: `NONE` (no condition at that step), or the set of roots the closing triad may stand on as
bits 0..11 (`ANY`: every root; `roots`), with `LEAP` where it must have arrived by a bass leap of a fourth or fifth,
`APPROACH` at the beat before such a leap and `PREPARE` at the one before that (`weigh`).
"""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax.analysis.harmony import beat_onsets
from biaxial_jax.music.piece import PLAY, Key

NONE = -1
ANY = (1 << 12) - 1
LEAP = 1 << 12  # the closing triad arrived by a bass leap of a fourth or fifth
APPROACH = 1 << 13  # the beat before a leap: a necessary condition of it and a potential (`weigh`)
PREPARE = 1 << 14  # the beat before that: a potential only
SOFT = 1 << 15  # with LEAP: the leap is preferred (a missed one costs SOFT_LOG_WEIGHT), not required
SOFT_LOG_WEIGHT = -3.0  # a close under a melody that did not arrive by the leap asked for
NO_BASS = -1  # the arrival bass before anything has sounded
TWIST = 3.0  # log-potentials that steer particles toward a leap (`weigh`)
# Shares of Bach's phrase ends whose closing chord is a root-position triad reached by a bass fourth or fifth (the
# train split, `harmony.phrase_closes`): of all phrases but the last, of the last.
LEAP_SHARE = 0.60
FINAL_LEAP_SHARE = 0.88
DEGREES = {True: (0, 2, 4, 5, 7, 9), False: (0, 2, 3, 5, 7, 8, 10)}  # scale degrees of major and (natural) minor
_MAJOR = np.isin(np.arange(12), (0, 4, 7))
_MINOR = np.isin(np.arange(12), (0, 3, 7))
_FOURTH_OR_FIFTH = (5, 7)


def roots(pitch_classes: Iterable[int]) -> int:
  """The target bits of a set of roots."""
  return sum(1 << (pc % 12) for pc in set(pitch_classes))


def _fits(pitch_classes: set[int], root: int) -> bool:
  return all((pc - root) % 12 in (0, 3, 4, 7) for pc in pitch_classes)


def draw_leaps(num_phrases: int, rng: np.random.Generator) -> list[bool]:
  """Which phrase ends ask for a bass leap into their closing chord, at Bach's rates."""
  return [bool(rng.random() < (FINAL_LEAP_SHARE if i == num_phrases - 1 else LEAP_SHARE)) for i in range(num_phrases)]


def targets(phrase_ends, bar_position: np.ndarray, time_signatures, steps_per_quarter: int, mask: np.ndarray,
            values: np.ndarray, lowest: int, key: Key | None, leaps: Sequence[bool] = (),
            soft: bool = False) -> np.ndarray:
  """`int32[T]`: the chords each phrase may end on, at the last beat before its end (`leaps`: per phrase end,
  whether it must arrive by a bass leap, default none; `soft`: whether that leap is only preferred). Where `key` is known, a triad on a degree of it, the last on
  its tonic; roots that the given notes of the step (a melody) do not fit are left out, and where none is left, any
  root will do. A step whose cells are all given (a primer) is left alone."""
  out = np.full(len(bar_position), NONE, np.int32)
  beats = beat_onsets(bar_position, time_signatures, steps_per_quarter)
  leaps = list(leaps) or [False] * len(phrase_ends)
  for end, leap in zip(phrase_ends, leaps):
    before = beats[beats < end]
    if not before.size or mask[before[-1]].all():
      continue
    step = int(before[-1])
    given = {(lowest + n) % 12 for n in np.flatnonzero(mask[step, :, PLAY] & values[step, :, PLAY])}
    if key is None:
      allowed = []
    elif end == phrase_ends[-1]:
      allowed = [key.tonic]
    else:
      allowed = [key.tonic + degree for degree in DEGREES[key.major]]
    allowed = roots(r for r in allowed if _fits(given, r % 12)) or ANY
    soft_bit = SOFT if soft and leap else 0
    out[step] = allowed | (LEAP if leap else 0) | soft_bit
    for back, bit in ((2, APPROACH), (3, PREPARE)):
      if leap and before.size >= back and out[before[-back]] == NONE and not mask[before[-back]].all():
        out[before[-back]] = allowed | bit | soft_bit
  return out


def bass_of(play_BxN, lowest: int):
  """`int32[B]`: the pitch class of each row's lowest sounding note, `NO_BASS` where nothing sounds."""
  play = jnp.asarray(play_BxN) > 0
  return jnp.where(play.any(axis=-1), (lowest + jnp.argmax(play, axis=-1)) % 12, NO_BASS)


def arrival(beat_play_BxN, arrival_B, play_BxN, is_beat, lowest: int):
  """`(beat_play_BxN, arrival_B)` after a step: at a beat whose sonority differs from the last beat's, the chord
  arrives here and the bass it came from is the last beat's; a held chord keeps its arrival."""
  play, last = jnp.asarray(play_BxN) > 0, jnp.asarray(beat_play_BxN) > 0
  changed = is_beat & jnp.any(play != last, axis=-1)
  return jnp.where(is_beat, play, last), jnp.where(changed, bass_of(last, lowest), arrival_B)


def _parts(play_BxN, target_B, lowest: int, arrival_B):
  """`(chord_B, leapt_B, poised_B)`: the row's chord is a root-position major or minor triad on one of the target's
  roots; its bass arrived by a fourth or fifth; its bass is a fourth or fifth below one of the roots."""
  play = jnp.asarray(play_BxN) > 0
  n = play.shape[-1]
  present_Bx12 = (play[..., None] & (((lowest + jnp.arange(n)) % 12)[:, None] == jnp.arange(12))).any(axis=-2)
  bass_B = bass_of(play, lowest)
  relative_Bx12 = jnp.take_along_axis(present_Bx12, (bass_B[:, None] + jnp.arange(12)) % 12, axis=-1)
  triad_B = (relative_Bx12 == _MAJOR).all(axis=-1) | (relative_Bx12 == _MINOR).all(axis=-1)
  target_B = jnp.asarray(target_B)

  def allows(root_B):
    return (target_B >> (root_B % 12)) & 1 > 0

  arrival_B = jnp.full(bass_B.shape, NO_BASS) if arrival_B is None else jnp.asarray(arrival_B)
  leapt_B = (arrival_B != NO_BASS) & jnp.isin((bass_B - arrival_B) % 12, jnp.array(_FOURTH_OR_FIFTH))
  chord_B = play.any(axis=-1) & triad_B & allows(bass_B)
  poised_B = (bass_B != NO_BASS) & (allows(bass_B + 5) | allows(bass_B + 7))  # a fourth up or a fifth up
  return chord_B, leapt_B, poised_B


def _at(target_B, bit):
  return (target_B != NONE) & ((target_B & bit) > 0)


def closes(target):
  """Whether each target asks for a closing chord at its step (not only steers toward one)."""
  target = jnp.asarray(target)
  return (target != NONE) & ((target & (APPROACH | PREPARE)) == 0)


def weigh(play_BxN, target_B, lowest: int, arrival_B, twist_B, unmet_log_weight: float):
  """`(log_weight_B, twist_B)` of each row's chord at a step, against its target.

  The log-weight is 0 where the row meets its target; at a phrase's close, `unmet_log_weight` for a chord that is
  not the closing triad asked for, and a tenth of it for one that is but did not arrive by the leap asked for, so
  that where no particle meets both, those that close on the right chord still outrank the rest. A beat before a
  leap (`APPROACH`), a tenth too where the bass is not a fourth or fifth below a root and the closing chord is not
  there already by a leap: whatever meets the leap met this a beat earlier, so it asks nothing more of the particles
  and lets resampling act a beat sooner.

  The twist is a log-potential that steers the particles toward a leap (the sampler adds its change to the
  log-weights: it telescopes, so it steers without changing what the particles target). The model tends to hold
  the chord of a phrase's second-last beat into its last, so the leap is most often met where the closing chord
  arrives a beat early: two beats before (`PREPARE`) a bass poised to leap gets `TWIST`; a beat before, the closing
  chord already there by a leap gets `TWIST`, a bass still poised 0; at the close it is dropped; elsewhere it is
  kept (`twist_B`, the row's previous one).
  """
  chord_B, leapt_B, poised_B = _parts(play_BxN, target_B, lowest, arrival_B)
  target_B = jnp.asarray(target_B)
  approach_B, prepare_B = _at(target_B, APPROACH), _at(target_B, PREPARE)
  closing_B = (target_B != NONE) & ~approach_B & ~prepare_B
  missed_leap_B = (closing_B & ((target_B & LEAP) > 0) & ~leapt_B) | (approach_B & ~poised_B & ~(chord_B & leapt_B))
  soft_B = (target_B & SOFT) > 0
  log_weight_B = (jnp.where(closing_B & ~chord_B, unmet_log_weight, 0.0)
                  + jnp.where(missed_leap_B, jnp.where(soft_B, SOFT_LOG_WEIGHT, unmet_log_weight / 10), 0.0))
  twist_B = jnp.where(prepare_B, jnp.where(poised_B, TWIST, 0.0),
                      jnp.where(approach_B, jnp.where(chord_B & leapt_B, TWIST, 0.0),
                                jnp.where(closing_B, 0.0, twist_B)))
  return log_weight_B, twist_B


def met(play_BxN, target_B, lowest: int, arrival_B=None):
  """`bool[B]`: whether each row's notes meet its target (`NONE` and `PREPARE` always do: that only steers; a
  `SOFT` leap is a preference, not a requirement); `arrival_B` (`arrival`) is the bass the row's chord came from,
  needed where a target asks for a leap. jnp; numpy arrays work too."""
  target_B = jnp.asarray(target_B)
  soft_B = (target_B != NONE) & ((target_B & SOFT) > 0)
  hard_B = jnp.where(soft_B, jnp.where(closes(target_B), target_B & ANY, NONE), target_B)
  return weigh(play_BxN, hard_B, lowest, arrival_B, 0.0, -1.0)[0] == 0


def unmet(roll: np.ndarray, targets_T: np.ndarray, lowest: int, beat_T: np.ndarray) -> list[int]:
  """Steps of a sampled roll whose chord misses its target (`beat_T`: whether each step starts a beat; targets fall
  on beats)."""
  beats = np.flatnonzero(beat_T)
  if not beats.size:
    return []
  # `arrival` over the beats at once: each beat's chord came from the bass of the beat before its last change.
  play_KxN = roll[beats, :, PLAY] > 0
  last_KxN = np.concatenate([np.zeros_like(play_KxN[:1]), play_KxN[:-1]])
  changed_K = (play_KxN != last_KxN).any(axis=-1)
  last_change_K = np.maximum.accumulate(np.where(changed_K, np.arange(len(beats)), -1))
  k = len(beats)
  padded = -(-k // _BEATS_BUCKET) * _BEATS_BUCKET  # lengths share one compilation; padded beats target nothing
  ok_K = np.asarray(_met_at_beats(
      np.pad(play_KxN, ((0, padded - k), (0, 0))), np.pad(last_KxN, ((0, padded - k), (0, 0))),
      np.pad(targets_T[beats], (0, padded - k), constant_values=NONE),
      np.pad(last_change_K, (0, padded - k), constant_values=-1), lowest=lowest))[:k]
  return [int(t) for t, ok in zip(beats, ok_K) if targets_T[t] != NONE and not ok]


_BEATS_BUCKET = 64


@functools.partial(jax.jit, static_argnames='lowest')
def _met_at_beats(play_KxN, last_KxN, targets_K, last_change_K, *, lowest: int):
  """`met` of each beat's chord, whose bass arrived from the bass before the beat's last change (one compiled
  function rather than an eager op per array operation)."""
  bass_before_K = bass_of(last_KxN, lowest)
  arrived_K = jnp.where(last_change_K >= 0, bass_before_K[jnp.maximum(last_change_K, 0)], NO_BASS)
  return met(play_KxN, targets_K, lowest, arrived_K)
