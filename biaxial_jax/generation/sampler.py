"""The compiled sampler: sequential Monte Carlo over particles, `lax.scan` over time, and in each step over notes.

What it samples. Let `q` be the sampling process (the model's conditionals at the chosen temperature and
conservativity, plus the rules that keep a roll valid), and let the constraints fix some cells (a melody, a primer,
a motif, a final chord) and force some re-strikes. The target is `q` *conditioned on* the constraints:
`pi(x) ~ q(x) * 1[x obeys them]`. Each of `K` particles per sample draws every free cell from `q` given everything
below and before it, and takes every fixed cell as given; its log-weight grows by `q`'s log-probability of each fixed
cell, computed by the note scan where it reaches that cell (the logits are there already). Weighted this way the
particles are a proper importance sample of `pi`: a melody note the voices below make unlikely (a C#5 over a C5 the
particle chose as its own top voice) weighs that particle down, and resampling (systematic, per sample, whenever the
effective sample size falls below `Search.resample_below * K`) replaces it by copies of particles whose voices lead
to the melody. K = 1 never resamples and is the plain masked sampler.

Look-ahead (twisted SMC). Constraints in the future (a motif at bar 9, the second fragment of a bridge, a final
cadence) cannot weigh the steps before them until they are reached. At the points of a schedule (`Plan.lookahead_T`:
every beat in the bars before each fixed span), each particle is also weighted by `psi`, `q`'s probability of the
first `Search.lookahead_steps` steps of the next span's fixed cells, the model teacher-forced over the span right
after the particle's history (`smc.lookahead_log_prob`). The weight takes the ratio `psi_new / psi_old` at each
point and drops `psi` again (`Plan.drop_T`) once the span's own cells have been weighted. The ratios telescope:
whatever `psi` is, the final weights are those of `pi`, so look-ahead changes only how well particles are steered
toward what comes, never what the output approximates; with a span that is fully fixed and begins at the next step,
`psi` is exact. A phrase's close is steered the same way (`cadences.weigh`'s twist: a potential added a beat or two before a
close that asks for a bass leap, and removed at it).

Proposals. Under a melody the particles' weights are uneven wherever a given note sounds (the chord a particle drew
below it makes the note, or its holding on, likely or not) and at a requirement (a phrase's closing chord, an
ending's third); there the effective sample size collapses, and a close that no particle meets goes unmet. At such
a step each particle
draws the step `Search.proposals` times (M), keeps one with probability proportional to its weight, and takes the
mean of the M weights: an unbiased estimate of the step's weight under the better proposal, so the output still
approximates `pi` (a random-weight particle filter). Only those steps pay M note scans; a wider batch costs the CPU
little, and the proposals hold the whole history of the particle fixed, so they complement particles rather than
replace them.

Outputs. Per sample, one particle drawn by its final weight (`mode='sample'`, an approximate draw from `pi`), or
the one with the highest model log-likelihood (`'best'`: best-of-K), with its ancestry traced back; with
`'beam'`, resampling is replaced at every bar line by keeping the quarter of the particles with the highest model
log-likelihood (plus look-ahead), each copied four times (a stochastic beam search), and the best is returned.
Also returned: the chosen particle's log-weight and model log-likelihood (scored as in training), the estimate of
`log` q(constraints) (the mean of the weights, carried through resampling), and the effective sample size per step.

Temperature. Each note's Bernoulli is drawn at the temperature, and each particle is weighed by the normalizer of
every tempered bit, `sigma(l)^(1/T) + sigma(-l)^(1/T)`: the weighted particles then target the model's whole
piece tempered, `q(x)^(1/T)`, rather than a chain of notes each tempered along the note axis, which makes uncertain
low notes rarer at every step and pushes the register up (docs/design.md, "Voices"). At T = 1 nothing changes.

Voices. A model with voices gives every played note its voices as it goes (`voice_leading.draw`) and weighs each
step's voice leading (`voice_leading.weigh`: four voices or none, parallels, crossings, spacing).

Dynamics. A model with dynamics draws, for every struck note, a velocity bin from its velocity output at the
temperature (Gumbel-max), plays it at the bin's middle, and reads the drawn velocities back as the next step's
inputs; the constraints do not weigh velocities (they fix notes, not how loud they are), and the model
log-likelihood includes the velocity terms, as training scores them.
"""

from __future__ import annotations

