"""The biaxial network: sizes, causality along both axes, jit, hoisting, dropout, and that it can learn."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from biaxial_jax import cudnn_lstm, features, lstm, model, train
from biaxial_jax.config import Config, ConfigError, DataConfig, ModelConfig
from biaxial_jax.loss import loss_fn

SMALL = ModelConfig(time_sizes=(16, 12), note_sizes=(10, 6), dropout=0.0)
CONFIG = Config(data=DataConfig(num_notes=30, lowest=48), model=SMALL)


def logits_of(params, notes, bar, config: Config):
  return model.teacher_forced_logits(params, notes, bar, config.model, lowest=config.data.lowest)


def random_notes(key, b=2, t=12, n=30):
  play = jax.random.bernoulli(key, 0.2, (b, t, n))
  art = play & jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (b, t, n))
  return jnp.stack([play, art], -1).astype(jnp.uint8)


@pytest.fixture(scope='module')
def params():
  return model.init_params(jax.random.key(0), SMALL)


def test_default_size_matches_the_original():
  assert model.count_params(model.init_params(jax.random.key(0), ModelConfig())) == 1_369_902


def test_shapes(params):
  notes = random_notes(jax.random.key(1))
  x = features.sequence_features(notes, jnp.zeros((2, 12), jnp.int32), lowest=48)
  assert model.apply(params, x, notes, SMALL).shape == (2, 12, 30, 2)


def test_output_at_step_t_ignores_later_steps(params):
  notes = random_notes(jax.random.key(2))
  bar = jnp.tile(jnp.arange(12) % 16, (2, 1))
  flipped = jnp.stack([1 - notes[:, 7:, :, 0], jnp.zeros_like(notes[:, 7:, :, 1])], -1)
  changed = notes.at[:, 7:].set(flipped)
  a = logits_of(params, notes, bar, CONFIG)
  b = logits_of(params, changed, bar.at[:, 7:].set(3), CONFIG)
  np.testing.assert_array_equal(a[:, :7], b[:, :7])
  assert not np.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize('chord_inputs', [False, True])
def test_output_for_note_n_ignores_higher_notes_at_the_same_step(chord_inputs):
  config = dataclasses.replace(SMALL, chord_inputs=chord_inputs)
  params = model.init_params(jax.random.key(0), config)
  notes = random_notes(jax.random.key(3))
  x = features.sequence_features(notes, jnp.zeros((2, 12), jnp.int32), lowest=48)
  changed = notes.at[:, :, 20:].set(jnp.uint8(1))  # x stays: only the note axis sees the change
  a, b = model.apply(params, x, notes, config), model.apply(params, x, changed, config)
  np.testing.assert_array_equal(a[:, :, :21], b[:, :, :21])  # note 20 sees only notes below it
  assert not np.allclose(a[:, :, 21:], b[:, :, 21:])


def test_chord_inputs_reach_the_note_axis_from_every_note_below():
  """With `chord_inputs`, note n's output changes when a note an octave and more below it changes, even where the
  note axis's recurrence is cut (a note axis without memory: forget gates shut, so only its inputs carry it)."""
  config = dataclasses.replace(SMALL, chord_inputs=True)
  params = model.init_params(jax.random.key(0), config)
  for layer in params['note']:
    layer['w_rec'] = jnp.zeros_like(layer['w_rec'])
  notes = jnp.zeros((1, 3, 30, 2), jnp.uint8)
  x = features.sequence_features(notes, jnp.zeros((1, 3), jnp.int32), lowest=48)
  changed = notes.at[:, :, 5].set(jnp.uint8(1))
  a, b = model.apply(params, x, notes, config), model.apply(params, x, changed, config)
  assert np.abs(np.asarray(a[:, :, 25] - b[:, :, 25])).max() > 1e-4  # 20 semitones above the change


def test_jit_hoisting_unrolling_and_eager_agree(params):
  notes = random_notes(jax.random.key(4))
  x = features.sequence_features(notes, jnp.zeros((2, 12), jnp.int32), lowest=48)
  # Full float32 matmuls: a GPU's default rounds their inputs to TF32 (about 1e-3), differently in each path.
  with jax.default_matmul_precision('highest'):
    eager = model.apply(params, x, notes, SMALL)
    jitted = jax.jit(model.apply, static_argnums=3)(params, x, notes, SMALL)
    hoisted = model.apply(params, x, notes, dataclasses.replace(SMALL, hoist_input_projection=True))
    unrolled = jax.jit(model.apply, static_argnums=3)(params, x, notes, dataclasses.replace(SMALL, scan_unroll=4))
  np.testing.assert_allclose(eager, jitted, atol=1e-5)
  np.testing.assert_allclose(eager, hoisted, atol=1e-5)
  np.testing.assert_allclose(eager, unrolled, atol=1e-5)


