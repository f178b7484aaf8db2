"""The compiled SMC sampler: one particle is the plain masked sampler, many converge to the exact conditional."""

import collections
import dataclasses
import itertools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import evaluation, model
from biaxial_jax.config import Config, DataConfig, ModelConfig
from biaxial_jax.generation import plans, sampler, smc
from biaxial_jax.generation.request import Controls, Request

CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(16, 12), note_sizes=(10, 6)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def params():
  p = model.init_params(jax.random.key(0), CONFIG.model)
  p['out']['b'] = jnp.array([-1.0, 0.0])  # a bias toward playing so that samples are not silent
  return p


def plan(s, t, n, mask=None, values=None):
  return plans.free_plan(s, t, n, mask_SxTxNx2=mask, values_SxTxNx2=values)


def controls(temperature=1.0, conservativity=1.0, adaptive=0.0):
  return sampler.Controls(jnp.float32(temperature), jnp.float32(conservativity), jnp.float32(adaptive))


def run(params, key, p, c=None, **search):
  return sampler.sample(params, jax.random.key(key), p, c or controls(), config=CONFIG.model, lowest=36,
                        search=sampler.Search(**search))


def test_one_particle_draws_every_free_cell_as_the_plain_sampler_does(params):
  """K = 1 is the plain masked sampler: each free cell is `uniform < p` with the step's own uniforms, p from the
  model's logits given everything drawn before (teacher forcing the output recomputes them)."""
  t, temperature, conservativity = 24, 0.8, 1.3
  result = run(params, 3, plan(2, t, 40), controls(temperature, conservativity))
  rolls = np.asarray(result.rolls)
  logits = model.teacher_forced_logits(params, rolls, jnp.tile(jnp.arange(t) % 16, (2, 1)), CONFIG.model, lowest=36)
  p = np.asarray(jax.nn.sigmoid(logits / temperature))
  uniform = np.stack([np.asarray(jax.random.uniform(k, (2, 40, 2))) for k in jax.random.split(jax.random.key(3), t)],
                     axis=1)
  p_play = p[..., 0] ** conservativity
  clear = np.abs(uniform[..., 0] - p_play) > 1e-4  # cells too close to call in float32 are left out
  np.testing.assert_array_equal((rolls[..., 0] > 0)[clear], (uniform[..., 0] < p_play)[clear])
  prev_play = np.pad(rolls[:, :-1, :, 0], ((0, 0), (1, 0), (0, 0))) > 0
  drawn = (rolls[..., 0] > 0) & prev_play & (np.abs(uniform[..., 1] - p[..., 1]) > 1e-4)
  np.testing.assert_array_equal((rolls[..., 1] > 0)[drawn], (uniform[..., 1] < p[..., 1])[drawn])
  assert drawn.sum() > 10 and rolls[..., 0].sum() > 50
  np.testing.assert_allclose(result.ess_SxT, 1.0)


@pytest.mark.parametrize('chord_inputs', [False, True])
def test_log_likelihood_is_the_models_own(chord_inputs):
  """The sampler and teacher forcing compute the same model (with `chord_inputs`, the note scan's chord carry and
  the teacher-forced chord features agree)."""
  config = dataclasses.replace(CONFIG, model=dataclasses.replace(CONFIG.model, chord_inputs=chord_inputs))
  params = model.init_params(jax.random.key(0), config.model)
  params['out']['b'] = jnp.array([-1.0, 0.0])
  result = sampler.sample(params, jax.random.key(5), plan(3, 32, 40), controls(), config=config.model, lowest=36,
                          search=sampler.Search(particles=4))
  pieces = [bj.Piece(r, lowest=36) for r in np.asarray(result.rolls)]
  composer = bj.Composer(config, params, 0)
  nll = [n.sum() for n in evaluation.step_nll(composer, pieces)]
  np.testing.assert_allclose(-np.asarray(result.log_likelihood), nll, rtol=1e-5)


