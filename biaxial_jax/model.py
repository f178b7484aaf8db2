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

import dataclasses
import functools

import jax
import jax.numpy as jnp

from biaxial_jax import cudnn_lstm, features, voicing
from biaxial_jax.config import ModelConfig

Params = dict
LstmState = tuple[jnp.ndarray, jnp.ndarray]  # (c, h), each [batch, hidden]


def _init_lstm(key, in_size: int, hidden: int) -> dict:
  k_in, k_rec = jax.random.split(key)
  bias = jnp.zeros(4 * hidden).at[hidden:2 * hidden].set(1.0)  # forget gate starts open
  return {'w_in': jax.nn.initializers.glorot_uniform()(k_in, (in_size, 4 * hidden)),
          'w_rec': jax.nn.initializers.orthogonal(column_axis=-1)(k_rec, (hidden, 4 * hidden)),
          'b': bias}


def init_params(key: jax.Array, config: ModelConfig) -> Params:
  """Fresh parameters: Glorot inputs, orthogonal recurrences, forget-gate bias 1 (1,369,902 at default sizes)."""
  num_styles = len(config.styles)
  keys = iter(jax.random.split(key, len(config.time_sizes) + len(config.note_sizes) + 1))
  time, size = [], features.num_features(config.structure, config.dynamics, config.voices) + num_styles
  for hidden in config.time_sizes:
    time.append(_init_lstm(next(keys), size, hidden))
    size = hidden
  note, size = [], config.time_sizes[-1] + num_styles + features.num_below_features(config.chord_inputs,
                                                                                     config.voices)
  for hidden in config.note_sizes:
    note.append(_init_lstm(next(keys), size, hidden))
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


WEIGHTS = ('w_in', 'w_rec', 'w')  # the matrices; biases and everything else stay float32 in every policy


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LowPrecision:
  """A float32 weight matrix that `dot` multiplies in bfloat16 (see `with_matmul_dtype`); slices stay so."""
  value: jnp.ndarray

  def __getitem__(self, index) -> LowPrecision:
    return LowPrecision(self.value[index])

  @property
  def shape(self) -> tuple[int, ...]:
    return self.value.shape


def _bf16_matmul(a: jnp.ndarray, b: jnp.ndarray, contracting: tuple[tuple[int], tuple[int]]) -> jnp.ndarray:
  """A matmul contracting `a`'s and `b`'s given axes: bfloat16 operands, float32 accumulation and result."""
  return jax.lax.dot_general(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), (contracting, ((), ())),
                             preferred_element_type=jnp.float32)


@jax.custom_vjp
def _bf16_dot(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
  return jnp.matmul(x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), preferred_element_type=jnp.float32)


def _bf16_dot_forward(x, w):
  return _bf16_dot(x, w), (x, w)


def _bf16_dot_backward(residuals, g):
  x, w = residuals
  dx = _bf16_matmul(g, w, ((g.ndim - 1,), (1,)))
  # The weight gradient contracts the batch, the leading dimension of both operands: XLA's CPU bfloat16 matmul is
  # slower than float32 in that layout (and converting the residuals costs more than it saves), so it stays float32.
  dw = jax.lax.dot_general(x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1]), (((0,), (0,)), ((), ())))
  return dx, dw


_bf16_dot.defvjp(_bf16_dot_forward, _bf16_dot_backward)


def dot(x: jnp.ndarray, w) -> jnp.ndarray:
  """`x @ w` under the precision policy: a `LowPrecision` weight multiplies in bfloat16 with float32 accumulation
  and result (`preferred_element_type`: AMX on this CPU, tensor cores on a GPU), its gradients in bfloat16 too
  (float32 accumulation) and delivered in float32 to the float32 weight, as mixed-precision training does."""
  if isinstance(w, LowPrecision):
    return _bf16_dot(x, w.value)
  return x @ w


def with_matmul_dtype(params: Params, config: ModelConfig) -> Params:
  """The parameters as the matmuls use them: with `matmul_dtype='bfloat16'`, every weight matrix marked
  `LowPrecision` (still the float32 master: optimizer state and checkpoints never see bfloat16); else unchanged."""
  if config.matmul_dtype == 'float32':
    return params
  return jax.tree_util.tree_map_with_path(
      lambda path, x: LowPrecision(x) if getattr(path[-1], 'key', None) in WEIGHTS else x, params)


def _gates_forward(gates_Bx4H: jnp.ndarray, c_BxH: jnp.ndarray):
  i, f, g, o = jnp.split(gates_Bx4H, 4, axis=-1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
  c_new = f * c_BxH + i * g
  tanh_c = jnp.tanh(c_new)
  return (c_new, o * tanh_c), (i, f, g, o, c_BxH, tanh_c)


def _gates_backward(residuals, cotangents):
  i, f, g, o, c, tanh_c = residuals
  dc_new, dh = cotangents
  dc = dc_new + dh * o * (1 - tanh_c * tanh_c)
  dgates = jnp.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                            dh * tanh_c * o * (1 - o)], axis=-1)
  return dgates, dc * f


