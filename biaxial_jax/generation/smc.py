"""The pieces of sequential Monte Carlo that the sampler is built from (pure `jax.numpy`, jittable).

Particles are the rows of a batch `[S * K]`: `S` independent samples of `K` particles each, particle `k` of sample
`s` at row `s * K + k`. Weights are kept as logs.

Probabilities come in two kinds:
- the *sampling process*: what the sampler draws from, `P(play) = sigmoid(logit / temperature) ** conservativity`,
  `P(articulate | play) = sigmoid(logit / temperature)`, with the rules that make a roll valid (a note is struck where
  it starts sounding; nothing articulates without playing). Weights use these: the target is this process conditioned
  on the constraints.
- the *model* (temperature 1, conservativity 1, no rules), scored like training (`loss.nll_sums`: play everywhere,
  articulate where played): the log-likelihood reported per sample and ranked by best-of-N and beam search.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from biaxial_jax import features, lstm, model, voicing
from biaxial_jax.config import ModelConfig


def log1mexp(x: jnp.ndarray) -> jnp.ndarray:
  """`log(1 - exp(x))` for `x <= 0`, accurate at both ends (Maechler 2012)."""
  x = jnp.minimum(x, -1e-30)
  return jnp.where(x > -0.6931472, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def process_log_probs(logits_Xx2: jnp.ndarray, temperature, conservativity_X: jnp.ndarray) -> tuple:
  """Log-probabilities of the sampling process: `(log P(play), log P(no play), log P(art), log P(no art))`, each
  `[X]`; `conservativity_X` broadcasts against the leading dims."""
  scaled = logits_Xx2 / temperature
  log_play = conservativity_X * jax.nn.log_sigmoid(scaled[..., 0])
  return log_play, log1mexp(log_play), jax.nn.log_sigmoid(scaled[..., 1]), jax.nn.log_sigmoid(-scaled[..., 1])


def constrained_log_prob(logits_Xx2: jnp.ndarray, pair_Xx2: jnp.ndarray, prev_play_X: jnp.ndarray,
                         constrained_Xx2: jnp.ndarray, temperature, conservativity_X,
                         learned_articulation: bool) -> jnp.ndarray:
  """The sampling process's log-probability of the constrained bits of `pair` (the cells the sampler did not draw).

  A play bit counts where it is constrained. An articulate bit counts where it is constrained and the process would
  have drawn it: the note plays and was already sounding (at an onset, and where nothing plays, the rules fix it),
  and the model learned articulation (a play-only model never drew it).
  """
  log_play, log_no_play, log_art, log_no_art = process_log_probs(logits_Xx2, temperature, conservativity_X)
  play, art = pair_Xx2[..., 0] > 0, pair_Xx2[..., 1] > 0
  play_term = jnp.where(constrained_Xx2[..., 0], jnp.where(play, log_play, log_no_play), 0.0)
  drawn = constrained_Xx2[..., 1] & play & prev_play_X & learned_articulation
  return play_term + jnp.where(drawn, jnp.where(art, log_art, log_no_art), 0.0)


def model_log_prob(logits_Xx2: jnp.ndarray, pair_Xx2: jnp.ndarray) -> jnp.ndarray:
  """The model's own log-probability of `pair`, as training scores it: play always, articulate where played."""
  play, art = pair_Xx2[..., 0] > 0, pair_Xx2[..., 1] > 0
  play_term = jnp.where(play, jax.nn.log_sigmoid(logits_Xx2[..., 0]), jax.nn.log_sigmoid(-logits_Xx2[..., 0]))
  art_term = jnp.where(art, jax.nn.log_sigmoid(logits_Xx2[..., 1]), jax.nn.log_sigmoid(-logits_Xx2[..., 1]))
  return play_term + jnp.where(play, art_term, 0.0)


def effective_sample_size(log_weights_SxK: jnp.ndarray) -> jnp.ndarray:
  """`1 / sum(w^2)` of the normalized weights, per sample `[S]`: K for equal weights, 1 for one particle."""
  w = jax.nn.softmax(log_weights_SxK, axis=-1)
  return 1.0 / jnp.sum(w * w, axis=-1)


def systematic_ancestors(key: jax.Array, log_weights_SxK: jnp.ndarray) -> jnp.ndarray:
  """Systematic resampling per sample: `[S, K]` indices (within the sample) of the particles to copy.

  One uniform offset per sample and K evenly spaced points through the cumulative weights: each particle is copied
  floor(K w) or ceil(K w) times, the lowest variance of the usual schemes.
  """
  s, k = log_weights_SxK.shape
  cumulative = jnp.cumsum(jax.nn.softmax(log_weights_SxK, axis=-1), axis=-1)
  points = (jax.random.uniform(key, (s, 1)) + jnp.arange(k)) / k
  return jnp.minimum(jax.vmap(jnp.searchsorted)(cumulative, points), k - 1).astype(jnp.int32)


def top_ancestors(scores_SxK: jnp.ndarray, keep: int) -> jnp.ndarray:
  """Beam selection per sample: the `keep` best particles by score, each copied in turn until K are filled."""
  k = scores_SxK.shape[-1]
  best = jnp.argsort(-scores_SxK, axis=-1)[:, :keep]
  return best[:, jnp.arange(k) % keep].astype(jnp.int32)


def to_rows(ancestors_SxK: jnp.ndarray) -> jnp.ndarray:
  """Indices within each sample -> rows of the flat `[S * K]` batch."""
  s, k = ancestors_SxK.shape
  return (ancestors_SxK + k * jnp.arange(s)[:, None]).reshape(-1)


