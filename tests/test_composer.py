"""The compiled sampler and the generation API: consistency with training, constraints obeyed, reproducibility."""

import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import model, render, sampling, train
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.music.midi import note_spans
from biaxial_jax.music.piece import TimeSignature, time_signature_for_steps
from tests.midi_util import STEP, make_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(16, 12), note_sizes=(10, 6)))


@pytest.fixture(scope='module')
def composer():
  params = model.init_params(jax.random.key(0), CONFIG.model)
  # a bias toward playing so that samples are not silent
  params['out']['b'] = jnp.array([-1.0, 0.0])
  return bj.Composer(CONFIG, params, step=0)


def controls(temperature=1.0, conservativity=1.0, adaptive=0.0):
  return sampling.Controls(jnp.float32(temperature), jnp.float32(conservativity), jnp.float32(adaptive))


def free(b, t, n):
  return np.zeros((b, t, n, 2), bool), np.zeros((b, t, n, 2), bool), np.zeros((b, t, n), bool)


def test_sampler_logits_match_teacher_forcing(composer):
  bar = jnp.arange(24) % 12
  rolls, logits = sampling.sample_rolls(composer.params, jax.random.key(3), bar, *free(3, 24, 40), controls(),
                                        config=CONFIG.model, lowest=36)
  assert rolls.shape == (3, 24, 40, 2) and rolls.dtype == jnp.uint8
  assert rolls[..., 0].sum() > 0
  forced = train.logits_of(composer.params, rolls, jnp.tile(bar, (3, 1)), CONFIG)
  np.testing.assert_allclose(logits, forced, atol=2e-5)
  for roll in np.asarray(rolls):
    bj.Piece(roll)  # valid: articulated at every onset, never articulated without playing


def restruck(pieces) -> int:
  """Articulations of notes that were already sounding (repeated notes told apart from held ones)."""
  rolls = np.stack([p.roll for p in pieces])
  held_before = np.pad(rolls[:, :-1, :, 0], ((0, 0), (1, 0), (0, 0))) > 0
  return int((rolls[..., 1].astype(bool) & held_before).sum())


def test_a_play_only_model_articulates_at_onsets_only(composer):
  play_only = Config(data=CONFIG.data, model=CONFIG.model, train=TrainConfig(play_only=True))
  benchmark_composer = bj.Composer(play_only, composer.params, step=0)
  assert restruck(composer.sample(48, num_samples=2, seed=0)) > 0  # an articulation head that was trained
  assert restruck(benchmark_composer.sample(48, num_samples=2, seed=0)) == 0  # one that never was


def test_fixed_notes_are_obeyed_exactly(composer):
  rng = np.random.default_rng(0)
  target = bj.canonical_roll(rng.random((24, 40, 2)) < 0.3).astype(bool)
  mask, values, force = free(2, 24, 40)
  columns = rng.choice(40, size=12, replace=False)
  mask[:, :, columns] = True
  values[:] = target
  rolls, _ = sampling.sample_rolls(composer.params, jax.random.key(0), jnp.zeros(24, jnp.int32), mask, values, force,
                                   controls(), config=CONFIG.model, lowest=36)
  np.testing.assert_array_equal(np.asarray(rolls)[:, :, columns], np.broadcast_to(target[:, columns], (2, 24, 12, 2)))


def test_fixed_notes_through_the_api(composer):
  mask = np.zeros((30, 40), bool)
  mask[:, 5] = True  # note 5 held for the whole piece, struck every 4 steps
  mask[10:20] = True  # and steps 10..19 silent apart from it
  values = np.zeros((30, 40, 2), bool)
  values[:, 5, 0] = True
  values[::4, 5, 1] = True
  piece = composer.sample(40, fixed=(mask, values), seed=2)[0]
  np.testing.assert_array_equal(piece.roll[:30, 5], values[:, 5])
  assert piece.roll[10:20, :, 0].sum() == 10
  with pytest.raises(bj.GenerationError, match=r'fixed: mask and values must both be \[T, 40, 2\]'):
    composer.sample(40, fixed=(mask[:, :30], values))


