"""Plans padded to shared shapes, and windows: only the steps around the free cells drawn, after replaying the given
music before them."""

import jax
import jax.numpy as jnp
import numpy as np

import biaxial_jax as bj
from biaxial_jax import features, model
from biaxial_jax.config import Config, DataConfig, ModelConfig
from biaxial_jax.generation import Controls, Request, plans, sampler, windows
from biaxial_jax.generation import voice_leading
from biaxial_jax.generation.composer import FIXED_LOOKAHEAD_STEPS

CONFIG = Config(data=DataConfig(lowest=40, num_notes=24), model=ModelConfig(time_sizes=(12, 10), note_sizes=(8,)))


def _composer(config=CONFIG) -> bj.Composer:
  return bj.Composer(config, model.init_params(jax.random.key(0), config.model), step=0)


def test_lengths_within_a_bucket_share_one_compilation():
  composer = _composer()
  lengths = (windows.BUCKET + 8, windows.BUCKET + 20)
  pieces = [composer.generate(Request(num_steps=lengths[0]), Controls(seed=1)).pieces[0]]
  compiled = sampler.sample._cache_size()  # pylint: disable=protected-access
  pieces.append(composer.generate(Request(num_steps=lengths[1]), Controls(seed=1)).pieces[0])
  assert sampler.sample._cache_size() == compiled  # pylint: disable=protected-access
  assert [p.num_steps for p in pieces] == list(lengths)


def test_a_window_draws_only_the_free_steps_and_keeps_every_particle_alive_outside_it():
  composer = _composer()
  num_steps, first, last = 96, 32, 48
  given = composer.generate(Request(num_steps=num_steps), Controls(seed=2)).pieces[0].roll.astype(bool)
  mask = np.ones_like(given)
  mask[first:last] = False
  generation = composer.generate(Request(num_steps=num_steps, fixed=(mask, given & mask)),
                                 Controls(seed=3, particles=8))
  roll = generation.pieces[0].roll.astype(bool)
  kept = mask[:, 0, 0]
  np.testing.assert_array_equal(roll[kept, :, 0], given[kept, :, 0])
  kept[last] = False  # a note held into the given music is struck again where its start was drawn anew
  np.testing.assert_array_equal(roll[kept], given[kept])
  end = last + FIXED_LOOKAHEAD_STEPS  # the given steps that weigh how the window leads into them
  outside = np.r_[0:first, end:num_steps]
  assert (generation.ess[0, outside] == 8).all()
  assert (generation.ess[0, first:end] < 8).any()  # the particles were weighed there
  assert np.isfinite(generation.log_likelihood).all() and (generation.log_likelihood < 0).all()


def test_replay_reaches_the_state_teacher_forcing_reaches():
  config = Config(data=DataConfig(lowest=40, num_notes=24),
                  model=ModelConfig(time_sizes=(12, 10), note_sizes=(8,), voices=True, structure=True,
                                    matmul_dtype='float32'))
  params = model.init_params(jax.random.key(1), config.model)
  t, n, until = 20, 24, 13
  rng = np.random.default_rng(0)
  play = rng.random((1, t, n)) < 0.15
  notes = np.stack([play, play & (rng.random((1, t, n)) < 0.5)], axis=-1)
  voices = np.where(play, 1 << rng.integers(0, 4, (1, t, n)), 0).astype(np.uint8)
  plan = plans.free_plan(1, t, n, mask_SxTxNx2=np.ones_like(notes), values_SxTxNx2=notes)._replace(
      voices_SxTxN=voices, context_SxTxC=np.full((1, t, 3), -1, np.int32))
  controls = sampler.Controls(jnp.float32(1), jnp.float32(1), jnp.float32(0), sampler.NO_LIMIT,
                              voice_leading.VoiceLeading())
  start = windows.replay(params, plan, jnp.int32(until), controls, config=config.model, lowest=40)
  x = features.sequence_features(jnp.asarray(notes), jnp.asarray(plan.bar_position_T)[None], lowest=40,
                                 context_BxTxC=jnp.asarray(plan.context_SxTxC), voices_BxTxN=jnp.asarray(voices))
  h_BxTxNxH = model.time_axis(params, x, jnp.zeros((1, 0)), config.model, [None, None])
  np.testing.assert_allclose(np.asarray(start.time_states[-1][1]).reshape(n, -1), h_BxTxNxH[0, until - 1],
                             atol=1e-5)
  np.testing.assert_array_equal(start.notes_SxNx2, notes[:, until - 1])
  np.testing.assert_array_equal(start.voices_SxN, voices[:, until - 1])