def gather_rows(tree, rows_B: jnp.ndarray, batch: int):
  """Every array of `tree` with leading dim `batch` (or a multiple, `[batch * M, ...]` with rows grouped by
  particle) re-indexed by particle: `rows_B` says which particle each new particle copies."""
  def take(x):
    per = x.shape[0] // batch
    return x.reshape(batch, per, *x.shape[1:])[rows_B].reshape(x.shape)
  return jax.tree.map(take, tree)


def backtrack(notes_TxBx_, ancestors_TxB: jnp.ndarray, final_rows_S: jnp.ndarray):
  """The roll of each chosen particle, `[S, T, N, 2]` (or any tree of `[T, B, ...]` arrays: the velocities too), by
  following its ancestry back from the last step.

  `notes_TxBx_[t]` are the particles' notes at step t before resampling, `ancestors_TxB[t]` says which of them each
  particle copied when resampling after step t; `final_rows_S` are the chosen particles at the end.
  """
  def back(rows, per_step):
    notes_Bx_, ancestors_B = per_step
    rows = ancestors_B[rows]
    return rows, jax.tree.map(lambda x: x[rows], notes_Bx_)
  _, notes_TxSx_ = jax.lax.scan(back, final_rows_S, (notes_TxBx_, ancestors_TxB), reverse=True)
  return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), notes_TxSx_)


def time_axis_step(params, states, prev_BxNx2, bar_position, context_BxC, dynamics, prev_voices_Bx4, style_BxY,
                   lowest: int):
  """One step of the time axis given the previous step's notes (teacher forced): the new states and outputs
  `[B * N, H]`; `context_BxC`, `dynamics` and `prev_voices_Bx4` are None for a model without those inputs."""
  b, n, _ = prev_BxNx2.shape
  x = model.with_style(features.note_features(prev_BxNx2, jnp.full((b,), bar_position), lowest=lowest,
                                              context_XxC=context_BxC, dynamics_XxN_X=dynamics,
                                              prev_voices_Xx4=prev_voices_Bx4), style_BxY)
  return lstm.stack_step(params['time'], states, x.reshape(b * n, -1))


def lookahead_log_prob(params, time_states, prev_BxNx2: jnp.ndarray, span_mask_BxLxNx2: jnp.ndarray,
                       span_values_BxLxNx2: jnp.ndarray, span_bar_position_L: jnp.ndarray,
                       span_context_BxLxC: jnp.ndarray | None, style_BxY: jnp.ndarray, dynamics_BxN_B,
                       temperature, conservativity_B: jnp.ndarray, voices_BxN_BxLxN=None, *, config: ModelConfig,
                       lowest: int, learned_articulation: bool) -> jnp.ndarray:
  """`[B]`: the sampling process's log-probability of a span's fixed cells, teacher forcing the model over the span
  as if it began right after each particle's history (its time-axis states and last notes).

  Free cells of the span are read as silence, and (for a model with dynamics, `dynamics_BxN_B` the particles' last
  velocities and level) the span's velocities as unknown. Both are approximations unless the span begins at the next
  step and is fully fixed, where this is exact; they only change how well the look-ahead steers, never what the
  weighted particles target (see `sampler`).
  """
  b, length, n, _ = span_values_BxLxNx2.shape
  values = span_values_BxLxNx2.astype(jnp.float32)
  prev_LxBxNx2 = jnp.concatenate([prev_BxNx2[None], jnp.swapaxes(values, 0, 1)[:-1]])

  voice_inputs = prev_pitches_LxBx4 = None
  if voices_BxN_BxLxN is not None:
    sequence_BxLxN = jnp.concatenate([voices_BxN_BxLxN[0][:, None], voices_BxN_BxLxN[1]], axis=1)
    prev_pitches_BxLx4 = voicing.voice_pitches(sequence_BxLxN[:, :-1])
    prev_pitches_LxBx4 = jnp.swapaxes(prev_pitches_BxLx4, 0, 1)
    voice_inputs = jnp.concatenate([values[..., 1:2], voicing.previous_features(prev_pitches_BxLx4, n),
                                    voicing.teacher_forced_below(sequence_BxLxN)[:, 1:]], axis=-1)

  def time_step(states, per_step):
    prev, bar_position, context, velocity, prev_voices = per_step
    dynamics = None if dynamics_BxN_B is None else (velocity, dynamics_BxN_B[1])
    return time_axis_step(params, states, prev, bar_position, context, dynamics, prev_voices, style_BxY, lowest)

  contexts = None if span_context_BxLxC is None else jnp.swapaxes(span_context_BxLxC, 0, 1)
  velocities = None if dynamics_BxN_B is None else jnp.concatenate(
      [dynamics_BxN_B[0][None], jnp.zeros((length - 1, b, n))])
  _, h_LxBNxH = jax.lax.scan(time_step, time_states,
                             (prev_LxBxNx2, span_bar_position_L, contexts, velocities, prev_pitches_LxBx4))
  h_BxLxNxH = jnp.swapaxes(h_LxBNxH.reshape(length, b, n, -1), 0, 1)
  logits = model.note_axis(params, h_BxLxNxH, values, style_BxY, config, [None] * len(config.note_sizes),
                           voices_BxTxNxD=voice_inputs)
  prev_play = jnp.swapaxes(prev_LxBxNx2[..., 0], 0, 1) > 0
  log_p = constrained_log_prob(logits, values, prev_play, span_mask_BxLxNx2, temperature,
                               conservativity_B[:, None, None], learned_articulation)
  return log_p.sum(axis=(1, 2))
