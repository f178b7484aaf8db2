"""Velocities as data: a piece's own, read from MIDI note-ons and from a score's dynamic markings, written back,
cached, and kept through crops."""

import dataclasses
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biaxial_jax import features, loss, model, train
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.errors import ConfigError
from biaxial_jax.generation import load_checkpoint, plans, sampler
from biaxial_jax.music.corpus import load_pieces, save_pieces
from biaxial_jax.music.inputs import crop
from biaxial_jax.music.midi import read_midi, write_midi
from biaxial_jax.music.piece import Grid, Piece, roll_from_notes
from biaxial_jax.music.scores import score_to_piece
from biaxial_jax.generation.request import Controls, Request
from tests.midi_util import STEP, make_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def piece_with_velocity(velocities=(40, 90, 120, 64)):
  """Four quarter notes C4 D4 E4 F4 struck at `velocities`."""
  roll, _ = roll_from_notes([(4 * i, 4 * i + 4, 60 + 2 * i) for i in range(4)], lowest=36, num_notes=48)
  velocity = np.zeros(roll.shape[:2], np.uint8)
  for i, v in enumerate(velocities):
    velocity[4 * i, 24 + 2 * i] = v
  return Piece(roll, lowest=36, velocity=velocity)


def test_velocity_must_strike_exactly_the_articulated_cells():
  p = piece_with_velocity()
  assert p.velocity.dtype == np.uint8 and not p.velocity.flags.writeable
  for bad, message in ((p.velocity[:3], 'must have shape'), (p.velocity.astype(float), 'must hold integers'),
                       (np.where(p.velocity > 0, 0, p.velocity), 'in \\[1, 127\\] where a note is articulated'),
                       (p.velocity + 1, '0 elsewhere'), (np.where(p.velocity > 0, 200, 0), 'in \\[1, 127\\]')):
    with pytest.raises(ValueError, match=message):
      Piece(p.roll, lowest=36, velocity=bad)
  assert p != Piece(p.roll, lowest=36)  # dynamics are part of the music
  assert p.with_roll(p.roll[:8]).velocity is None


def test_midi_velocities_round_trip_and_flat_files_have_none(tmp_path):
  p = piece_with_velocity()
  back = read_midi(write_midi(p, tmp_path / 'dyn.mid'), grid=Grid(36, 48))
  np.testing.assert_array_equal(back.velocity, p.velocity)
  assert back == p
  flat = read_midi(write_midi(p, tmp_path / 'flat.mid', dynamics=False, velocity=70), grid=Grid(36, 48))
  assert flat.velocity is None  # every note struck alike: no dynamics to learn
  plain = write_midi(Piece(p.roll, lowest=36), tmp_path / 'none.mid')
  assert read_midi(plain, grid=Grid(36, 48)).velocity is None


def _score(markings, wedge=None):
  """One part of eight quarter notes C4..C5 with dynamic markings `{note index: 'p'}` and an optional
  `(kind, first note, last note)` hairpin."""
  from music21 import dynamics, note, stream
  part = stream.Part()
  notes = [note.Note(60 + i, quarterLength=1) for i in range(8)]
  for i, n in enumerate(notes):
    if i in markings:
      part.insert(i, dynamics.Dynamic(markings[i]))
    part.insert(i, n)
  if wedge:
    kind, first, last = wedge
    part.insert(0, (dynamics.Crescendo if kind == 'cresc' else dynamics.Diminuendo)(notes[first], notes[last]))
  score = stream.Score([part])
  return score


def _struck(piece):
  return [int(v) for v in piece.velocity[piece.velocity > 0]]


def test_dynamic_markings_become_velocities():
  pytest.importorskip('music21')
  assert score_to_piece(_score({}), 'plain', grid=Grid(36, 48)).velocity is None
  levels = score_to_piece(_score({0: 'p', 2: 'f', 4: 'sf', 5: 'fp', 6: 'pp'}), 'levels', grid=Grid(36, 48))
  assert _struck(levels) == [49, 49, 96, 96, 96 + 24, 96, 33, 33]  # sf accents the level; fp: f, then p...
  # ... but pp follows at once here; before any marking, mf
  assert _struck(score_to_piece(_score({3: 'f'}), 'late', grid=Grid(36, 48)))[:4] == [80, 80, 80, 96]