def test_the_prefetched_scan_is_a_scan():
  """`lstm.prefetched_scan` carries each step's slice from the step before: the same carry and outputs, in order."""
  def f(carry, x):
    a_3, b = x
    return carry * 0.5 + a_3.sum() + b, (carry, a_3 * b)
  xs = (jnp.arange(15.0).reshape(5, 3), jnp.array([1.0, -2.0, 3.0, 0.5, 7.0]))
  expected = jax.lax.scan(f, jnp.float32(1), xs)
  got = jax.jit(lambda xs: lstm.prefetched_scan(f, jnp.float32(1), xs))(xs)
  jax.tree.map(np.testing.assert_array_equal, got, expected)


def test_the_cell_gradient_is_the_lstm_equations_gradient():
  """`lstm_cell` has a hand-written gradient; it must equal autodiff's of the textbook equations."""
  def textbook(layer, state, gates_in):
    c, h = state
    i, f, g, o = jnp.split(gates_in + h @ layer['w_rec'], 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return c, jax.nn.sigmoid(o) * jnp.tanh(c)

  keys = jax.random.split(jax.random.key(9), 5)
  layer = {'w_rec': jax.random.normal(keys[0], (6, 24)) * 0.5}
  state = (jax.random.normal(keys[1], (3, 6)), jax.random.normal(keys[2], (3, 6)))
  gates = jax.random.normal(keys[3], (3, 24)) * 2
  weights = jax.random.normal(keys[4], (2, 3, 6))

  def scalar(cell):
    def f(layer, state, gates):
      c, h = cell(layer, state, gates)
      return jnp.sum(weights[0] * c) + jnp.sum(weights[1] * jnp.sin(h))
    return jax.grad(f, argnums=(0, 1, 2))(layer, state, gates)

  ours = scalar(lambda l, s, g: lstm.lstm_cell(l, s, g)[0])
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(scalar(textbook))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('unroll', [1, 5])
def test_the_bfloat16_layer_gradient_is_autodiffs(params, unroll):
  """Under the bfloat16 policy each layer has a hand-written gradient (`lstm.bf16_layer`); the hoisted layout
  runs the same function through autodiff, so the two must agree to bfloat16 rounding."""
  notes = random_notes(jax.random.key(7), t=13)
  bar = jnp.tile(jnp.arange(13) % 16, (2, 1))
  low = dataclasses.replace(SMALL, matmul_dtype='bfloat16', dropout=0.5, scan_unroll=unroll)

  def grads(model_config):
    def objective(p):
      logits = model.teacher_forced_logits(p, notes, bar, model_config, lowest=48, dropout_key=jax.random.key(3))
      return loss_fn(logits, notes, jnp.ones((2, 13)))[0]
    return jax.grad(objective)(params)
  ours, autodiff = grads(low), grads(dataclasses.replace(low, hoist_input_projection=True))
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(autodiff)):
    np.testing.assert_allclose(a, b, atol=0.01 * float(jnp.abs(b).max()) + 1e-7)


def test_bfloat16_matmuls_compute_the_same_function_and_float32_gradients(params):
  notes = random_notes(jax.random.key(6))
  bar = jnp.tile(jnp.arange(12) % 16, (2, 1))
  low = dataclasses.replace(CONFIG, model=dataclasses.replace(SMALL, matmul_dtype='bfloat16'))
  a, b = logits_of(params, notes, bar, CONFIG), logits_of(params, notes, bar, low)
  assert not np.array_equal(a, b)  # bfloat16 was used
  np.testing.assert_allclose(a, b, atol=0.02 * float(jnp.abs(a).max()))

  def grads(config):
    return jax.grad(lambda p: loss_fn(logits_of(p, notes, bar, config), notes, jnp.ones((2, 12)))[0])(params)
  exact, mixed = grads(CONFIG), grads(low)
  for e, m in zip(jax.tree.leaves(exact), jax.tree.leaves(mixed)):
    assert m.dtype == jnp.float32  # the master weights see float32 gradients
    np.testing.assert_allclose(e, m, atol=0.03 * float(jnp.abs(e).max()) + 1e-6)


def reference_layer_outputs(layer, x_BxSxD):
  """`cudnn_lstm.layer_outputs` through jax's reference of cuDNN's LSTM (what jax's GPU tests hold cuDNN to), on
  the weights as packed for cuDNN and unpacked by jax's own reader."""
  from jax.experimental import rnn  # pylint: disable=import-outside-toplevel
  batch, steps, in_size = x_BxSxD.shape
  hidden = layer['w_rec'].shape[0]
  w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(cudnn_lstm.packed_weights(layer), in_size, hidden, 1, False)
  zeros = jnp.zeros((1, batch, hidden))
  return rnn.lstm_ref(x_BxSxD, zeros, zeros, w_ih, w_hh, b_ih, b_hh, jnp.full((batch,), steps, jnp.int32),
                      in_size, hidden, 1, 0.0, False)[0]