def test_primer_is_kept_verbatim_and_continued(composer):
  primer = bj.Piece(bj.canonical_roll(np.random.default_rng(1).random((20, 40, 2)) < 0.2), lowest=36,
                    time_signatures=(TimeSignature(0, 3, 4),))
  pieces = composer.sample(60, primer=primer, num_samples=2, seed=5)
  for piece in pieces:
    np.testing.assert_array_equal(piece.roll[:20], primer.roll)
    assert piece.num_steps == 60 and piece.time_signatures == primer.time_signatures
  assert not np.array_equal(pieces[0].roll[20:], pieces[1].roll[20:])


def test_same_seed_same_bytes_other_seed_differs(composer, tmp_path):
  paths = []
  for i, seed in enumerate((7, 7, 8)):
    paths.append(bj.write_midi(composer.sample(48, seed=seed)[0], tmp_path / f'{i}.mid'))
  data = [open(p, 'rb').read() for p in paths]
  assert data[0] == data[1] and data[0] != data[2]


def test_harmonizing_a_folk_tune_in_3_4_with_a_pickup(composer, tmp_path):
  # pickup of one beat, then 3/4 bars; includes a repeated note (two Gs) and a dotted note
  tune = [(0, 4, 55), (4, 10, 60), (10, 12, 62), (12, 16, 64), (16, 20, 64), (20, 28, 67), (28, 32, 65),
          (32, 40, 64), (40, 44, 62), (44, 52, 60)]
  path = make_midi(tmp_path / 'tune.mid', [(s * STEP, e * STEP, p) for s, e, p in tune],
                   meters=[(0, 1, 4), (4 * STEP, 3, 4)], tempos=[(0, 90)])
  piece = composer.sample(melody=str(path), seed=1)[0]
  assert piece.num_steps == 52 and piece.bar_position[:5].tolist() == [8, 9, 10, 11, 0]
  assert round(piece.tempos[0].qpm) == 90
  out = bj.read_midi(bj.write_midi(piece, tmp_path / 'out.mid'), lowest=36, num_notes=40)
  spans = set(note_spans(out.roll))
  for start, end, pitch in tune:
    assert (start, end, pitch - 36) in spans  # pitch, onset, length and the repeat, exactly
    assert not out.roll[start:end, pitch - 36 + 1:, 0].any()  # nothing above the melody while it sounds
  assert out.roll[..., 0].sum() > sum(e - s for s, e, _ in tune)  # voices were added


def test_top_voice_of_a_chord_sequence():
  roll = np.zeros((4, 40, 2), np.uint8)
  roll[0:2, [10, 14, 17]] = np.array([[1, 1], [1, 0]])[:, None]
  roll[2:4, [10, 12]] = np.array([[1, 1], [1, 0]])[:, None]
  voice = bj.top_voice(bj.Piece(roll))
  assert [np.flatnonzero(v[:, 0]).tolist() for v in voice.roll] == [[17], [17], [12], [12]]
  assert voice.roll[2, 12].tolist() == [1, 1]


@pytest.mark.parametrize('kwargs, message', [
    (dict(temperature=0), 'temperature: must be a finite number > 0'),
    (dict(temperature=float('nan')), 'temperature'),
    (dict(conservativity=-1), 'conservativity'),
    (dict(num_steps=0), 'num_steps: must be in'),
    (dict(num_steps=10, primer=bj.Piece(np.zeros((20, 40, 2)), lowest=36)), 'primer: 20 steps long'),
    (dict(primer=bj.Piece(np.zeros((4, 78, 2)))), 'primer: a piece of 78 notes from MIDI 24'),
    (dict(time_signature=(5, 32)), 'time_signature'),
    (dict(num_samples=0), 'num_samples'),
])
def test_bad_arguments_give_clear_errors(composer, kwargs, message):
  with pytest.raises(bj.GenerationError, match=message):
    composer.sample(**kwargs)


def test_missing_or_foreign_checkpoints_give_clear_errors(tmp_path):
  with pytest.raises(bj.BiaxialError, match='nope: no such checkpoint folder'):
    bj.load_checkpoint(tmp_path / 'nope')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(bj.BiaxialError, match='empty: holds no checkpoint'):
    bj.load_checkpoint(tmp_path / 'empty')


def test_a_melody_outside_the_range_is_refused(composer, tmp_path):
  path = make_midi(tmp_path / 'high.mid', [(0, 4 * STEP, 100)])
  with pytest.raises(bj.GenerationError, match='melody: .*high.mid: note 100 .* outside MIDI 36..75'):
    composer.sample(melody=str(path))