def test_hairpins_ramp_to_the_next_marking_or_by_one_level():
  pytest.importorskip('music21')
  ramp = _struck(score_to_piece(_score({0: 'p', 5: 'f'}, ('cresc', 1, 4)), 'cresc', grid=Grid(36, 48)))
  assert ramp[0] == 49 and ramp[5:] == [96, 96, 96]
  assert ramp[1] == 49 and ramp[1] < ramp[2] < ramp[3] < ramp[4] < 96  # rising over the hairpin's four notes
  open_ended = _struck(score_to_piece(_score({0: 'f'}, ('dim', 2, 3)), 'dim', grid=Grid(36, 48)))
  assert open_ended[:3] == [96, 96, 96] and open_ended[3] < 96 and open_ended[4:] == [80] * 4  # one level down


def test_a_hairpin_across_parts_leaves_the_levels():
  pytest.importorskip('music21')
  from music21 import dynamics, note, stream
  upper, lower = stream.Part(), stream.Part()
  a, b = note.Note(72, quarterLength=4), note.Note(48, quarterLength=4)
  upper.insert(0, dynamics.Dynamic('p'))
  upper.insert(0, a)
  lower.insert(0, b)
  upper.insert(0, dynamics.Crescendo(a, b))  # a damaged score: its end lies in another part
  piece = score_to_piece(stream.Score([upper, lower]), 'across', grid=Grid(36, 48))
  assert sorted(_struck(piece)) == [49, 80]  # p above, mf (no marking) below


def test_cache_and_crop_keep_velocities(tmp_path):
  p = piece_with_velocity()
  save_pieces(str(tmp_path / 'c.npz'), [('a', p), ('b', Piece(p.roll, lowest=36))])
  (_, a), (_, b) = load_pieces(str(tmp_path / 'c.npz'), Grid(36, 48))
  np.testing.assert_array_equal(a.velocity, p.velocity)
  assert b.velocity is None
  cut = crop(p, 6, 16)  # D4 cut after it was struck: struck again at the cut, as loud
  assert _struck(cut) == [90, 120, 64]


# ------------------------------------------------------------------------------------------ the dynamics model

DYNAMIC = ModelConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0, chord_inputs=True, dynamics=True)


def test_dynamics_inputs_by_hand():
  velocity = np.zeros((1, 4, 3), np.int32)
  velocity[0, 0, 0], velocity[0, 2, 1], velocity[0, 2, 2] = 64, 127, 63
  prev, level = features.dynamics_inputs(jnp.asarray(velocity))
  np.testing.assert_array_equal(prev[0, 1], [56, 0, 0])  # 64 as its bin plays it
  np.testing.assert_array_equal(prev[0, 0], [0, 0, 0])
  np.testing.assert_allclose(level[0], [0, 56 / 127, 56 / 127, 88 / 127])  # held through a step that strikes none
  assert [int(features.velocity_bin(v)) for v in (1, 16, 17, 127)] == [0, 0, 1, 7]
  assert [int(features.bin_velocity(b)) for b in (0, 7)] == [8, 120]


def _random_notes(rng, b, t, n):
  play = rng.random((b, t, n)) < 0.2
  art = play & (rng.random((b, t, n)) < 0.6)
  art |= play & ~np.pad(play[:, :-1], ((0, 0), (1, 0), (0, 0)))
  velocity = np.where(art, rng.integers(1, 128, (b, t, n)), 0)
  return jnp.asarray(np.stack([play, art], -1).astype(np.uint8)), jnp.asarray(velocity)


def test_the_velocity_output_sees_only_the_past_and_learns_only_where_velocities_are_known():
  params = model.init_params(jax.random.key(0), DYNAMIC)
  rng = np.random.default_rng(0)
  notes, velocity = _random_notes(rng, 2, 10, 24)
  bar = jnp.tile(jnp.arange(10) % 16, (2, 1))

  def logits(velocity):
    return model.teacher_forced_logits(params, notes, bar, DYNAMIC, lowest=36, velocity_BxTxN=velocity)

  base = logits(velocity)
  assert base.shape == (2, 10, 24, 2 + features.VELOCITY_BINS)
  louder = jnp.where(velocity[:, 5] > 0, 127, 0)
  changed = logits(velocity.at[:, 5].set(louder))
  np.testing.assert_array_equal(base[:, :6], changed[:, :6])  # step 5's velocities reach step 6 first
  assert not np.allclose(base[:, 6:], changed[:, 6:])
  # without known velocities (a piece without dynamics) the velocity term and its gradient are zero
  mask = jnp.ones((2, 10))

  def objective(p, velocity):
    out = model.teacher_forced_logits(p, notes, bar, DYNAMIC, lowest=36, velocity_BxTxN=velocity)
    return loss.loss_fn(out, notes, mask, velocity_BxTxN=velocity)

  (_, sums), grads = jax.value_and_grad(objective, has_aux=True)(params, jnp.zeros_like(velocity))
  assert float(sums['velocity']) == 0 and float(sums['struck']) == 0
  assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads['velocity']))
  (_, sums), grads = jax.value_and_grad(objective, has_aux=True)(params, velocity)
  assert float(sums['struck']) == float((velocity > 0).sum()) and float(sums['velocity']) > 0
  assert float(jnp.abs(grads['velocity']['w']).max()) > 0


