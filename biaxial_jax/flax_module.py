"""The biaxial network as a Flax NNX module, for researchers who compose models in Flax.

`BiaxialLSTM` holds the parameter tree of `model.init_params` as `nnx.Param`s under the same names (`time`, `note`:
lists of LSTM layers `{'w_in', 'w_rec', 'b'}`; `out`: `{'w', 'b'}`; `velocity` and `voice` where the model has
them) and calls the package's pure functions, so it
computes exactly what `model.apply` computes; parameters move both ways without renaming (`from_params`,
`to_params`, `from_checkpoint`). Flax is used here only: the package itself stays pure functions over a pytree.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
from flax import nnx

from biaxial_jax import model
from biaxial_jax.config import ModelConfig


def _layer(layer: dict) -> nnx.Dict:
  return nnx.Dict({name: nnx.Param(value) for name, value in layer.items()})


class BiaxialLSTM(nnx.Module):
  """The biaxial LSTM (time axis, then note axis, then two logits per note) with `config`'s sizes.

  `rngs.params` initialises it as `model.init_params` would with that key. Calls take a dropout key, or an
  `nnx.Rngs` with a `dropout` stream (each call draws the next key from it); neither turns dropout off.
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs | None = None, params: model.Params | None = None):
    if (rngs is None) == (params is None):
      raise ValueError('give rngs (fresh parameters) or params (existing ones), not both')
    config.validate()  # a ConfigError naming the field (time_sizes=(0,) divided by zero in the initializer)
    self.config = config
    tree = params if params is not None else model.init_params(rngs.params(), config)
    expected = jax.tree.map(jnp.shape, jax.eval_shape(functools.partial(model.init_params, config=config),
                                                      jax.random.key(0)))
    if jax.tree.map(jnp.shape, tree) != expected:
      raise ValueError(f'params do not fit {config}: expected shapes {expected}')
    self.time = nnx.List([_layer(layer) for layer in tree['time']])
    self.note = nnx.List([_layer(layer) for layer in tree['note']])
    self.out = _layer(tree['out'])
    self.velocity = _layer(tree['velocity']) if 'velocity' in tree else None  # a model with dynamics
    self.voice = _layer(tree['voice']) if 'voice' in tree else None  # a model with voices

  @classmethod
  def from_params(cls, config: ModelConfig, params: model.Params) -> BiaxialLSTM:
    """A module holding `params` (a tree from `model.init_params`, a checkpoint or an export)."""
    return cls(config, params=params)

  @classmethod
  def from_checkpoint(cls, path: str | os.PathLike, best: bool = False) -> BiaxialLSTM:
    """The network of a training workdir, an exported model or a shipped model's name ('bach'), as a module (the
    representation it was trained with is `generation.load_checkpoint(path).config.data`)."""
    from biaxial_jax.generation import load_checkpoint  # pylint: disable=import-outside-toplevel
    composer = load_checkpoint(path, best)
    return cls.from_params(composer.config.model, composer.params)

  def to_params(self) -> model.Params:
    """The parameter tree, as `model.apply`, the sampler and checkpoints take it."""
    def plain(layer):
      return {name: param.get_value() for name, param in layer.items()}
    params = {'time': [plain(layer) for layer in self.time], 'note': [plain(layer) for layer in self.note],
              'out': plain(self.out)}
    if self.velocity is not None:
      params['velocity'] = plain(self.velocity)
    if self.voice is not None:
      params['voice'] = plain(self.voice)
    return params

  def _dropout_key(self, dropout_key: jax.Array | None, rngs: nnx.Rngs | None) -> jax.Array | None:
    if dropout_key is not None and rngs is not None:
      raise ValueError('give dropout_key or rngs, not both')
    return rngs.dropout() if rngs is not None else dropout_key

  def __call__(self, x_BxTxNxF: jax.Array, notes_BxTxNx2: jax.Array, *, style_BxY: jax.Array | None = None,
               voices_BxTxN: jax.Array | None = None, dropout_key: jax.Array | None = None,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    """Logits `[B, T, N, 2]` from features and notes: `model.apply` (see it for the arguments)."""
    return model.apply(self.to_params(), x_BxTxNxF, notes_BxTxNx2, self.config, style_BxY=style_BxY,
                       voices_BxTxN=voices_BxTxN, dropout_key=self._dropout_key(dropout_key, rngs))

  def logits(self, notes_BxTxNx2: jax.Array, bar_position_BxT: jax.Array, *, lowest: int,
             context_BxTxC: jax.Array | None = None, style_BxY: jax.Array | None = None,
             velocity_BxTxN: jax.Array | None = None, voices_BxTxN: jax.Array | None = None,
             dropout_key: jax.Array | None = None, rngs: nnx.Rngs | None = None) -> jax.Array:
    """Logits of whole sequences, each step predicted from the steps before it: `model.teacher_forced_logits`
    (features built from the notes, the bar positions and, with phrase and key inputs, the context; with styles,
    the style weights; with dynamics, the velocities; with voices, the voices)."""
    return model.teacher_forced_logits(self.to_params(), notes_BxTxNx2, bar_position_BxT, self.config,
                                       lowest=lowest, context_BxTxC=context_BxTxC, style_BxY=style_BxY,
                                       velocity_BxTxN=velocity_BxTxN, voices_BxTxN=voices_BxTxN,
                                       dropout_key=self._dropout_key(dropout_key, rngs))
