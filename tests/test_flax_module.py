"""The Flax NNX module: the same parameter tree and the same function as the pure network, bit for bit, and usable
in a Flax training loop (the README's example runs as printed)."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import biaxial_jax as bj
from biaxial_jax import features, loss, model
from biaxial_jax.config import ModelConfig
from biaxial_jax.flax_module import BiaxialLSTM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = ModelConfig(time_sizes=(8, 6), note_sizes=(6, 4), dropout=0.5)


def batch(seed=0, b=2, t=16, n=12):
  rng = np.random.default_rng(seed)
  notes = bj.canonical_roll((rng.random((b * t, n, 2)) < 0.3).astype(np.uint8)).reshape(b, t, n, 2)
  bar_position = np.tile(np.arange(t) % 16, (b, 1)).astype(np.int32)
  return jnp.asarray(notes), jnp.asarray(bar_position)


def same(a, b):
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b)))


def test_the_module_holds_init_params_tree_and_moves_it_both_ways():
  key = nnx.Rngs(params=3).params()
  module = BiaxialLSTM(CONFIG, rngs=nnx.Rngs(params=3))
  assert same(module.to_params(), model.init_params(key, CONFIG))
  params = model.init_params(jax.random.key(7), CONFIG)
  assert same(BiaxialLSTM.from_params(CONFIG, params).to_params(), params)
  state = nnx.state(module, nnx.Param)
  assert sorted(state['time'][0].keys()) == ['b', 'w_in', 'w_rec'] and sorted(state['out'].keys()) == ['b', 'w']
  with pytest.raises(ValueError, match='params do not fit'):
    BiaxialLSTM.from_params(ModelConfig(time_sizes=(8,), note_sizes=(6, 4)), params)


def test_the_module_computes_what_apply_computes_bit_for_bit_dropout_included():
  notes, bar_position = batch()
  params = model.init_params(jax.random.key(1), CONFIG)
  module = BiaxialLSTM.from_params(CONFIG, params)
  x = features.sequence_features(notes, bar_position, lowest=48)
  assert same(module(x, notes), model.apply(params, x, notes, CONFIG))
  key = jax.random.key(5)
  with_dropout = module(x, notes, dropout_key=key)
  assert same(with_dropout, model.apply(params, x, notes, CONFIG, dropout_key=key))
  assert not same(with_dropout, module(x, notes))
  assert same(module(x, notes, rngs=nnx.Rngs(dropout=2)),
              model.apply(params, x, notes, CONFIG, dropout_key=nnx.Rngs(dropout=2).dropout()))
  assert same(module.logits(notes, bar_position, lowest=48),
              model.teacher_forced_logits(params, notes, bar_position, CONFIG, lowest=48))


def test_a_flax_train_step_takes_the_gradient_of_the_pure_loss():
  notes, bar_position = batch(1)
  mask = jnp.ones(bar_position.shape)
  params = model.init_params(jax.random.key(2), CONFIG)
  module = BiaxialLSTM.from_params(CONFIG, params)
  optimizer = nnx.Optimizer(module, optax.sgd(0.1), wrt=nnx.Param)

  def flax_loss(m):
    return loss.loss_fn(m.logits(notes, bar_position, lowest=48), notes, mask)[0]

  def pure_loss(p):
    return loss.loss_fn(model.teacher_forced_logits(p, notes, bar_position, CONFIG, lowest=48), notes, mask)[0]

  value, grads = nnx.value_and_grad(flax_loss)(module)
  pure_value, pure_grads = jax.value_and_grad(pure_loss)(params)
  assert float(value) == float(pure_value)
  optimizer.update(module, grads)
  stepped = jax.tree.map(lambda p, g: p - 0.1 * g, params, pure_grads)
  assert same(module.to_params(), stepped)
  assert float(flax_loss(module)) < float(value)


def test_a_model_with_voices_moves_its_voice_output_and_reads_voices():
  config = ModelConfig(time_sizes=(8,), note_sizes=(6,), voices=True)
  params = model.init_params(jax.random.key(3), config)
  module = BiaxialLSTM.from_params(config, params)
  assert same(module.to_params(), params) and 'voice' in module.to_params()
  notes, bar_position = batch(2)
  voices = jnp.where(notes[..., 0] > 0, 1 << (jnp.arange(12) % 4), 0).astype(jnp.uint8)
  logits = module.logits(notes, bar_position, lowest=48, voices_BxTxN=voices)
  assert logits.shape[-1] == 2 + 15
  assert same(logits, model.teacher_forced_logits(params, notes, bar_position, config, lowest=48,
                                                  voices_BxTxN=voices))
  assert not same(logits, module.logits(notes, bar_position, lowest=48))  # the voices are read


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, 'biaxial_jax', 'pretrained', 'bach')),
                    reason='the shipped model is not in this checkout')
def test_the_shipped_model_loads_into_the_module():
  module = BiaxialLSTM.from_checkpoint('bach')
  assert same(module.to_params(), bj.load_checkpoint('bach').params) and module.config.structure


def test_the_readme_example_runs_as_printed():
  readme = open(os.path.join(ROOT, 'README.md')).read()
  section = readme[readme.index('## Inside your own Flax model'):]
  code = re.search(r'```python\n(.*?)```', section, re.S).group(1)
  namespace = {}
  exec(compile(code, 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  assert namespace['losses'][-1] < namespace['losses'][0]