def test_cudnn_weights_are_the_layers_own(params):
  layer = params['time'][1]
  x_BxSxD = jax.random.normal(jax.random.key(2), (5, 9, layer['w_in'].shape[0]))
  scanned = lstm.layer_scan(layer, jnp.swapaxes(x_BxSxD, 0, 1), None, hoist=False)
  np.testing.assert_allclose(reference_layer_outputs(layer, x_BxSxD), jnp.swapaxes(scanned, 0, 1), atol=1e-5)


def test_cudnn_needs_float32_matmuls_and_a_gpu(tmp_path):
  with pytest.raises(ConfigError, match='model.time_axis_cudnn'):
    dataclasses.replace(SMALL, time_axis_cudnn=True, matmul_dtype='bfloat16').validate()
  if not cudnn_lstm.available():
    config = dataclasses.replace(CONFIG, model=dataclasses.replace(SMALL, time_axis_cudnn=True))
    with pytest.raises(ConfigError, match='model.time_axis_cudnn: needs a GPU'):
      train.check_runnable(config, str(tmp_path))


def test_the_cudnn_time_axis_is_the_same_function(params, monkeypatch):
  """Logits and gradients, dropout on. Without a GPU, jax's reference stands in for the cuDNN call, so that the
  layouts around it (batch first, the dropout masks) are still checked."""
  if not cudnn_lstm.available():
    monkeypatch.setattr(cudnn_lstm, 'available', lambda: True)
    monkeypatch.setattr(cudnn_lstm, 'layer_outputs', reference_layer_outputs)
  notes = random_notes(jax.random.key(8))
  bar = jnp.tile(jnp.arange(12) % 16, (2, 1))
  cudnn = dataclasses.replace(SMALL, time_axis_cudnn=True, dropout=0.5)

  def value_and_grads(model_config):
    def objective(p):
      logits = model.teacher_forced_logits(p, notes, bar, model_config, lowest=48, dropout_key=jax.random.key(4))
      return loss_fn(logits, notes, jnp.ones((2, 12)))[0]
    return jax.jit(jax.value_and_grad(objective))(params)
  (ours, ours_grads), (scan, scan_grads) = value_and_grads(cudnn), value_and_grads(dataclasses.replace(
      cudnn, time_axis_cudnn=False))
  np.testing.assert_allclose(ours, scan, rtol=2e-3)  # cuDNN may use TF32 matmuls
  for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(scan_grads)):
    np.testing.assert_allclose(a, b, atol=0.01 * float(jnp.abs(b).max()) + 1e-6)


def test_dropout_only_with_a_key(params):
  cfg = dataclasses.replace(SMALL, dropout=0.5)
  notes = random_notes(jax.random.key(5))
  x = features.sequence_features(notes, jnp.zeros((2, 12), jnp.int32), lowest=48)
  plain = model.apply(params, x, notes, cfg)
  np.testing.assert_array_equal(plain, model.apply(params, x, notes, SMALL))
  a = model.apply(params, x, notes, cfg, dropout_key=jax.random.key(0))
  b = model.apply(params, x, notes, cfg, dropout_key=jax.random.key(0))
  c = model.apply(params, x, notes, cfg, dropout_key=jax.random.key(1))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, plain) and not np.allclose(a, c)


def test_a_tiny_model_overfits_a_tiny_piece():
  config = Config(data=DataConfig(num_notes=24, lowest=60), model=ModelConfig(time_sizes=(24,), note_sizes=(16,),
                                                                                dropout=0.0))
  params = model.init_params(jax.random.key(0), config.model)
  # an arpeggio with a repeated note: the model must learn play and articulation
  notes = np.zeros((1, 16, 24, 2), np.uint8)
  for t in range(16):
    n = [0, 4, 7, 12][t // 2 % 4]
    notes[0, t, n] = (1, t % 2 == 0)
  bar = np.arange(16)[None] % 16
  mask = np.ones((1, 16), np.float32)
  opt = optax.adam(3e-2)
  state = opt.init(params)

  @jax.jit
  def step(params, state):
    value, grads = jax.value_and_grad(lambda p: loss_fn(logits_of(p, notes, bar, config), notes, mask)[0])(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state, value

  first = None
  for _ in range(300):
    params, state, value = step(params, state)
    first = value if first is None else first
  assert float(value) < float(first) / 20