def test_the_sampler_draws_velocities_and_scores_them_as_teacher_forcing_does():
  params = model.init_params(jax.random.key(1), DYNAMIC)
  params['out']['b'] = jnp.array([-1.0, 0.0])
  s, t, n = 3, 12, 24
  plan = plans.free_plan(s, t, n)
  controls = sampler.Controls(jnp.float32(1), jnp.float32(1), jnp.float32(0))
  result = sampler.sample(params, jax.random.key(0), plan, controls, config=DYNAMIC, lowest=36)
  rolls, velocities = np.asarray(result.rolls), np.asarray(result.velocities)
  struck = rolls[..., 1] > 0
  assert struck.sum() > 10 and np.all(velocities[~struck] == 0)
  assert set(np.unique(velocities[struck])) <= {8 + 16 * b for b in range(features.VELOCITY_BINS)}
  assert len(np.unique(velocities[struck])) > 1
  logits = model.teacher_forced_logits(params, jnp.asarray(rolls), jnp.tile(jnp.arange(t) % 16, (s, 1)), DYNAMIC,
                                       lowest=36, velocity_BxTxN=jnp.asarray(velocities))
  play, articulate = loss.nll_terms(logits, jnp.asarray(rolls))
  velocity_nll, _ = loss.velocity_terms(logits, jnp.asarray(velocities))
  np.testing.assert_allclose(result.log_likelihood, -(play + articulate + velocity_nll).sum(axis=(1, 2)), rtol=1e-4)
  # with particles too: the chosen particle's velocities are traced back with its notes
  k8 = sampler.sample(params, jax.random.key(0), plan, controls, config=DYNAMIC, lowest=36,
                      search=sampler.Search(particles=8, mode='best'))
  assert np.all((np.asarray(k8.velocities) > 0) == (np.asarray(k8.rolls)[..., 1] > 0))


@pytest.fixture(scope='module')
def loud_or_soft_folder(tmp_path_factory):
  """Pieces played loud throughout (110) or soft throughout (20), half and half, their notes drawn alike."""
  import mido
  folder = tmp_path_factory.mktemp('dynamics')
  rng = np.random.default_rng(0)
  for i in range(16):
    mid = mido.MidiFile(ticks_per_beat=STEP * 4)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    events = []
    for t in range(0, 48, 4):
      pitch = int(rng.choice([40, 43, 45, 64, 67, 69]))
      events += [(t * STEP, 1, mido.Message('note_on', note=pitch, velocity=110 if i % 2 else 20)),
                 ((t + 4) * STEP, 0, mido.Message('note_off', note=pitch, velocity=0))]
      if t == 0:  # a second note at the start, so that no file strikes all its notes alike
        events += [(0, 1, mido.Message('note_on', note=50, velocity=64)),
                   (4 * STEP, 0, mido.Message('note_off', note=50, velocity=0))]
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
      track.append(msg.copy(time=tick - now))
      now = tick
    mid.save(folder / f'p{i:02d}.mid')
  return str(folder)