@jax.custom_vjp
def _apply_gates(gates_Bx4H: jnp.ndarray, c_BxH: jnp.ndarray) -> LstmState:
  """The LSTM state update from the fused pre-activation gates (i, f, g, o): the new `(c, h)`.

  Its gradient is written out (the activations kept, one fusion back to the gates' gradient): XLA's own derivative
  of the split, the nonlinearities and their products ran as some twenty small kernels per step, a quarter of the
  default train step on a 2-core CPU (BUILD_NOTES.md, "Session 8: ... the LSTM's gradient written out")."""
  return _gates_forward(gates_Bx4H, c_BxH)[0]


_apply_gates.defvjp(_gates_forward, _gates_backward)


def lstm_cell(layer: dict, state: LstmState, gates_in_Bx4H: jnp.ndarray) -> tuple[LstmState, jnp.ndarray]:
  """One LSTM step given the input's share of the gates (`x @ w_in + b`); returns the new state and `h`."""
  c, h = state
  c, h = _apply_gates(gates_in_Bx4H + dot(h, layer['w_rec']), c)
  return (c, h), h


def zero_state(layers: list[dict], batch: int, dtype=jnp.float32) -> list[LstmState]:
  return [(jnp.zeros((batch, l['w_rec'].shape[0]), dtype),) * 2 for l in layers]


def stack_step(layers: list[dict], states: list[LstmState], x_BxD: jnp.ndarray) -> tuple[list[LstmState], jnp.ndarray]:
  """One step of a stack of LSTMs (no dropout: for generation); returns the new states and the top output."""
  return stack_step_from_gates(layers, states, dot(x_BxD, layers[0]['w_in']) + layers[0]['b'])


def stack_step_from_gates(layers: list[dict], states: list[LstmState],
                          gates_in_Bx4H: jnp.ndarray) -> tuple[list[LstmState], jnp.ndarray]:
  """`stack_step` given the first layer's input share of the gates (`x @ w_in + b`), so that a caller can compute
  the part that does not change along a scan once, outside it."""
  new_states = []
  for i, (layer, state) in enumerate(zip(layers, states)):
    if i:
      gates_in_Bx4H = dot(x_BxD, layer['w_in']) + layer['b']
    state, x_BxD = lstm_cell(layer, state, gates_in_Bx4H)
    new_states.append(state)
  return new_states, x_BxD


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
  return dot(x, first['w_in'][:x.shape[-1]]) + first['b']


def note_gates_from_below(params: Params, below_XxK: jnp.ndarray) -> jnp.ndarray:
  """The share of the note axis's first-layer gates from what lies below the note (`features.below_features`, the
  last rows of its input weights)."""
  w_in = params['note'][0]['w_in']
  return dot(below_XxK, w_in[w_in.shape[0] - below_XxK.shape[-1]:])


def output_logits(params: Params, h_BxH: jnp.ndarray) -> jnp.ndarray:
  """The dense layer: note-axis output -> (play, articulate) logits."""
  return dot(h_BxH, params['out']['w']) + params['out']['b']


def velocity_logits(params: Params, h_BxH: jnp.ndarray, dynamics_BxD: jnp.ndarray) -> jnp.ndarray:
  """A model with dynamics: note-axis output and the note's own dynamics inputs (its last velocity and the level:
  the last 2 features, read again here so that holding a loudness needs no trip through both LSTM stacks) ->
  logits of the velocity bin of a struck note."""
  return dot(jnp.concatenate([h_BxH, dynamics_BxD], axis=-1), params['velocity']['w']) + params['velocity']['b']


def voice_logits(params: Params, h_BxH: jnp.ndarray, head_BxD: jnp.ndarray) -> jnp.ndarray:
  """A model with voices: note-axis output and the note's voice inputs (its articulation, the previous voices and
  the voices below: `voicing.NUM_HEAD_FEATURES`) -> logits of the voice set of a played note."""
  return dot(jnp.concatenate([h_BxH, head_BxD], axis=-1), params['voice']['w']) + params['voice']['b']


def _transposed_bf16_bits(x_BxD: jnp.ndarray) -> jnp.ndarray:
  """`x` transposed, in bfloat16, as 16-bit integers (`_from_bits` reads them back): XLA's CPU scan stacking
  bfloat16 outputs converts the whole stack to float32 and back at every step; stacking integers writes in place."""
  return jax.lax.bitcast_convert_type(x_BxD.T.astype(jnp.bfloat16), jnp.uint16)


def _from_bits(x: jnp.ndarray) -> jnp.ndarray:
  return jax.lax.bitcast_convert_type(x, jnp.bfloat16)


