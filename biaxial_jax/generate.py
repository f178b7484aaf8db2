"""Music out of a checkpoint: `load_checkpoint(path).sample(...)`, with primers, fixed notes and melody harmonization.

Everything is validated here, at the edge, before the compiled sampler (`sampling.sample_rolls`) runs.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import checkpoint, pretrained, sampling
from biaxial_jax.config import Config
from biaxial_jax.music.midi import read_midi
from biaxial_jax.music.piece import (ARTICULATE, PLAY, BiaxialError, Piece, Tempo, TimeSignature, bar_positions,
                                     canonical_roll)

MAX_STEPS = 100_000
DEFAULT_QPM = 100.0


class GenerationError(BiaxialError):
  """A sampling argument that cannot be honoured; the message names it."""


def top_voice(piece: Piece) -> Piece:
  """The highest sounding note of every step (a soprano line from a polyphonic piece), its repeats kept."""
  play = piece.roll[..., PLAY].astype(bool)
  top = np.where(play.any(axis=1), piece.num_notes - 1 - np.argmax(play[:, ::-1], axis=1), -1)
  roll = np.zeros_like(piece.roll)
  steps = np.flatnonzero(top >= 0)
  roll[steps, top[steps]] = piece.roll[steps, top[steps]]
  return piece.with_roll(canonical_roll(roll))


@dataclasses.dataclass(frozen=True)
class Constraints:
  """What the sampler must obey over `T` steps (numpy, `[T, N, 2]` / `[T, N]`), and the meter and tempo to use."""
  mask: np.ndarray
  values: np.ndarray
  force_articulate: np.ndarray
  time_signatures: tuple[TimeSignature, ...]
  tempos: tuple[Tempo, ...]


@dataclasses.dataclass(frozen=True)
class Composer:
  """A trained model ready to sample: its config (with the representation), parameters and training step."""
  config: Config
  params: dict
  step: int
  source: str = ''

  @property
  def lowest(self) -> int:
    return self.config.data.lowest

  @property
  def num_notes(self) -> int:
    return self.config.data.num_notes

  @property
  def steps_per_quarter(self) -> int:
    return self.config.data.steps_per_quarter

  def _piece(self, what: str, piece_or_path, out_of_range: str) -> Piece:
    """A primer or melody as a `Piece` in this model's representation."""
    if isinstance(piece_or_path, Piece):
      piece = piece_or_path
      got = (piece.lowest, piece.num_notes, piece.steps_per_quarter)
      want = (self.lowest, self.num_notes, self.steps_per_quarter)
      if got != want:
        raise GenerationError(f'{what}: a piece of {got[1]} notes from MIDI {got[0]} at {got[2]} steps per quarter; '
                              f'this model uses {want[1]} notes from MIDI {want[0]} at {want[2]} steps per quarter')
      return piece
    try:
      return read_midi(piece_or_path, lowest=self.lowest, num_notes=self.num_notes,
                       steps_per_quarter=self.steps_per_quarter, out_of_range=out_of_range)
    except BiaxialError as e:
      raise GenerationError(f'{what}: {e}') from None

  def _fixed(self, fixed, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """User-given fixed notes as `[T, N, 2]` mask and values; a `[T, N]` mask fixes play and articulate together."""
    try:
      mask, values = (np.asarray(a) for a in fixed)
    except (TypeError, ValueError):
      raise GenerationError('fixed: expected a pair (mask, values) of arrays') from None
    if mask.ndim == 2:
      mask = np.repeat(mask[..., None], 2, axis=-1)
    if mask.ndim != 3 or mask.shape[1:] != (self.num_notes, 2) or values.shape != mask.shape:
      raise GenerationError(f'fixed: mask and values must both be [T, {self.num_notes}, 2] (or a [T, '
                            f'{self.num_notes}] mask), got {mask.shape} and {values.shape}')
    if mask.shape[0] > num_steps:
      raise GenerationError(f'fixed: {mask.shape[0]} steps long, longer than the {num_steps} steps asked for')
    if not (np.isin(mask, (0, 1)).all() and np.isin(values, (0, 1)).all()):
      raise GenerationError('fixed: mask and values must hold 0/1 or booleans')
    return mask.astype(bool), values.astype(bool)

  def constraints(self, num_steps: int | None, *, primer=None, melody=None, fixed=None,
                  forbid_above_melody: bool = True, time_signature: tuple[int, int] = (4, 4),
                  tempo: float | None = None) -> Constraints:
    """The masks for a primer (kept verbatim), a melody (kept exactly, voices generated under it) and fixed notes
    (obeyed wherever their mask is set; they take precedence over the other two)."""
    primer = None if primer is None else self._piece('primer', primer, self.config.data.out_of_range)
    melody = None if melody is None else top_voice(self._piece('melody', melody, 'error'))
    if num_steps is None:
      num_steps = max(256 if melody is None else 0, melody.num_steps if melody else 0,
                      primer.num_steps if primer else 0)
    if not 1 <= num_steps <= MAX_STEPS:
      raise GenerationError(f'num_steps: must be in [1, {MAX_STEPS}], got {num_steps}')
    for what, piece in (('primer', primer), ('melody', melody)):
      if piece is not None and piece.num_steps > num_steps:
        raise GenerationError(f'{what}: {piece.num_steps} steps long, longer than the {num_steps} steps asked for '
                              '(num_steps)')
    n = self.num_notes
    mask = np.zeros((num_steps, n, 2), bool)
    values = np.zeros((num_steps, n, 2), bool)
    force = np.zeros((num_steps, n), bool)
    if primer is not None:
      mask[:primer.num_steps] = True
      values[:primer.num_steps] = primer.roll.astype(bool)
    if melody is not None:
      roll = melody.roll.astype(bool)
      for t in np.flatnonzero(roll[..., PLAY].any(axis=1)):
        note = int(np.flatnonzero(roll[t, :, PLAY])[0])
        mask[t, note] = True
        values[t, note] = roll[t, note]
        if forbid_above_melody:
          mask[t, note + 1:] = True
          values[t, note + 1:] = False
      # where a melody note ends, a generated note on that pitch must be struck anew: the melody keeps its length
      after = np.concatenate([roll[1:], np.zeros_like(roll[:1])])
      ended = roll[..., PLAY] & ~(after[..., PLAY] & ~after[..., ARTICULATE])
      force[1:melody.num_steps + 1] |= ended[:num_steps - 1]
    if fixed is not None:
      fixed_mask, fixed_values = self._fixed(fixed, num_steps)
      steps = fixed_mask.shape[0]
      mask[:steps] |= fixed_mask
      values[:steps] = np.where(fixed_mask, fixed_values, values[:steps])
    source = primer or melody
    if source is not None:
      meters, tempos = source.time_signatures, source.tempos
    else:
      try:
        meters = (TimeSignature(0, *time_signature),)
        meters[0].steps_per_bar(self.steps_per_quarter)
      except (TypeError, ValueError) as e:
        raise GenerationError(f'time_signature: {e}') from None
      tempos = (Tempo(0, DEFAULT_QPM),)
    if tempo is not None:
      if not (isinstance(tempo, (int, float)) and 0 < tempo <= 1000):
        raise GenerationError(f'tempo: must be in (0, 1000] quarter notes per minute, got {tempo}')
      tempos = (Tempo(0, float(tempo)),)
    return Constraints(mask, values, force, meters, tempos)

  def sample(self, num_steps: int | None = None, *, num_samples: int = 1, seed: int = 0, temperature: float = 1.0,
             conservativity: float = 1.0, adaptive: bool = False, primer=None, melody=None, fixed=None,
             forbid_above_melody: bool = True, time_signature: tuple[int, int] = (4, 4),
             tempo: float | None = None) -> list[Piece]:
    """Generates `num_samples` independent pieces.

    Args:
      num_steps: length in grid steps (default 256 = 16 bars of 4/4; with a melody, its length).
      num_samples: pieces sampled together, in one call.
      seed: the same seed and arguments give the same pieces on the same machine.
      temperature: divides the logits (> 0): below 1 safer, above 1 wilder.
      conservativity: exponent on P(play) (> 0; the original's): above 1 fewer notes.
      adaptive: the original's anti-silence mode (lowers the exponent while fewer than 2 notes sound).
      primer: a `Piece` or MIDI path whose steps are kept verbatim; the model continues from them.
      melody: a `Piece` or MIDI path; its top voice is kept exactly and the other voices are generated under it.
      fixed: `(mask, values)`, `[T, N, 2]` arrays (T <= num_steps; a `[T, N]` mask fixes both bits): the sampler
        obeys `values` wherever `mask` is set.
      forbid_above_melody: no generated note above the melody while it sounds.
      time_signature: (numerator, denominator) when neither primer nor melody gives the meter.
      tempo: quarter notes per minute for the output (default: the primer's or melody's, else 100).
    """
    for name, value in (('temperature', temperature), ('conservativity', conservativity)):
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise GenerationError(f'{name}: must be a finite number > 0, got {value!r}')
    if not (isinstance(num_samples, numbers.Integral) and 1 <= num_samples <= 4096):
      raise GenerationError(f'num_samples: must be in [1, 4096], got {num_samples!r}')
    if not (isinstance(seed, numbers.Integral) and seed >= 0):
      raise GenerationError(f'seed: must be an integer >= 0, got {seed!r}')
    c = self.constraints(num_steps, primer=primer, melody=melody, fixed=fixed, forbid_above_melody=forbid_above_melody,
                         time_signature=time_signature, tempo=tempo)
    steps = c.mask.shape[0]
    bar_position = bar_positions(steps, c.time_signatures, self.steps_per_quarter)

    def batched(x):
      return jnp.broadcast_to(x, (num_samples, *x.shape))

    controls = sampling.Controls(jnp.float32(temperature), jnp.float32(conservativity), jnp.float32(adaptive))
    rolls, _ = sampling.sample_rolls(self.params, jax.random.key(int(seed)), jnp.asarray(bar_position),
                                     batched(c.mask), batched(c.values), batched(c.force_articulate), controls,
                                     config=self.config.model, lowest=self.lowest,
                                     learned_articulation=not self.config.train.play_only)
    return [Piece(roll, lowest=self.lowest, steps_per_quarter=self.steps_per_quarter,
                  time_signatures=c.time_signatures, tempos=c.tempos, name=f'sample_{i}')
            for i, roll in enumerate(np.asarray(rolls))]


def load_checkpoint(path: str | os.PathLike, best: bool = False) -> Composer:
  """A `Composer` from a training workdir (its newest readable checkpoint, or with `best` the one with the lowest
  valid NLL), an exported model folder, or the name of a model shipped in the package (`'bach'`); config and
  representation come with it. An export holds one model, so `best` changes nothing there."""
  path = os.fspath(path)
  if path in pretrained.SHIPPED and not os.path.exists(path):
    path = pretrained.SHIPPED[path]
  if pretrained.is_export(path):
    config, params, step, _ = pretrained.load_export(path)
  else:
    config, params, step = checkpoint.restore_params(path, best)
  return Composer(config, params, step, path)
