"""The biaxial network as pure functions over a parameter pytree.

Time axis: a stack of LSTMs recurrent over time steps, one sequence per note (notes folded into the batch).
Note axis: a stack of LSTMs recurrent over notes from low to high, one sequence per time step (time folded into the
batch); note n sees the time-axis output for n and the `(play, articulate)` of note n-1 at the same step (with
`model.chord_inputs`, also the chord drawn below it: `features.below_features`).
A dense layer gives 2 logits per note and step: play, and articulate given play.
A model with dynamics (`model.dynamics`) has a second dense layer, `'velocity': {'w', 'b'}`, giving 8 more logits
per note and step: the velocity bin of a struck note (`features.VELOCITY_BINS`), after the 2 of the first.
A model with voices (`model.voices`) has a third, `'voice': {'w', 'b'}`, giving 15 more logits last: the voice set
of a played note (`voicing`), from the note-axis output and the note's voice inputs.
A model with styles (`model.styles`, Y of them) reads a weight per style, `style_BxY`, beside the inputs of both
axes' first layers (so each axis learns its own embedding of the styles, and a mixture of styles is a weighted sum).

Parameters: `{'time': [layer...], 'note': [layer...], 'out': {'w', 'b'}}`, each LSTM layer
`{'w_in': [D, 4H], 'w_rec': [H, 4H], 'b': [4H]}` with the gates fused in one matmul, in the order (i, f, g, o).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from biaxial_jax import cudnn_lstm, features, lstm, voicing
from biaxial_jax.config import ModelConfig

Params = dict


def init_params(key: jax.Array, config: ModelConfig) -> Params:
  """Fresh parameters: Glorot inputs, orthogonal recurrences, forget-gate bias 1 (1,369,902 at default sizes)."""
  num_styles = len(config.styles)
  keys = iter(jax.random.split(key, len(config.time_sizes) + len(config.note_sizes) + 1))
  time, size = [], features.num_features(config.structure, config.dynamics, config.voices) + num_styles
  for hidden in config.time_sizes:
    time.append(lstm.init_layer(next(keys), size, hidden))
    size = hidden
  note, size = [], config.time_sizes[-1] + num_styles + features.num_below_features(config.chord_inputs,
                                                                                     config.voices)
  for hidden in config.note_sizes:
    note.append(lstm.init_layer(next(keys), size, hidden))
    size = hidden
  out = {'w': jax.nn.initializers.glorot_uniform()(next(keys), (size, 2)), 'b': jnp.zeros(2)}
  params = {'time': time, 'note': note, 'out': out}
  if config.dynamics:  # its own key, so that the other parameters are those of the same model without dynamics
    w = jax.nn.initializers.glorot_uniform()(jax.random.fold_in(key, 1),
                                             (size + features.NUM_DYNAMICS_FEATURES, features.VELOCITY_BINS))
    params['velocity'] = {'w': w, 'b': jnp.zeros(features.VELOCITY_BINS)}
  if config.voices:
    w = jax.nn.initializers.glorot_uniform()(jax.random.fold_in(key, 2),
                                             (size + voicing.NUM_HEAD_FEATURES, voicing.NUM_CLASSES))
    params['voice'] = {'w': w, 'b': jnp.zeros(voicing.NUM_CLASSES)}
  return params


def count_params(params: Params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def with_style(x_XxD: jnp.ndarray, style_BxY: jnp.ndarray) -> jnp.ndarray:
  """`x` with the style weights appended to its last axis, broadcast over the axes between the batch and it (for a
  model without styles, Y = 0: `x` itself)."""
  if style_BxY.shape[-1] == 0:
    return x_XxD
  lead = x_XxD.shape[:-1]
  style = style_BxY.reshape(style_BxY.shape[:1] + (1,) * (len(lead) - 1) + style_BxY.shape[1:])
  return jnp.concatenate([x_XxD, jnp.broadcast_to(style, (*lead, style_BxY.shape[-1])).astype(x_XxD.dtype)], axis=-1)


def no_style(batch: int, config: ModelConfig) -> jnp.ndarray:
  """All style weights zero, `[batch, Y]`: what a model without styles reads (Y = 0), or a styled one unconditioned."""
  return jnp.zeros((batch, len(config.styles)), jnp.float32)


def note_gates_from_time(params: Params, h_XxH: jnp.ndarray, style_XxY: jnp.ndarray) -> jnp.ndarray:
  """The share (with the bias) of the note axis's first-layer gates from the time-axis output and the style. It does
  not change along the note scan, so generation computes it for all notes of a step at once;
  `note_gates_from_below` is the rest."""
  first = params['note'][0]
  x = with_style(h_XxH, style_XxY)
  return lstm.dot(x, first['w_in'][:x.shape[-1]]) + first['b']


def note_gates_from_below(params: Params, below_XxK: jnp.ndarray) -> jnp.ndarray:
  """The share of the note axis's first-layer gates from what lies below the note (`features.below_features`, the
  last rows of its input weights)."""
  w_in = params['note'][0]['w_in']
  return lstm.dot(below_XxK, w_in[w_in.shape[0] - below_XxK.shape[-1]:])


def output_logits(params: Params, h_BxH: jnp.ndarray) -> jnp.ndarray:
  """The dense layer: note-axis output -> (play, articulate) logits."""
  return lstm.dot(h_BxH, params['out']['w']) + params['out']['b']


def velocity_logits(params: Params, h_BxH: jnp.ndarray, dynamics_BxD: jnp.ndarray) -> jnp.ndarray:
  """A model with dynamics: note-axis output and the note's own dynamics inputs (its last velocity and the level:
  the last 2 features, read again here so that holding a loudness needs no trip through both LSTM stacks) ->
  logits of the velocity bin of a struck note."""
  return lstm.dot(jnp.concatenate([h_BxH, dynamics_BxD], axis=-1), params['velocity']['w']) + params['velocity']['b']


def voice_logits(params: Params, h_BxH: jnp.ndarray, head_BxD: jnp.ndarray) -> jnp.ndarray:
  """A model with voices: note-axis output and the note's voice inputs (its articulation, the previous voices and
  the voices below: `voicing.NUM_HEAD_FEATURES`) -> logits of the voice set of a played note."""
  return lstm.dot(jnp.concatenate([h_BxH, head_BxD], axis=-1), params['voice']['w']) + params['voice']['b']


def dropout_masks(key: jax.Array | None, sizes, batch: int, rate: float) -> list[jnp.ndarray | None]:
  """Inverted-dropout masks `[batch, size]` per layer, each fixed along its scan (variational dropout)."""
  if key is None or rate == 0:
    return [None] * len(sizes)
  keys = jax.random.split(key, len(sizes))
  return [jax.random.bernoulli(k, 1 - rate, (batch, s)).astype(jnp.float32) / (1 - rate) for k, s in zip(keys, sizes)]


def time_axis(params: Params, x_BxTxNxF: jnp.ndarray, style_BxY: jnp.ndarray, config: ModelConfig,
              masks) -> jnp.ndarray:
  """Time-axis outputs `[B, T, N, H]`; step t depends on features of steps <= t (and the style) only."""
  x_BxTxNxF = with_style(x_BxTxNxF, style_BxY)
  b, t, n, f = x_BxTxNxF.shape
  if config.time_axis_cudnn and cudnn_lstm.available():
    h = jnp.transpose(x_BxTxNxF, (0, 2, 1, 3)).reshape(b * n, t, f)
    for layer, mask in zip(params['time'], masks):
      h = cudnn_lstm.layer_outputs(layer, h)
      h = h if mask is None else h * mask[:, None]
    return jnp.transpose(h.reshape(b, n, t, -1), (0, 2, 1, 3))
  h = jnp.transpose(x_BxTxNxF, (1, 0, 2, 3)).reshape(t, b * n, f)
  for layer, mask in zip(params['time'], masks):
    h = lstm.layer_scan(layer, h, mask, config.hoist_input_projection, config.scan_unroll)
  return jnp.transpose(h.reshape(t, b, n, -1), (1, 0, 2, 3))


def note_axis(params: Params, h_BxTxNxH: jnp.ndarray, notes_BxTxNx2: jnp.ndarray, style_BxY: jnp.ndarray,
              config: ModelConfig, masks, dynamics_BxTxNxD: jnp.ndarray | None = None,
              voices_BxTxNxD: jnp.ndarray | None = None) -> jnp.ndarray:
  """Logits `[B, T, N, 2]` given time-axis outputs, the notes (teacher forcing: note n sees the notes below) and
  the style; with `dynamics_BxTxNxD` (a model with dynamics), 8 velocity logits more; with `voices_BxTxNxD` (a
  model with voices: each note's voice inputs, `voicing.NUM_HEAD_FEATURES`, whose last 12 are the voices below),
  15 voice logits more."""
  b, t, n, _ = h_BxTxNxH.shape
  below = features.below_features(notes_BxTxNx2, config.chord_inputs)
  if voices_BxTxNxD is not None:
    below = jnp.concatenate([below, voices_BxTxNxD[..., -voicing.NUM_BELOW_FEATURES:]], axis=-1)
  x = jnp.concatenate([with_style(h_BxTxNxH, style_BxY), below.astype(h_BxTxNxH.dtype)], axis=-1)
  x = jnp.transpose(x, (2, 0, 1, 3)).reshape(n, b * t, -1)
  for layer, mask in zip(params['note'], masks):
    x = lstm.layer_scan(layer, x, mask, config.hoist_input_projection, config.scan_unroll)
  logits = output_logits(params, x)
  if dynamics_BxTxNxD is not None:
    dynamics = jnp.transpose(dynamics_BxTxNxD, (2, 0, 1, 3)).reshape(n, b * t, -1)
    logits = jnp.concatenate([logits, velocity_logits(params, x, dynamics)], axis=-1)
  if voices_BxTxNxD is not None:
    head = jnp.transpose(voices_BxTxNxD, (2, 0, 1, 3)).reshape(n, b * t, -1)
    logits = jnp.concatenate([logits, voice_logits(params, x, head)], axis=-1)
  return jnp.transpose(logits.reshape(n, b, t, -1), (1, 2, 0, 3))


def apply(params: Params, x_BxTxNxF: jnp.ndarray, notes_BxTxNx2: jnp.ndarray, config: ModelConfig, *,
          style_BxY: jnp.ndarray | None = None, dropout_key: jax.Array | None = None,
          voices_BxTxN: jnp.ndarray | None = None) -> jnp.ndarray:
  """Logits `[B, T, N, 2]` (play; articulate given play; with dynamics, 8 more: the velocity bin given a strike;
  with voices, 15 more: the voice set given play) for every step and note.

  Args:
    x_BxTxNxF: input features of each step (from the previous step's notes; see `features.sequence_features`).
    notes_BxTxNx2: the notes of each step; note n's prediction sees only notes below n (teacher forcing).
    config: the model config (sizes, dropout, hoisting, matmul precision, styles).
    style_BxY: a weight per style of `config.styles` for each sequence (one-hot: one style; a mixture sums to 1);
      None: all zero.
    dropout_key: a key turns dropout on (training); None turns it off.
    voices_BxTxN: for a model with voices, the voices of each step (`Piece.voices`; zeros: unknown): note n's
      prediction sees only those of the notes below n, and of the steps before.
  """
  b, t, n, _ = x_BxTxNxF.shape
  params = lstm.with_matmul_dtype(params, config.matmul_dtype)
  style_BxY = no_style(b, config) if style_BxY is None else jnp.asarray(style_BxY, jnp.float32)
  time_key = note_key = None
  if dropout_key is not None:
    time_key, note_key = jax.random.split(dropout_key)
  h = time_axis(params, x_BxTxNxF, style_BxY, config,
                dropout_masks(time_key, config.time_sizes, b * n, config.dropout))
  voice_inputs = None
  if config.voices:
    if voices_BxTxN is None:
      voices_BxTxN = jnp.zeros(notes_BxTxNx2.shape[:3], jnp.uint8)
    voice_inputs = jnp.concatenate([notes_BxTxNx2[..., 1:2].astype(jnp.float32),
                                    x_BxTxNxF[..., features.voice_slice(config.structure)],
                                    voicing.teacher_forced_below(voices_BxTxN)], axis=-1)
  return note_axis(params, h, notes_BxTxNx2, style_BxY, config,
                   dropout_masks(note_key, config.note_sizes, b * t, config.dropout),
                   x_BxTxNxF[..., -features.NUM_DYNAMICS_FEATURES:] if config.dynamics else None, voice_inputs)


def teacher_forced_logits(params: Params, notes_BxTxNx2: jnp.ndarray, bar_position_BxT: jnp.ndarray,
                          config: ModelConfig, *, lowest: int, context_BxTxC: jnp.ndarray | None = None,
                          style_BxY: jnp.ndarray | None = None, velocity_BxTxN: jnp.ndarray | None = None,
                          voices_BxTxN: jnp.ndarray | None = None,
                          dropout_key: jax.Array | None = None) -> jnp.ndarray:
  """Logits `[B, T, N, 2]` of every step and note of whole sequences, each step predicted from the steps before it
  (the first from silence) and its notes from the notes below: training, evaluation and scoring samples. A model
  with phrase and key inputs (`config.structure`) reads `context_BxTxC` (unknown everywhere when it is None); one
  with styles reads `style_BxY` (see `apply`); one with dynamics reads `velocity_BxTxN` (each struck note's
  velocity, 0 elsewhere and throughout a piece without dynamics; all 0 when it is None); one with voices reads
  `voices_BxTxN` (`Piece.voices`; all 0, unknown, when it is None)."""
  if config.structure and context_BxTxC is None:
    context_BxTxC = jnp.full((*bar_position_BxT.shape, 3), -1, jnp.int32)
  if config.dynamics and velocity_BxTxN is None:
    velocity_BxTxN = jnp.zeros(notes_BxTxNx2.shape[:3], jnp.int32)
  if config.voices and voices_BxTxN is None:
    voices_BxTxN = jnp.zeros(notes_BxTxNx2.shape[:3], jnp.uint8)
  x = features.sequence_features(notes_BxTxNx2, bar_position_BxT, lowest=lowest,
                                 context_BxTxC=context_BxTxC if config.structure else None,
                                 velocity_BxTxN=velocity_BxTxN if config.dynamics else None,
                                 voices_BxTxN=voices_BxTxN if config.voices else None)
  return apply(params, x, notes_BxTxNx2, config, style_BxY=style_BxY, dropout_key=dropout_key,
               voices_BxTxN=voices_BxTxN if config.voices else None)