import dataclasses
import functools
import typing

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import features, lstm, model, voicing
from biaxial_jax.config import ModelConfig
from biaxial_jax.generation import cadences, note_step, smc
from biaxial_jax.generation import voice_leading as voice_leading_lib
from biaxial_jax.generation.plans import Plan, Start

MODES = ('sample', 'best', 'beam')
BEAM_FRACTION = 4  # beam search keeps the best K / 4 particles at each bar line
# Log-weight of a particle that misses a requirement. Finite, so that a sample whose particles all miss it keeps
# equal weights rather than NaNs (the caller checks the output and says so).
UNMET_LOG_WEIGHT = -1e4
NO_LIMIT = 1 << 20  # Controls.max_notes when the texture is not limited
# Each CPU device scans at least this many particles: every device also runs the whole time axis, so thin shares
# cost more than they save (an 8-bar harmonization, 32 particles, a 16-core CPU: 3.4 s on 4 devices, 4.0 s on 16).
MIN_PARTICLES_PER_DEVICE = 8


class Controls(typing.NamedTuple):
  """Per-run sampling controls (traced: changing them does not recompile).

  temperature: logits are divided by it (> 0; < 1 sharper, > 1 wilder).
  conservativity: exponent on P(play) (the original's; > 1 fewer notes, < 1 more).
  adaptive: 1.0 turns on the original's anti-silence mode (`gen_adaptive`): the exponent starts at the
    conservativity; after a step where fewer than 2 notes sound it is reset to 1 if above 1, then lowered by 0.02;
    after any other step it moves 30% of the way back toward 1.
  max_notes: at most this many notes sound at a step (a four-voice texture: 4). Given notes count; once a step has
    as many as it may (counting the given ones still to come above), the free cells above are conditioned to silence
    like fixed ones: each particle is weighted by the model's probability of that silence, so the output samples the
    model given the limit, not a truncated draw.
  voice_leading: for a model with voices, the weights of its voice-leading conditions and the voices' ranges.
  """
  temperature: jnp.ndarray
  conservativity: jnp.ndarray
  adaptive: jnp.ndarray
  max_notes: jnp.ndarray | int = NO_LIMIT
  voice_leading: voice_leading_lib.VoiceLeading = voice_leading_lib.VoiceLeading()


@dataclasses.dataclass(frozen=True)
class Search:
  """How the particles are run (static: a change recompiles).

  particles: K per sample (1: the plain masked sampler).
  mode: 'sample' (draw the output by weight), 'best' (the particle with the highest model log-likelihood), or
    'beam' (bar-wise beam search by model log-likelihood).
  resample_below: resample a sample's particles when their effective sample size falls below this fraction of K.
  lookahead_steps: steps of a future fixed span that look-ahead scores (from its start).
  proposals: at a step where a given note sounds (a melody's) or with a requirement (a phrase's closing chord, an
    ending's third), each particle draws the step this many times and keeps one by weight (see the module
    docstring); 1 draws it once, as every other step and every step whose cells are all given.
  """
  particles: int = 1
  mode: str = 'sample'
  resample_below: float = 0.5
  lookahead_steps: int = 16
  proposals: int = 1

  def __post_init__(self):
    if (self.particles < 1 or self.mode not in MODES or not 0 <= self.resample_below <= 1 or self.lookahead_steps < 1
        or self.proposals < 1):
      raise ValueError(f'bad search settings: {self}')


class Result(typing.NamedTuple):
  """Per sample: the roll `uint8[S, T, N, 2]`, the model's log-likelihood of it (nats, as training scores it), the
  chosen particle's log-weight, the estimate of log q(constraints), the effective sample size after each step, and
  the velocity of each struck note `uint8[S, T, N]` (a model with dynamics; zeros otherwise), and the voices of each
  played note `uint8[S, T, N]` (a model with voices; zeros otherwise)."""
  rolls: jnp.ndarray
  log_likelihood: jnp.ndarray
  log_weight: jnp.ndarray
  log_evidence: jnp.ndarray
  ess_SxT: jnp.ndarray
  velocities: jnp.ndarray
  voices: jnp.ndarray