def test_conservativity_thins_the_texture(composer):
  thick = composer.sample(64, num_samples=4, conservativity=0.5, seed=0)
  thin = composer.sample(64, num_samples=4, conservativity=3.0, seed=0)
  assert sum(p.roll[..., 0].sum() for p in thin) < sum(p.roll[..., 0].sum() for p in thick)


def test_sample_script_writes_midi_png_and_an_index_of_every_sample(tmp_path):
  config = Config(data=DataConfig(dataset=str(tmp_path / 'midi'), lowest=36, num_notes=40, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(6,)),
                  train=TrainConfig(batch_size=2, num_steps=2, eval_every=2, checkpoint_every=2))
  for i in range(4):
    make_midi(tmp_path / 'midi' / f'{i}.mid', [(0, 8 * STEP, 48 + i), (8 * STEP, 16 * STEP, 52 + i)])
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert os.listdir(tmp_path / 'run' / 'samples') == ['step_0000002.mid']  # a few bars at each evaluation
  out = tmp_path / 'out'
  env = dict(os.environ, PYTHONPATH=ROOT, PATH=os.path.dirname(sys.executable))  # no fluidsynth on this PATH
  args = [sys.executable, os.path.join(ROOT, 'experiments', 'sample.py'), f'--checkpoint={tmp_path / "run"}',
          f'--output_dir={out}', '--num_samples=3', '--num_bars=2', '--seed=4']
  result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'no WAV: fluidsynth not found' in result.stdout
  page = open(out / 'index.html').read()
  for i in range(3):
    name = f'sample_4_{i}'
    assert bj.read_midi(out / f'{name}.mid', lowest=36, num_notes=40).num_steps == 32
    assert open(out / f'{name}.png', 'rb').read(4) == b'\x89PNG'
    assert f'src="{name}.png"' in page and f'href="{name}.mid"' in page
  again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert again.returncode == 2 and 'pass --overwrite' in again.stderr  # a user's files are never replaced silently
  if render.find_soundfont() and shutil.which('fluidsynth'):  # where FluidSynth is installed, WAVs are rendered
    with_wav = subprocess.run(args + ['--overwrite', '--num_samples=1'], capture_output=True, text=True,
                              env=dict(env, PATH=os.environ['PATH']), timeout=300)
    assert with_wav.returncode == 0, with_wav.stderr[-3000:]
    assert open(out / 'sample_4_0.wav', 'rb').read(4) == b'RIFF'
    assert 'src="sample_4_0.wav"' in open(out / 'index.html').read()


def test_an_exported_model_loads_samples_and_detects_damage(composer, tmp_path):
  from biaxial_jax import pretrained
  run = tmp_path / 'run'
  for i in range(4):
    make_midi(tmp_path / 'midi' / f'{i}.mid', [(0, 8 * STEP, 48 + i), (8 * STEP, 16 * STEP, 52 + i)])
  config = Config(data=DataConfig(dataset=str(tmp_path / 'midi'), lowest=36, num_notes=40, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(6,)),
                  train=TrainConfig(batch_size=2, num_steps=2, eval_every=2, checkpoint_every=2))
  train.train_and_evaluate(config, str(run))
  pretrained.export_params(str(run), str(tmp_path / 'export'), {'command': 'test'})
  from_workdir, from_export = bj.load_checkpoint(run), bj.load_checkpoint(tmp_path / 'export')
  assert from_export.config == from_workdir.config and from_export.step == 2
  a, b = from_workdir.sample(24, seed=3)[0], from_export.sample(24, seed=3)[0]
  np.testing.assert_array_equal(a.roll, b.roll)
  data = dict(np.load(tmp_path / 'export' / 'params.npz'))
  key = sorted(data)[0]
  data[key] = data[key] + 1e-3
  np.savez(tmp_path / 'export' / 'params.npz', **data)
  with pytest.raises(bj.BiaxialError, match='do not match their digest'):
    bj.load_checkpoint(tmp_path / 'export')


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, 'biaxial_jax', 'pretrained', 'bach')),
                    reason='no shipped model in this checkout')
def test_the_shipped_bach_model_samples_chorale_like_textures():
  composer = bj.load_checkpoint('bach')
  assert (composer.lowest, composer.num_notes, composer.steps_per_quarter) == (24, 78, 4)
  piece = composer.sample(64, seed=0)[0]
  assert 2 <= piece.roll[..., 0].sum(axis=1).mean() <= 6  # about four voices
