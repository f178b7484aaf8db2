"""Musical statistics and the likelihood protocols, on pieces small enough to work out by hand."""

import json

import jax
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import evaluation, model
from biaxial_jax.analysis import harmony, metrics
from biaxial_jax.config import Config, DataConfig, ModelConfig
from biaxial_jax.music.piece import time_signature_for_steps, TimeSignature


def piece_of(notes, num_steps, lowest=48, num_notes=36, **kwargs):
  """notes: (start, end, midi pitch)."""
  roll = np.zeros((num_steps, num_notes, 2), np.uint8)
  for start, end, pitch in notes:
    roll[start:end, pitch - lowest, 0] = 1
    roll[start, pitch - lowest, 1] = 1
  return bj.Piece(roll, lowest=lowest, **kwargs)


def test_histograms_and_shares():
  # a dotted quarter C (6 steps), an eighth E struck twice (2 + 2), a rest of 2 steps, then a C major triad (4 steps)
  p = piece_of([(0, 6, 60), (6, 8, 64), (8, 10, 64), (12, 16, 60), (12, 16, 64), (12, 16, 67)], 16)
  lengths = metrics.note_length_histogram([p])
  assert lengths[6] == pytest.approx(1 / 6) and lengths[2] == pytest.approx(2 / 6) and lengths[4] == pytest.approx(.5)
  assert metrics.silent_share([p]) == pytest.approx(2 / 16)
  assert metrics.repeated_share([p]) == pytest.approx(1 / 6)  # the second E is struck while the first sounds
  poly = metrics.polyphony_histogram([p])
  assert poly[0] == pytest.approx(2 / 16) and poly[1] == pytest.approx(10 / 16) and poly[3] == pytest.approx(4 / 16)
  pcs = metrics.pitch_class_histogram([p])
  assert pcs[0] == pytest.approx(10 / 22) and pcs[4] == pytest.approx(8 / 22) and pcs[7] == pytest.approx(4 / 22)
  assert metrics.distance(pcs, pcs) == 0 and metrics.distance(np.eye(12)[0], np.eye(12)[1]) == 1


def test_key_estimate_and_in_key_share():
  c_major = piece_of([(i * 2, i * 2 + 2, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])], 22)
  assert harmony.analyzed_key(c_major) == bj.Key(0, True)
  assert metrics.in_key_share([c_major]) == 1.0
  chromatic = piece_of([(4 * i, 4 * i + 4, 60 + i) for i in range(4)], 16)  # no scale here has 4 semitones in a row
  assert 0 < metrics.in_key_share([chromatic]) < 1.0


def test_copied_bars_are_found_through_transposition():
  rng = np.random.default_rng(0)
  notes = [(t, t + 2, int(rng.integers(55, 70))) for t in range(0, 96, 2)]  # 6 bars of 4/4, random eighths
  training = piece_of(notes, 96)
  copied = piece_of([(s - 16, e - 16, p + 3) for s, e, p in notes if 16 <= s < 64], 48)  # bars 2-4, up a third
  assert metrics.longest_copied_run([copied], [training]) == 3
  fresh = piece_of([(t, t + 4, 60 + t % 7) for t in range(0, 48, 4)], 48)
  assert metrics.longest_copied_run([fresh], [training]) == 0


def test_a_pickup_bar_is_not_counted_as_a_bar():
  meters = (time_signature_for_steps(4, 4), TimeSignature(4, 4, 4))
  p = piece_of([(0, 4, 60), (4, 20, 62), (20, 36, 64)], 36, time_signatures=meters)
  bars = metrics._bars(p)  # pylint: disable=protected-access
  assert len(bars) == 2 and bars[0][:, 62 - 48].all() and bars[1][:, 64 - 48].all()  # the pickup is left out


def test_bl_protocol_scores_keys_outside_the_model_by_their_training_frequency(tmp_path):
  path = tmp_path / 'bench.json'
  path.write_text(json.dumps({'train': [[[60], [60, 100], [62]]], 'valid': [[[60]]], 'test': [[[60, 100], [64]]]}))
  config = Config(data=DataConfig(lowest=48, num_notes=36, steps_per_quarter=1, dataset=str(path)),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(4,)))
  composer = bj.Composer(config, model.init_params(jax.random.key(0), config.model), step=0)
  result = evaluation.benchmark_likelihood(composer, str(path), 'test')
  assert result['keys_outside_model'] == 88 - 36 and result['frames'] == 2
  # keys outside 48..83: key 100 sounded in 1 of 3 training frames, the others never; add-one smoothing
  p_100, p_other = 2 / 5, 1 / 5
  expected = -(np.log(p_100) + np.log(1 - p_100)) - 2 * 51 * np.log(1 - p_other)
  assert result['bl_play_nll_per_frame_88_keys'] == pytest.approx(result['play_nll_per_frame'] + expected / 2)


def test_evaluate_script_likelihood_and_music_report(tmp_path):
  import os
  import subprocess
  import sys
  from biaxial_jax import train
  from biaxial_jax.config import TrainConfig
  from tests.midi_util import STEP, make_midi
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for i in range(12):
    make_midi(tmp_path / 'midi' / f'{i}.mid', [(t * 4 * STEP, (t + 1) * 4 * STEP, 55 + (i + t) % 12) for t in range(8)])
  config = Config(data=DataConfig(dataset=str(tmp_path / 'midi'), lowest=36, num_notes=48, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(6,)),
                  train=TrainConfig(batch_size=2, num_steps=2, eval_every=0, checkpoint_every=2))
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  env = dict(os.environ, PYTHONPATH=root)
  base = [sys.executable, os.path.join(root, 'experiments', 'evaluate.py'), f'--checkpoint={tmp_path / "run"}',
          '--split=train']
  nll = subprocess.run(base + [f'--output_dir={tmp_path / "nll"}'], capture_output=True, text=True, env=env,
                       timeout=300)
  assert nll.returncode == 0, nll.stderr[-3000:]
  result = json.load(open(tmp_path / 'nll' / 'results.json'))
  assert result['nll_per_frame'] > result['play_nll_per_frame'] > 0 and result['step'] == 2
  music = subprocess.run(base + ['--mode=music', '--num_samples=2', '--num_steps=32', f'--output_dir={tmp_path / "m"}'],
                         capture_output=True, text=True, env=env, timeout=300)
  assert music.returncode == 0, music.stderr[-3000:]
  assert '| mean notes sounding |' in music.stdout and 'longest run of bars copied' in music.stdout
  assert '![statistics](statistics.png)' in open(tmp_path / 'm' / 'report.md').read()
  assert open(tmp_path / 'm' / 'statistics.png', 'rb').read(4) == b'\x89PNG'