def row_mesh(batch: int) -> jax.sharding.Mesh | None:
  """The CPU devices that split the note scans of `batch` particles (`samples x particles`) when the process has
  several (`cli.sample_on_every_core`): XLA runs a note scan's small kernels on one thread, so each device brings a
  core. As many devices as divide the batch into shares of at least `MIN_PARTICLES_PER_DEVICE` whole particles;
  None for one, or on an accelerator. The sampler's committed arguments must then be on them (`replicated`)."""
  devices = jax.devices()
  if devices[0].platform != 'cpu':
    return None
  most = min(len(devices), max(1, batch // MIN_PARTICLES_PER_DEVICE))
  count = max(d for d in range(1, most + 1) if batch % d == 0)
  return None if count == 1 else jax.sharding.Mesh(np.array(devices[:count]), ('rows',))


def replicated(tree, batch: int):
  """`tree` on every device of `row_mesh(batch)` (itself where that is None): a sampler's committed arguments."""
  mesh = row_mesh(batch)
  return tree if mesh is None else jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def adapt(conservativity_B: jnp.ndarray, notes_BxNx2: jnp.ndarray, controls: Controls) -> jnp.ndarray:
  """The original's adaptive rule (`gen_adaptive` in its main.py), when `controls.adaptive` is on."""
  few = notes_BxNx2[..., 0].sum(axis=-1) < 2
  lowered = jnp.where(conservativity_B > 1, 1.0, conservativity_B) - 0.02
  adapted = jnp.where(few, lowered, conservativity_B + (1 - conservativity_B) * 0.3)
  return jnp.where(controls.adaptive > 0, adapted, conservativity_B)


@functools.partial(jax.jit, static_argnames=('config', 'lowest', 'learned_articulation', 'search'))
def sample(params, key: jax.Array, plan: Plan, controls: Controls, *, config: ModelConfig, lowest: int,
           learned_articulation: bool = True, search: Search = Search(), start: Start | None = None) -> Result:
  """Samples `S` rolls of `T` steps under `plan` with `search.particles` particles each (see the module docstring).
  `learned_articulation=False` (a model trained with `train.play_only`) articulates at onsets only. With `start`,
  the rolls continue given music (`Start`) instead of beginning from silence; the log-likelihood and weights are then
  those of the `T` steps alone."""
  if start is not None and config.dynamics:
    raise ValueError('a start after given music is not for a model with dynamics')
  params = lstm.with_matmul_dtype(params, config.matmul_dtype)
  s, t, n, _ = plan.mask_SxTxNx2.shape
  k = search.particles
  b = s * k
  length = search.lookahead_steps
  time_states = lstm.zero_state(params['time'], b * n)

  def particles(x):  # per-sample constraints, one copy per particle
    return jnp.repeat(x, k, axis=0)

  # Look-ahead reads spans that may run past the end: pad with free steps.
  padded_mask = jnp.pad(plan.mask_SxTxNx2, ((0, 0), (0, length), (0, 0), (0, 0)))
  padded_values = jnp.pad(plan.values_SxTxNx2, ((0, 0), (0, length), (0, 0), (0, 0)))
  padded_bar = jnp.pad(plan.bar_position_T, (0, length))
  padded_context = jnp.pad(plan.context_SxTxC, ((0, 0), (0, length), (0, 0)), constant_values=-1)
  padded_voices = jnp.pad(jnp.asarray(plan.voices_SxTxN, jnp.int32), ((0, 0), (0, length), (0, 0)))

  def context(x):  # what the features read: nothing for a model without phrase and key inputs
    return x if config.structure else None

  style_BxY = particles(jnp.asarray(plan.style_SxY, jnp.float32))

  def lookahead(start, time_states, notes_BxNx2, dynamics, voices_BxN, conservativity_B):
    def span(x):
      return particles(jax.lax.dynamic_slice_in_dim(x, start, length, axis=1))
    return smc.lookahead_log_prob(params, time_states, notes_BxNx2, span(padded_mask), span(padded_values),
                                  jax.lax.dynamic_slice_in_dim(padded_bar, start, length),
                                  context(span(padded_context)), style_BxY, dynamics, controls.temperature,
                                  conservativity_B, (voices_BxN, span(padded_voices)) if config.voices else None,
                                  config=config, lowest=lowest, learned_articulation=learned_articulation)

  def time_step(carry, per_step):
    (time_states, prev_BxNx2, velocity_BxN, voices_BxN, level_B, beat_play_BxN, arrival_B, twist_B, conservativity_B,
     log_w_B, log_lik_B, log_psi_B) = carry
    dynamics = (velocity_BxN, level_B) if config.dynamics else None
    (step_key, bar_position, mask, values, force, require, reserved, cadence, step_context, lookahead_start, drop,
     bar_ends, is_beat, given_voices, closed) = per_step
    mask_BxNx2, values_BxNx2, force_BxN, require_BxN, reserved_BxN, given_voices_BxN, closed_B = (
        particles(x) for x in (mask, values, force, require, reserved, given_voices, closed))
    prev_pitch_Bx4 = voicing.voice_pitches(voices_BxN)
    x_BxNxF = features.note_features(prev_BxNx2, jnp.full((b,), bar_position), lowest=lowest,
                                     context_XxC=context(particles(step_context)), dynamics_XxN_X=dynamics,
                                     prev_voices_Xx4=prev_pitch_Bx4 if config.voices else None)
    # the velocity and voice outputs read the note's own dynamics and previous voices again
    dynamics_BxNxD = x_BxNxF[..., x_BxNxF.shape[-1] - (features.NUM_DYNAMICS_FEATURES if config.dynamics else 0):]
    previous_voices_BxNxD = x_BxNxF[..., features.voice_slice(config.structure) if config.voices else slice(0, 0)]
    x_BxNxF = model.with_style(x_BxNxF, style_BxY)
    time_states, h = lstm.stack_step(params['time'], time_states, x_BxNxF.reshape(b * n, -1))
    time_gates_BxNx4H = model.note_gates_from_time(params, h.reshape(b, n, -1), style_BxY)
    step_voices = note_step.StepVoices(prev_pitch_Bx4, closed_B, jnp.asarray(controls.voice_leading.ranges, jnp.int32))

    def draw(m, keys):
      """`m` proposals of this step per particle (rows grouped by particle): what each drew, and its log-weight."""
      def tile(x):
        return jnp.repeat(x, m, axis=0)
      rows = b * m
      uniform_RxNx2 = jax.random.uniform(keys[0], (rows, n, 2))
      gumbel_RxNxV = jax.random.gumbel(keys[1], (rows, n, features.VELOCITY_BINS if config.dynamics else 0))
      gumbel_RxNxC = jax.random.gumbel(keys[2], (rows, n, voicing.NUM_CLASSES if config.voices else 0))
      per_note = (time_gates_BxNx4H, uniform_RxNx2, gumbel_RxNxV, tile(dynamics_BxNxD), tile(mask_BxNx2),
                  tile(values_BxNx2), tile(force_BxN), tile(prev_BxNx2[..., 0] > 0), tile(reserved_BxN),
                  jnp.broadcast_to(jnp.arange(n), (rows, n)), tile(previous_voices_BxNxD), tile(given_voices_BxN),
                  tile(voices_BxN), gumbel_RxNxC)
      per_note = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), per_note)  # notes lead: the scan runs over them

      def scan_notes(conservativity_R, voices_Rx_, per_note):
        here = conservativity_R.shape[0]  # the rows on this device
        sample_note = functools.partial(
            note_step.sample_note, params, config.chord_inputs, learned_articulation, controls.temperature,
            conservativity_R, controls.max_notes, lowest,
            note_step.StepVoices(*voices_Rx_, step_voices.ranges_Vx2) if config.voices else None)

        def note(carry, per_note):  # a particle's time gates serve its proposals: tiled a note at a time, not a step
          return sample_note(carry, (tile(per_note[0]),) + per_note[1:])
        return lstm.prefetched_scan(
            note, (lstm.zero_state(params['note'], here), jnp.zeros((here, 2)), features.ChordCarry.empty(here),
                   voicing.VoiceCarry.empty(here)), per_note)[1]

      mesh = row_mesh(b)
      if mesh is not None:
        rows_spec, notes_spec = jax.sharding.PartitionSpec('rows'), jax.sharding.PartitionSpec(None, 'rows')
        scan_notes = jax.shard_map(scan_notes, mesh=mesh, in_specs=(rows_spec, rows_spec, notes_spec),
                                   out_specs=notes_spec, check_vma=False)  # its zero states vary by device
      pairs_NxRx2, log_w_NxR, log_lik_NxR, velocity_NxR, voices_NxR = scan_notes(
          tile(conservativity_B), (tile(step_voices.prev_Bx4), tile(step_voices.closed_B)) if config.voices else (),
          per_note)
      notes_RxNx2 = jnp.swapaxes(pairs_NxRx2, 0, 1)
      new_voices_RxN = jnp.swapaxes(voices_NxR, 0, 1)
      require_RxN = tile(require_BxN)
      met_R = ~require_RxN.any(axis=-1) | (require_RxN & (notes_RxNx2[..., 0] > 0)).any(axis=-1)
      beat_play_RxN, arrival_R = cadences.arrival(tile(beat_play_BxN), tile(arrival_B), notes_RxNx2[..., 0], is_beat,
                                                  lowest)
      cadence_log_w_R, twist_R = cadences.weigh(notes_RxNx2[..., 0], tile(particles(cadence)), lowest, arrival_R,
                                                tile(twist_B), UNMET_LOG_WEIGHT)
      log_w_R = (log_w_NxR.sum(axis=0) + jnp.where(met_R, 0.0, UNMET_LOG_WEIGHT) + cadence_log_w_R + twist_R
                 - tile(twist_B))
      if config.voices:
        log_w_R += voice_leading_lib.weigh(tile(prev_pitch_Bx4), voicing.voice_pitches(new_voices_RxN),
                                           (notes_RxNx2[..., 1] > 0).any(axis=-1), tile(closed_B),
                                           controls.voice_leading, lowest, UNMET_LOG_WEIGHT)
      drawn = (notes_RxNx2, jnp.swapaxes(velocity_NxR, 0, 1), new_voices_RxN, log_lik_NxR.sum(axis=0), beat_play_RxN,
               arrival_R, twist_R)
      return drawn, log_w_R

    def one():
      return draw(1, (step_key, jax.random.fold_in(step_key, 2), jax.random.fold_in(step_key, 3)))

    def several():  # `search.proposals` per particle, one kept by weight, their mean weight taken
      m = search.proposals
      drawn, log_w_R = draw(m, tuple(jax.random.fold_in(step_key, i) for i in (4, 5, 6)))
      log_w_BxM = log_w_R.reshape(b, m)
      kept_B = jnp.arange(b) * m + jax.random.categorical(jax.random.fold_in(step_key, 7), log_w_BxM, axis=-1)
      return (jax.tree.map(lambda x: x[kept_B], drawn),
              jax.nn.logsumexp(log_w_BxM, axis=-1) - jnp.log(jnp.float32(m)))

    # a step whose every cell is given draws the same thing however often it is drawn
    weighed = ((jnp.any(mask[..., 0] & values[..., 0]) | jnp.any(require) | jnp.any(cadences.closes(cadence)))
               & ~jnp.all(mask))
    drawn, step_log_w_B = jax.lax.cond(weighed, several, one) if search.proposals > 1 else one()
    notes_BxNx2, velocity_BxN, voices_BxN, step_log_lik_B, beat_play_BxN, arrival_B, new_twist_B = drawn
    level_B = features.step_level(velocity_BxN, level_B)
    log_w_B = log_w_B + step_log_w_B
    log_lik_B = log_lik_B + step_log_lik_B
    conservativity_B = adapt(conservativity_B, notes_BxNx2, controls)

    new_psi_B = jax.lax.cond(lookahead_start >= 0,
                             lambda: lookahead(lookahead_start, time_states, notes_BxNx2,
                                               (velocity_BxN, level_B) if config.dynamics else None, voices_BxN,
                                               conservativity_B),
                             lambda: jnp.where(drop, 0.0, log_psi_B))
    log_w_B = log_w_B + new_psi_B - log_psi_B

    log_w_SxK = log_w_B.reshape(s, k)
    ess_S = smc.effective_sample_size(log_w_SxK)
    identity_SxK = jnp.broadcast_to(jnp.arange(k, dtype=jnp.int32), (s, k))
    if search.mode == 'beam':
      keep = max(k // BEAM_FRACTION, 1)
      scores = (log_lik_B + new_psi_B).reshape(s, k)
      ancestors_SxK = jnp.where(bar_ends, smc.top_ancestors(scores, keep), identity_SxK)
    else:
      resample_S = ess_S < search.resample_below * k
      drawn_SxK = smc.systematic_ancestors(jax.random.fold_in(step_key, 1), log_w_SxK)
      ancestors_SxK = jnp.where(resample_S[:, None], drawn_SxK, identity_SxK)
      # resampled particles share the sample's mean weight, so the running estimate of q(constraints) is kept
      mean_S = jax.nn.logsumexp(log_w_SxK, axis=-1) - jnp.log(k)
      log_w_B = jnp.where(resample_S[:, None], mean_S[:, None], log_w_SxK).reshape(b)
    rows_B = smc.to_rows(ancestors_SxK)
    state = (time_states, notes_BxNx2, velocity_BxN, voices_BxN, level_B, beat_play_BxN, arrival_B, new_twist_B,
             conservativity_B, log_w_B, log_lik_B, new_psi_B)
    state = jax.lax.cond(jnp.any(ancestors_SxK != identity_SxK),
                         lambda: smc.gather_rows(state, rows_B, b), lambda: state)
    drawn = (notes_BxNx2.astype(jnp.uint8), velocity_BxN.astype(jnp.uint8), voices_BxN.astype(jnp.uint8))
    return state, (drawn, rows_B, ess_S)

  def step_or_skip(carry, per_step):
    index, per_step = per_step[0], per_step[1:]
    if plan.steps is None:
      return time_step(carry, per_step)
    nothing = jnp.zeros((b, n), jnp.uint8)
    return jax.lax.cond(index < plan.steps, time_step,
                        lambda carry, _: (carry, ((jnp.zeros((b, n, 2), jnp.uint8), nothing, nothing),
                                                  jnp.arange(b, dtype=jnp.int32),
                                                  jnp.full((s,), k, jnp.float32))), carry, per_step)

  def time_major(x):
    return jnp.swapaxes(x, 0, 1)

  bar_ends_T = jnp.append(plan.bar_position_T[1:] == 0, True)
  if plan.steps is not None:
    bar_ends_T |= jnp.arange(t) == plan.steps - 1
  given_play_SxTxN = (plan.mask_SxTxNx2[..., 0] & plan.values_SxTxNx2[..., 0]).astype(jnp.int32)
  reserved_SxTxN = jnp.cumsum(given_play_SxTxN[..., ::-1], axis=-1)[..., ::-1] - given_play_SxTxN  # given above
  per_step = (jnp.arange(t), jax.random.split(key, t), plan.bar_position_T, time_major(plan.mask_SxTxNx2),
              time_major(plan.values_SxTxNx2), time_major(plan.force_SxTxN), time_major(plan.require_SxTxN),
              time_major(reserved_SxTxN), time_major(plan.cadence_SxT), time_major(plan.context_SxTxC),
              plan.lookahead_T, plan.drop_T, bar_ends_T, plan.beat_T,
              time_major(jnp.asarray(plan.voices_SxTxN, jnp.int32)), time_major(jnp.asarray(plan.closed_SxT, jnp.int32)))
  if start is None:
    init = (time_states, jnp.zeros((b, n, 2)), jnp.zeros((b, n), jnp.int32), jnp.zeros((b, n), jnp.int32),
            jnp.zeros((b, n), bool), jnp.full((b,), cadences.NO_BASS, jnp.int32),
            jnp.full((b,), controls.conservativity, jnp.float32))
  else:  # each sample's start, one copy per particle (the time states have a row per note)
    init = (jax.tree.map(lambda x: particles(x.reshape(s, n, -1)).reshape(b * n, -1), start.time_states),
            particles(start.notes_SxNx2.astype(jnp.float32)), jnp.zeros((b, n), jnp.int32),
            particles(start.voices_SxN.astype(jnp.int32)), particles(start.beat_play_SxN),
            particles(start.arrival_S), particles(start.conservativity_S))
  time_states, notes, velocity, voices, beat_play, arrival, conservativity = init
  init = (time_states, notes, velocity, voices, jnp.zeros(b), beat_play, arrival, jnp.zeros(b), conservativity,
          jnp.zeros(b), jnp.zeros(b), jnp.zeros(b))
  final, (drawn_TxBx_, rows_TxB, ess_TxS) = jax.lax.scan(step_or_skip, init, per_step)
  *_, log_w_B, log_lik_B, _ = final
  log_w_SxK, log_lik_SxK = log_w_B.reshape(s, k), log_lik_B.reshape(s, k)
  if search.mode == 'sample':
    chosen_S = jax.random.categorical(jax.random.fold_in(key, t), log_w_SxK, axis=-1)
  else:
    chosen_S = jnp.argmax(log_lik_SxK, axis=-1)
  rows_S = chosen_S + k * jnp.arange(s)
  rolls, velocities, voices = smc.backtrack(drawn_TxBx_, rows_TxB, rows_S)
  return Result(rolls, log_lik_B[rows_S], log_w_B[rows_S],
                jax.nn.logsumexp(log_w_SxK, axis=-1) - jnp.log(k), time_major(ess_TxS), velocities, voices)
