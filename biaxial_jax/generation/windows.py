"""Sampling a plan in shapes that other plans share, and only as much of it as is free.

Shapes. The sampler compiles once per shape, and a new melody length would be a new shape. `sample` pads every plan
to a multiple of `BUCKET` steps (`Plan.steps` says how many are the piece's; the sampler skips the rest at almost no
cost), so that lengths within a bucket share one compilation.

Windows. When every cell outside one stretch of steps is given (a region drawn again in the studio, an infilling
of `--fixed_notes`), sampling the whole piece would spend nearly all its time on steps whose every cell is fixed.
Their weight is the same for every particle, so leaving them out changes nothing the particles are chosen by, except
where they follow the stretch and the stretch must lead into them. `sample` therefore draws only the window from the
first free step to `Search.lookahead_steps` steps past the last one: the given music before it is replayed through
the time axis once per sample (`replay`, the sampler's own carry, not a copy per particle), and the given steps that
end the window weigh the particles as the sampler always weighs given cells, so the music on both sides counts. The
rolls, voices and effective sample sizes come back for the whole piece (given steps: the given music, every particle
alive), the log-likelihood is the whole piece's, scored again as training scores it, and the log-weight and the
estimate of log q(constraints) are those of the window.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import loss, lstm, model, voicing
from biaxial_jax.config import ModelConfig
from biaxial_jax.generation import cadences, plans, sampler, smc
from biaxial_jax.music import structure

BUCKET = 64  # plans are padded to a multiple of this many steps (4 bars of 4/4 at 4 steps per quarter)
_STEP_FIELDS = ('bar_position_T', 'lookahead_T', 'drop_T', 'beat_T')  # the time axis leads; the others are [S, T, ...]
# what a step past the end holds where it is not 0: no look-ahead, no cadence, an unknown key and phrase position
_PADDING = {'lookahead_T': -1, 'cadence_SxT': cadences.NONE, 'context_SxTxC': structure.UNKNOWN}


def bucket(num_steps: int) -> int:
  """The padded length of a plan of `num_steps` steps."""
  return -(-num_steps // BUCKET) * BUCKET


def _window(plan: plans.Plan, first: int, length: int, steps: int) -> plans.Plan:
  """Steps `[first, first + length)` of `plan`, free past its end, of which the first `steps` are sampled; look-ahead
  targets are moved with them."""
  t = plan.mask_SxTxNx2.shape[1]

  def cut(name, x):
    if name == 'style_SxY' or x is None:
      return x
    axis = 0 if name in _STEP_FIELDS else 1
    x = np.asarray(x)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, max(first + length - t, 0))
    x = np.pad(x, pad, constant_values=_PADDING.get(name, 0))
    x = np.take(x, np.arange(first, first + length), axis=axis)
    if name == 'lookahead_T':
      x = np.where(x >= 0, x - first, -1)
    return x

  fields = {name: cut(name, x) for name, x in plan._asdict().items() if name != 'steps'}
  return plans.Plan(**fields, steps=np.int32(steps))


@functools.partial(jax.jit, static_argnames=('config', 'lowest'))
def replay(params, plan: plans.Plan, until, controls: sampler.Controls, *, config: ModelConfig,
           lowest: int) -> plans.Start:
  """The sampler's carry after the first `until` steps of `plan` (traced), with their notes and voices the given
  ones (`values_SxTxNx2`, `voices_SxTxN`): where a window that begins at step `until` starts."""
  params = lstm.with_matmul_dtype(params, config.matmul_dtype)
  s, t, n, _ = plan.mask_SxTxNx2.shape
  style_SxY = jnp.asarray(plan.style_SxY, jnp.float32)

  def step(carry, per_step):
    index, notes_SxNx2, voices_SxN, bar_position, context_SxC, is_beat = per_step

    def given(carry):
      states, prev_SxNx2, prev_voices_SxN, beat_play_SxN, arrival_S, conservativity_S = carry
      states, _ = smc.time_axis_step(params, states, prev_SxNx2, bar_position,
                                     context_SxC if config.structure else None, None,
                                     voicing.voice_pitches(prev_voices_SxN) if config.voices else None, style_SxY,
                                     lowest)
      beat_play_SxN, arrival_S = cadences.arrival(beat_play_SxN, arrival_S, notes_SxNx2[..., 0], is_beat, lowest)
      return (states, notes_SxNx2, voices_SxN, beat_play_SxN, arrival_S,
              sampler.adapt(conservativity_S, notes_SxNx2, controls))

    return jax.lax.cond(index < until, given, lambda carry: carry, carry), None

  init = (lstm.zero_state(params['time'], s * n), jnp.zeros((s, n, 2)), jnp.zeros((s, n), jnp.int32),
          jnp.zeros((s, n), bool), jnp.full((s,), cadences.NO_BASS, jnp.int32),
          jnp.full((s,), controls.conservativity, jnp.float32))
  per_step = (jnp.arange(t), jnp.swapaxes(plan.values_SxTxNx2, 0, 1).astype(jnp.float32),
              jnp.swapaxes(jnp.asarray(plan.voices_SxTxN, jnp.int32), 0, 1), plan.bar_position_T,
              jnp.swapaxes(plan.context_SxTxC, 0, 1), plan.beat_T)
  carry, _ = jax.lax.scan(step, init, per_step)
  return plans.Start(*carry)


@functools.partial(jax.jit, static_argnames=('config', 'lowest'))
def _log_likelihood(params, plan: plans.Plan, rolls_SxTxNx2, voices_SxTxN, *, config: ModelConfig, lowest: int):
  """The model's log-likelihood of whole rolls (and their voices), as training scores it."""
  s, t = rolls_SxTxNx2.shape[:2]
  logits = model.teacher_forced_logits(params, rolls_SxTxNx2, jnp.broadcast_to(plan.bar_position_T, (s, t)),
                                       config, lowest=lowest, context_BxTxC=plan.context_SxTxC,
                                       style_BxY=jnp.asarray(plan.style_SxY, jnp.float32), voices_BxTxN=voices_SxTxN)
  play, articulate = loss.nll_terms(logits, rolls_SxTxNx2)
  nll_SxTxN = play + articulate
  if config.voices:
    nll_SxTxN += loss.voice_terms(logits, voices_SxTxN)[0]
  return -jnp.where(jnp.arange(t) < plan.steps, nll_SxTxN.sum(axis=-1), 0.0).sum(axis=-1)