def _bf16_layer_forward(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll: int):
  # One matmul per step for the input's and the state's share of the gates ([x, h] @ [w_in; w_rec]), and one for
  # both weight gradients in the backward: the larger contraction runs nearer this CPU's bfloat16 peak than two
  # (BUILD_NOTES.md, "Session 10").
  w_DHxG = jnp.concatenate([w_in_DxG, w_rec_HxG])

  def step(state, x_BxD):
    c, h = state
    xh_BxDH = jnp.concatenate([x_BxD, h], axis=-1)
    (c, h_new), activations = _gates_forward(_bf16_matmul(xh_BxDH, w_DHxG, ((1,), (0,))) + b_G, c)
    # The weight gradients contract the batch. XLA's CPU bfloat16 dot runs that fast only with the batch as the
    # last axis of the first operand (else it converts both to float32) and folds a transpose made beside the dot
    # back into it; whole stacks transposed outside the loop became float32 copies, a tenth of the step. So each
    # step keeps its input and previous state transposed here, where no dot is beside them.
    return (c, h_new), (h_new, activations, _transposed_bf16_bits(xh_BxDH))
  zeros = jnp.zeros((x_SxBxD.shape[1], w_rec_HxG.shape[0]), jnp.float32)
  _, (h_SxBxH, activations, xh_SxDHxB) = jax.lax.scan(step, (zeros, zeros), x_SxBxD, unroll=unroll)
  return h_SxBxH, (activations, xh_SxDHxB)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _bf16_layer(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll: int) -> jnp.ndarray:
  """One LSTM layer over the leading axis under the bfloat16 policy (float32 weights, states and gradients): the
  outputs `[S, B, H]`. Its gradient is written out so that the weight gradients run in bfloat16 too (below)."""
  return _bf16_layer_forward(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll)[0]


def _bf16_layer_fwd(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll):
  h_SxBxH, saved = _bf16_layer_forward(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll)
  return h_SxBxH, (w_in_DxG, w_rec_HxG, saved)


def _bf16_layer_bwd(unroll, residuals, dh_SxBxH):
  w_in_DxG, w_rec_HxG, (activations, xh_SxDHxB) = residuals

  def step(carry, inputs):
    dc, dh_later, dw_DHxG, db = carry
    dh_out, activations_t, xh_DHxB = inputs
    dgates, dc = _gates_backward(activations_t, (dc, dh_out + dh_later))
    dgates_bf16 = dgates.astype(jnp.bfloat16)
    dw_DHxG = dw_DHxG + _bf16_matmul(_from_bits(xh_DHxB), dgates_bf16, ((1,), (0,)))
    carry = (dc, _bf16_matmul(dgates_bf16, w_rec_HxG, ((1,), (1,))), dw_DHxG, db + dgates.sum(0))
    return carry, _bf16_matmul(dgates_bf16, w_in_DxG, ((1,), (1,)))

  batch, hidden = dh_SxBxH.shape[1:]
  in_size = w_in_DxG.shape[0]
  zeros = jnp.zeros((batch, hidden), jnp.float32)
  init = (zeros, zeros, jnp.zeros((in_size + hidden, 4 * hidden), jnp.float32), jnp.zeros((4 * hidden,), jnp.float32))
  (_, _, dw_DHxG, db), dx_SxBxD = jax.lax.scan(step, init, (dh_SxBxH, activations, xh_SxDHxB), reverse=True,
                                                unroll=unroll)
  return dw_DHxG[:in_size], dw_DHxG[in_size:], db, dx_SxBxD


_bf16_layer.defvjp(_bf16_layer_fwd, _bf16_layer_bwd)


def _layer_scan(layer: dict, x_SxBxD: jnp.ndarray, mask_BxH, hoist: bool, unroll: int = 1) -> jnp.ndarray:
  """One LSTM layer over the leading (scan) axis, `unroll` steps per loop iteration."""
  if isinstance(layer['w_in'], LowPrecision) and not hoist:
    h_SxBxH = _bf16_layer(layer['w_in'].value, layer['w_rec'].value, layer['b'], x_SxBxD, unroll)
    return h_SxBxH if mask_BxH is None else h_SxBxH * mask_BxH
  batch = x_SxBxD.shape[1]
  init = zero_state([layer], batch, x_SxBxD.dtype)[0]
  if hoist:
    def step(state, gates_in):
      return lstm_cell(layer, state, gates_in)
    _, h_SxBxH = jax.lax.scan(step, init, dot(x_SxBxD, layer['w_in']) + layer['b'], unroll=unroll)
  else:
    def step(state, x):
      return lstm_cell(layer, state, dot(x, layer['w_in']) + layer['b'])
    _, h_SxBxH = jax.lax.scan(step, init, x_SxBxD, unroll=unroll)
  return h_SxBxH if mask_BxH is None else h_SxBxH * mask_BxH


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
    h = _layer_scan(layer, h, mask, config.hoist_input_projection, config.scan_unroll)
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
    x = _layer_scan(layer, x, mask, config.hoist_input_projection, config.scan_unroll)
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
  params = with_matmul_dtype(params, config)
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
