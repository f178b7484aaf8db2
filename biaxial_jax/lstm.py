"""The LSTM kernels: one cell step with its gradient written out, stacks of layers, scans over a sequence, and the
bfloat16 matmul policy (`LowPrecision`, `dot`), with the custom gradients that keep it fast on a CPU.

A layer is `{'w_in': [D, 4H], 'w_rec': [H, 4H], 'b': [4H]}`, the gates fused in one matmul in the order
(i, f, g, o); a state is `(c, h)`, each `[batch, H]`. `model` builds the biaxial network from these; nothing here
knows about notes or time. Why each custom gradient exists, with its measurement: docs/design.md, "Precision and
the CPU kernels".
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

LstmState = tuple[jnp.ndarray, jnp.ndarray]  # (c, h), each [batch, hidden]
Params = dict

def init_layer(key, in_size: int, hidden: int) -> dict:
  k_in, k_rec = jax.random.split(key)
  bias = jnp.zeros(4 * hidden).at[hidden:2 * hidden].set(1.0)  # forget gate starts open
  return {'w_in': jax.nn.initializers.glorot_uniform()(k_in, (in_size, 4 * hidden)),
          'w_rec': jax.nn.initializers.orthogonal(column_axis=-1)(k_rec, (hidden, 4 * hidden)),
          'b': bias}


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
  and result (`preferred_element_type`: AMX or AVX512-BF16 on a CPU that has them, tensor cores on a GPU), its gradients in bfloat16 too
  (float32 accumulation) and delivered in float32 to the float32 weight, as mixed-precision training does."""
  if isinstance(w, LowPrecision):
    return _bf16_dot(x, w.value)
  return x @ w


def with_matmul_dtype(params: Params, matmul_dtype: str) -> Params:
  """The parameters as the matmuls use them: with `matmul_dtype` 'bfloat16', every weight matrix marked
  `LowPrecision` (still the float32 master: optimizer state and checkpoints never see bfloat16); else unchanged."""
  if matmul_dtype == 'float32':
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
  default train step on a 2-core CPU."""
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


def prefetched_scan(f, init, xs):
  """`jax.lax.scan(f, init, xs)` (no `reverse`, no `unroll`), each step's slice of `xs` taken at the end of the step
  before and carried: XLA's CPU backend fuses a scan's slicing into the body's elementwise fusions, and a fusion
  that slices no longer vectorizes (the note axis's LSTM gates ran five times slower)."""
  length = jax.tree.leaves(xs)[0].shape[0]

  def at(i):
    return jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), xs)

  def step(carry_and_x, i):
    carry, x = carry_and_x
    carry, y = f(carry, x)
    return (carry, at(jnp.minimum(i + 1, length - 1))), y
  (carry, _), ys = jax.lax.scan(step, (init, at(0)), jnp.arange(length))
  return carry, ys


def _transposed_bf16_bits(x_BxD: jnp.ndarray) -> jnp.ndarray:
  """`x` transposed, in bfloat16, as 16-bit integers (`_from_bits` reads them back): XLA's CPU scan stacking
  bfloat16 outputs converts the whole stack to float32 and back at every step; stacking integers writes in place."""
  return jax.lax.bitcast_convert_type(x_BxD.T.astype(jnp.bfloat16), jnp.uint16)


def _from_bits(x: jnp.ndarray) -> jnp.ndarray:
  return jax.lax.bitcast_convert_type(x, jnp.bfloat16)


def _bf16_layer_forward(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll: int):
  # One matmul per step for the input's and the state's share of the gates ([x, h] @ [w_in; w_rec]), and one for
  # both weight gradients in the backward: the larger contraction runs nearer a CPU's bfloat16 peak than two.
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
def bf16_layer(w_in_DxG, w_rec_HxG, b_G, x_SxBxD, unroll: int) -> jnp.ndarray:
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


bf16_layer.defvjp(_bf16_layer_fwd, _bf16_layer_bwd)


def layer_scan(layer: dict, x_SxBxD: jnp.ndarray, mask_BxH, hoist: bool, unroll: int = 1) -> jnp.ndarray:
  """One LSTM layer over the leading (scan) axis, `unroll` steps per loop iteration; `hoist` computes the input's
  share of the gates for the whole sequence in one matmul before the scan; `mask_BxH` (or None) is its dropout."""
  if isinstance(layer['w_in'], LowPrecision) and not hoist:
    h_SxBxH = bf16_layer(layer['w_in'].value, layer['w_rec'].value, layer['b'], x_SxBxD, unroll)
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