def exact_conditional(params, config, t, melody_note, lowest):
  """Every valid roll of `t` steps over 3 notes, and the sampling process's probability of each given that
  `melody_note` sounds throughout (struck once) and nothing sounds above it: by enumeration."""
  rolls = []
  for states in itertools.product(range(3), repeat=3 * t):  # 0 silent, 1 struck, 2 held
    roll = np.zeros((t, 3, 2), np.uint8)
    for i, state in enumerate(states):
      step, note = divmod(i, 3)
      if state == 2 and (step == 0 or not roll[step - 1, note, 0]):
        break
      roll[step, note] = (state > 0, state == 1)
    else:
      rolls.append(roll)
  rolls = np.stack(rolls)
  logits = model.teacher_forced_logits(params, rolls, jnp.zeros(rolls.shape[:2], jnp.int32), config, lowest=lowest)
  play, art = rolls[..., 0] > 0, rolls[..., 1] > 0
  prev = np.pad(rolls[:, :-1, :, 0], ((0, 0), (1, 0), (0, 0))) > 0
  log_q = (np.where(play, jax.nn.log_sigmoid(logits[..., 0]), jax.nn.log_sigmoid(-logits[..., 0])).sum((1, 2))
           + np.where(play & prev, np.where(art, jax.nn.log_sigmoid(logits[..., 1]),
                                            jax.nn.log_sigmoid(-logits[..., 1])), 0).sum((1, 2)))
  held = (rolls[:, :, melody_note, 0].all(axis=1) & (rolls[:, 1:, melody_note, 1] == 0).all(axis=1)
          & (rolls[:, :, melody_note + 1:, 0] == 0).all(axis=(1, 2)))
  weights = np.where(held, np.exp(log_q - log_q.max()), 0)
  return {r.tobytes(): w for r, w in zip(rolls, weights / weights.sum()) if w > 0}


def test_particles_converge_to_the_exact_conditional_and_one_particle_does_not():
  """Three notes, three steps, the middle note given as a melody: the distribution of 4,000 outputs against the
  exact conditional by enumeration. The plain sampler draws the note below without knowing the melody and is off
  by a total-variation distance of about 0.15; sixteen particles come within sampling noise (about 0.03), and so do
  two particles drawing the melody's onset sixteen times each."""
  config = Config(data=DataConfig(lowest=60, num_notes=3), model=ModelConfig(time_sizes=(8,), note_sizes=(6,)))
  params = model.init_params(jax.random.key(1), config.model)
  params['out']['w'] = params['out']['w'] * 10  # a confident model: what the note below does matters
  exact = exact_conditional(params, config.model, 3, 1, 60)
  melody = np.zeros((3, 3, 2), np.uint8)
  melody[:, 1, 0] = 1
  melody[0, 1, 1] = 1
  composer = bj.Composer(config, params, 0)
  distances = {}
  for k, proposals in ((1, 1), (16, 1), (2, 16), (2, 1)):
    pieces = composer.generate(Request(melody=bj.Piece(melody, lowest=60)),
                               Controls(num_samples=4000, seed=0, particles=k, proposals=proposals)).pieces
    counts = collections.Counter(p.roll.tobytes() for p in pieces)
    distances[k, proposals] = 0.5 * sum(abs(counts[r] / 4000 - exact.get(r, 0)) for r in set(counts) | set(exact))
  assert distances[16, 1] < 0.06 and distances[1, 1] > 0.1, distances
  # proposals where the melody is struck (`Search.proposals`) leave the target exact and bring two particles close
  assert distances[2, 16] < 0.06 and distances[2, 16] < distances[2, 1], distances