def test_a_model_with_dynamics_keeps_the_loudness_it_chose(loud_or_soft_folder, tmp_path):
  config = Config(data=DataConfig(dataset=loud_or_soft_folder, lowest=36, num_notes=36, seq_len=16),
                  model=ModelConfig(time_sizes=(16,), note_sizes=(8,), dropout=0.0, dynamics=True),
                  train=TrainConfig(batch_size=8, num_steps=400, warmup_steps=10, learning_rate=2e-2, log_every=100,
                                    eval_every=0, eval_batch_size=8, checkpoint_every=400))
  metrics = train.train_and_evaluate(config, str(tmp_path / 'run'))
  # ln 2 = 0.69 is what a model gets that cannot tell a loud piece from a soft one once it has begun
  assert metrics['velocity_nll_per_struck_note'] < 0.45
  composer = load_checkpoint(str(tmp_path / 'run'))
  held, drawn = [], set()
  for piece in composer.generate(Request(num_steps=64), Controls(num_samples=6, seed=0)).pieces:
    struck = piece.velocity[piece.velocity > 0]
    held.append(np.mean(struck[1:] == struck[:-1]))  # about 0.5 if each note's loudness were drawn on its own
    drawn |= set(struck.tolist())
  assert np.mean(held) > 0.75 and {24, 104} <= drawn
  written = subprocess.run([sys.executable, 'experiments/sample.py', f'--checkpoint={tmp_path / "run"}',
                            f'--output_dir={tmp_path / "out"}', '--num_steps=32', '--nowav', '--noengrave'],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert written.returncode == 0, written.stderr
  assert read_midi(tmp_path / 'out' / 'sample_0_0.mid', grid=Grid(36, 36)).velocity is not None
  flat = subprocess.run([sys.executable, 'experiments/sample.py', f'--checkpoint={tmp_path / "run"}',
                         f'--output_dir={tmp_path / "flat"}', '--num_steps=32', '--nowav', '--noengrave',
                         '--dynamics=flat'], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert flat.returncode == 0, flat.stderr
  assert read_midi(tmp_path / 'flat' / 'sample_0_0.mid', grid=Grid(36, 36)).velocity is None


def test_styles_without_dynamics_in_their_data_are_played_flat(loud_or_soft_folder, tmp_path):
  """A 'dynamic' style from MIDI with velocities, a 'plain' one whose files strike every note alike: training finds
  which style has dynamics and says so in the checkpoint; generation gives velocities to that style only."""
  folder = tmp_path / 'styles'
  shutil.copytree(loud_or_soft_folder, folder / 'dynamic')
  for i in range(8):
    make_midi(folder / 'plain' / f'p{i}.mid', [(t * STEP, (t + 4) * STEP, 48 + (t // 4) % 5) for t in range(0, 48, 4)])
  config = Config(data=DataConfig(dataset=str(folder), lowest=36, num_notes=36, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(4,), dropout=0.0, dynamics=True,
                                    styles=('dynamic', 'plain')),
                  train=TrainConfig(batch_size=4, num_steps=2, warmup_steps=1, log_every=1, eval_every=0,
                                    eval_batch_size=8, checkpoint_every=2))
  wrong = dataclasses.replace(config, model=dataclasses.replace(config.model, dynamics_styles=('plain',)))
  with pytest.raises(ConfigError, match="model.dynamics_styles: the data set's styles with dynamics are "
                                                'dynamic, not plain'):
    train.train_and_evaluate(wrong, str(tmp_path / 'wrong'))
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  composer = load_checkpoint(str(tmp_path / 'run'))
  assert composer.config.model.dynamics_styles == ('dynamic',)
  assert all(p.velocity is not None for p in composer.generate(Request(num_steps=16, style='dynamic'), Controls(num_samples=2)).pieces)
  assert all(p.velocity is not None for p in composer.generate(Request(num_steps=16, style='dynamic:0.3,plain:0.7'), Controls(num_samples=2)).pieces)
  assert all(p.velocity is None for p in composer.generate(Request(num_steps=16, style='plain'), Controls(num_samples=2)).pieces)
  flat = subprocess.run([sys.executable, 'experiments/sample.py', f'--checkpoint={tmp_path / "run"}',
                         f'--output_dir={tmp_path / "out"}', '--num_steps=16', '--nowav', '--noengrave',
                         '--style=plain'], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert flat.returncode == 0, flat.stderr
  assert 'learned dynamics for dynamic only (the data of plain has none): every note at --velocity=80' in flat.stdout
  assert read_midi(tmp_path / 'out' / 'sample_0_0.mid', grid=Grid(36, 36)).velocity is None
  flat_only = tmp_path / 'flat_only'
  shutil.copytree(folder / 'plain', flat_only / 'plain')
  none = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset=str(flat_only)),
                             model=dataclasses.replace(config.model, styles=('plain',)))
  with pytest.raises(ConfigError, match='model.dynamics: no style of the data set has velocities'):
    train.train_and_evaluate(none, str(tmp_path / 'none'))


def test_the_shipped_dynamics_model_plays_the_quartets_dynamics_and_the_chorales_flat():
  composer = load_checkpoint('styles_dynamics')
  assert composer.config.model.dynamics_styles == ('classical',)
  (quartet,) = composer.generate(Request(num_steps=64, style='classical'), Controls(seed=0)).pieces
  assert len(set(quartet.velocity[quartet.velocity > 0].tolist())) > 1
  (chorale,) = composer.generate(Request(num_steps=16, style='chorale'), Controls(seed=0)).pieces
  assert chorale.velocity is None
