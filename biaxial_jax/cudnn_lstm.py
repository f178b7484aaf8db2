"""The time axis's LSTM layers through cuDNN (`jax.experimental.rnn`): the GPU formulation of `model.time_axis`'s
scans (`model.time_axis_cudnn`). One call per layer, so that each layer's dropout mask applies between them as in
the scans; the same function as `lstm.lstm_cell`'s, gates in the same order (i, f, g, o)."""

import jax
import jax.numpy as jnp
from jax.experimental import rnn

from biaxial_jax.platforms import accelerator_plugin_installed


def available() -> bool:
  """Whether jax runs on a GPU here (cuDNN's LSTM has no lowering elsewhere). Without a GPU plugin of jax the answer
  is no before jax looks for devices, so a refusal stays one line (no backend start-up logging)."""
  return accelerator_plugin_installed() and jax.default_backend() == 'gpu'


def packed_weights(layer: dict) -> jnp.ndarray:
  """A layer's weights in cuDNN's flat layout (PyTorch's: `W_ih [4H, D]`, `W_hh [4H, H]`, `b_ih`, `b_hh`; the
  layout is `rnn.unpack_lstm_weights`'s): this model has one bias, so `b_hh` is zero."""
  return jnp.concatenate([layer['w_in'].T.ravel(), layer['w_rec'].T.ravel(), layer['b'], jnp.zeros_like(layer['b'])])


def layer_outputs(layer: dict, x_BxSxD: jnp.ndarray) -> jnp.ndarray:
  """The layer's outputs `[B, S, H]` over the second axis, from a zero state (batch first, as cuDNN's API)."""
  batch, steps, in_size = x_BxSxD.shape
  hidden = layer['w_rec'].shape[0]
  zeros_1xBxH = jnp.zeros((1, batch, hidden), jnp.float32)
  h_BxSxH, _, _ = rnn.lstm(x_BxSxD, zeros_1xBxH, zeros_1xBxH, packed_weights(layer),
                           jnp.full((batch,), steps, jnp.int32), input_size=in_size, hidden_size=hidden,
                           num_layers=1, dropout=0.0, bidirectional=False)
  return h_BxSxH