def test_resampled_particles_still_obey_every_constraint(params):
  rng = np.random.default_rng(0)
  target = bj.canonical_roll(rng.random((24, 40, 2)) < 0.3).astype(bool)
  mask = np.zeros((2, 24, 40, 2), bool)
  columns = rng.choice(40, size=12, replace=False)
  mask[:, :, columns] = True
  values = np.broadcast_to(target, mask.shape) & mask
  result = run(params, 0, plan(2, 24, 40, mask=mask, values=values), particles=8)
  assert float(result.ess_SxT.min()) < 8  # the weights did something
  np.testing.assert_array_equal(np.asarray(result.rolls)[:, :, columns],
                                np.broadcast_to(target[:, columns], (2, 24, 12, 2)))
  for roll in np.asarray(result.rolls):
    bj.Piece(roll)  # valid: articulated at every onset, never articulated without playing


def test_best_and_beam_return_the_most_likely_particle(params):
  free = run(params, 2, plan(4, 32, 40), particles=1)
  best = run(params, 2, plan(4, 32, 40), particles=16, mode='best')
  beam = run(params, 2, plan(4, 32, 40), particles=16, mode='beam')
  assert np.mean(best.log_likelihood) > np.mean(free.log_likelihood)
  assert np.mean(beam.log_likelihood) > np.mean(free.log_likelihood)


def test_systematic_resampling_copies_each_particle_in_proportion():
  log_w = jnp.log(jnp.array([[0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0]]))
  ancestors = np.asarray(smc.systematic_ancestors(jax.random.key(0), log_w))
  assert sorted(collections.Counter(ancestors[0]).values()) == [1, 1, 2] and 3 not in ancestors[0]
  assert ancestors[1].tolist() == [2, 2, 2, 2]
  np.testing.assert_allclose(smc.effective_sample_size(log_w), [8 / 3, 1], rtol=1e-5)
  assert smc.to_rows(jnp.array([[1, 0], [1, 1]])).tolist() == [1, 0, 3, 3]


def test_log1mexp_is_accurate_at_both_ends():
  x = jnp.array([-1e-8, -0.1, -0.7, -5.0, -50.0])
  np.testing.assert_allclose(smc.log1mexp(x), np.log(-np.expm1(np.array(x, np.float64))), rtol=1e-5, atol=1e-12)


# A melody on note 30 of 40, silence above it, 16 particles with 2 proposals; prints what it drew.
_SPLIT_PROGRAM = """
import hashlib, jax, jax.numpy as jnp, numpy as np
from biaxial_jax import model
from biaxial_jax.generation import plans, sampler, windows
from tests.test_sampler import CONFIG
params = model.init_params(jax.random.key(0), CONFIG.model)
params['out']['b'] = jnp.array([-1.0, 0.0])
mask = np.zeros((1, 32, 40, 2), bool)
mask[:, :, 30:] = True
values = np.zeros_like(mask)
values[:, :, 30, 0] = True
values[:, ::8, 30, 1] = True
result = windows.sample(params, jax.random.key(7), plans.free_plan(1, 32, 40, mask_SxTxNx2=mask, values_SxTxNx2=values),
                        sampler.Controls(jnp.float32(1), jnp.float32(1), jnp.float32(0)), config=CONFIG.model,
                        lowest=36, search=sampler.Search(particles=16, proposals=2))
print(len(jax.devices()), sampler.row_mesh(16) is not None, hashlib.sha256(np.asarray(result.rolls).tobytes()).hexdigest(),
      float(result.log_weight[0]))
"""


def _drawn_on(devices: int) -> list[str]:
  env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  done = subprocess.run([sys.executable, '-c', _SPLIT_PROGRAM], capture_output=True, text=True, env=env, timeout=300,
                        cwd=ROOT)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout.split()


def test_particles_split_over_cpu_devices_draw_the_same_music():
  """With several CPU devices (`cli.sample_on_every_core`) each takes its share of the particles' note scans: the
  same rolls and weights as one device draws."""
  one, two = _drawn_on(1), _drawn_on(2)
  assert one[:2] == ['1', 'False'] and two[:2] == ['2', 'True']
  assert two[2] == one[2] and float(two[3]) == pytest.approx(float(one[3]), abs=1e-5)
