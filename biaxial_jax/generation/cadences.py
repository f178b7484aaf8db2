"""Cadences as a condition: each phrase ends on a root-position major or minor triad, the last on the tonic.

In Bach's chorales the chord on the last beat of a phrase (the fermata chord) is a root-position major or minor triad
at 91% of phrase ends (the train split); a model told where its phrases end still puts one there far less often
(BUILD_NOTES.md, "Cadences as a condition"). With `cadences` on, the sampler conditions on it like on any
constraint: at the last beat before each phrase end, a particle whose chord is not such a triad (on the tonic, for
the piece's last phrase, when the key is known) takes the log-weight of an unmet requirement, so the particles that
resampling keeps are those whose phrases close. The output then approximates the model *given* that its phrases
close, not a patched draw.

Targets are `int32[T]`: `NONE` (no condition at that step), `ANY` (a root-position major or minor triad), or a
pitch class 0..11 (the same, on that root).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from biaxial_jax.music.harmony import beat_onsets
from biaxial_jax.music.piece import PLAY

NONE = -1
ANY = 12
_MAJOR = np.isin(np.arange(12), (0, 4, 7))
_MINOR = np.isin(np.arange(12), (0, 3, 7))


def _fits(pitch_classes: set[int], root: int) -> bool:
  return all((pc - root) % 12 in (0, 3, 4, 7) for pc in pitch_classes)


def targets(phrase_ends, bar_position: np.ndarray, time_signatures, steps_per_quarter: int, mask: np.ndarray,
            values: np.ndarray, lowest: int, tonic: int | None) -> np.ndarray:
  """`int32[T]`: the chord each phrase must end on, at the last beat before its end. A step whose cells are all
  given (a primer) is left alone; the last phrase ends on the tonic where `tonic` is known and the given notes of
  that step fit its triad."""
  out = np.full(len(bar_position), NONE, np.int32)
  beats = beat_onsets(bar_position, time_signatures, steps_per_quarter)
  for end in phrase_ends:
    before = beats[beats < end]
    if not before.size or mask[before[-1]].all():
      continue
    step = int(before[-1])
    given = {(lowest + n) % 12 for n in np.flatnonzero(mask[step, :, PLAY] & values[step, :, PLAY])}
    final = end == phrase_ends[-1] and tonic is not None and _fits(given, tonic)
    out[step] = tonic if final else ANY
  return out


def met(play_BxN, target_B, lowest: int):
  """`bool[B]`: whether each row's notes meet its target (`NONE` always does). jnp; numpy arrays work too."""
  play = jnp.asarray(play_BxN) > 0
  n = play.shape[-1]
  present_Bx12 = (play[..., None] & (((lowest + jnp.arange(n)) % 12)[:, None] == jnp.arange(12))).any(axis=-2)
  bass_B = (lowest + jnp.argmax(play, axis=-1)) % 12
  relative_Bx12 = jnp.take_along_axis(present_Bx12, (bass_B[:, None] + jnp.arange(12)) % 12, axis=-1)
  triad_B = (relative_Bx12 == _MAJOR).all(axis=-1) | (relative_Bx12 == _MINOR).all(axis=-1)
  target_B = jnp.asarray(target_B)
  return (target_B == NONE) | (play.any(axis=-1) & triad_B & ((target_B == ANY) | (bass_B == target_B)))


def unmet(roll: np.ndarray, targets_T: np.ndarray, lowest: int) -> list[int]:
  """Steps of a sampled roll whose chord misses its target."""
  steps = np.flatnonzero(targets_T != NONE)
  ok = np.asarray(met(roll[steps, :, PLAY], targets_T[steps], lowest)) if steps.size else np.zeros(0, bool)
  return [int(t) for t, good in zip(steps, ok) if not good]