def free_window(plan: plans.Plan, lookahead_steps: int, voices: bool) -> tuple[int, int] | None:
  """`(first, end)`: the steps to sample when every cell outside them is given, from the first step with a free
  cell to `lookahead_steps` past the last; None when that is the whole plan, or when the given music before it
  cannot be replayed (a model with voices and given notes whose voices are not given)."""
  mask = np.asarray(plan.mask_SxTxNx2)
  t = mask.shape[1]
  free_T = ~mask.all(axis=(0, 2, 3))
  if not free_T.any():
    return None
  first, last = int(np.argmax(free_T)), int(t - 1 - np.argmax(free_T[::-1]))
  end = min(t, last + 1 + lookahead_steps)
  if first == 0 and end == t:
    return None
  played = np.asarray(plan.values_SxTxNx2)[:, :first, :, 0]
  if voices and (played & (np.asarray(plan.voices_SxTxN)[:, :first] == 0)).any():
    return None
  return first, end


def sample(params, key: jax.Array, plan: plans.Plan, controls: sampler.Controls, *, config: ModelConfig,
           lowest: int, learned_articulation: bool = True,
           search: sampler.Search = sampler.Search()) -> sampler.Result:
  """`sampler.sample` of `plan` (all its steps), in a bucketed shape, and only its free window where it has one
  (see the module docstring); the result is the whole plan's, on the host."""
  s, t, n, _ = plan.mask_SxTxNx2.shape
  window = None if config.dynamics else free_window(plan, search.lookahead_steps, config.voices)
  first, end = window or (0, t)
  start = padded = None
  if window:
    padded = _window(plan, 0, bucket(t), t)
    start = replay(params, padded, np.int32(first), controls, config=config, lowest=lowest)
  shared_params, key, start = sampler.replicated((params, key, start), s * search.particles)  # params: scored below
  result = jax.device_get(sampler.sample(shared_params, key, _window(plan, first, bucket(end - first), end - first),
                                         controls, config=config, lowest=lowest,
                                         learned_articulation=learned_articulation, search=search, start=start))
  part = slice(0, end - first)
  if not window:
    return result._replace(rolls=result.rolls[:, part], ess_SxT=result.ess_SxT[:, part],
                           velocities=result.velocities[:, part], voices=result.voices[:, part])
  rolls = np.asarray(plan.values_SxTxNx2).astype(np.uint8)
  rolls[:, first:end] = result.rolls[:, part]
  voices = np.asarray(plan.voices_SxTxN).astype(np.uint8)
  voices[:, first:end] = result.voices[:, part]
  ess = np.full((s, t), search.particles, np.float32)
  ess[:, first:end] = result.ess_SxT[:, part]
  scored = np.zeros((s, bucket(t), n, 2), np.uint8), np.zeros((s, bucket(t), n), np.uint8)
  scored[0][:, :t], scored[1][:, :t] = rolls, voices
  log_likelihood = _log_likelihood(params, padded, *scored, config=config, lowest=lowest)
  return result._replace(rolls=rolls, log_likelihood=np.asarray(log_likelihood), ess_SxT=ess,
                         velocities=np.zeros((s, t, n), np.uint8), voices=voices)
