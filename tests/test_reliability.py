"""Killed runs, damaged checkpoints and unusable workdirs: nothing lost, nothing half-written, clear messages."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from biaxial_jax import checkpoint, train
from biaxial_jax import workdir as workdir_lib
from tests.midi_util import STEP, make_midi
from tests.test_train import assert_same_params, params_of, tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs experiments/train.py; with KILL_AT_SAVE=k it SIGKILLs itself right after starting its k-th checkpoint save,
# while orbax is still writing it in the background.
RUNNER = """
import os, runpy, signal, sys
import orbax.checkpoint as ocp
kill_at = int(os.environ.get('KILL_AT_SAVE', '0'))
saves = []
original = ocp.CheckpointManager.save
def save(self, step, *args, **kwargs):
  result = original(self, step, *args, **kwargs)
  saves.append(step)
  if len(saves) == kill_at:
    os.kill(os.getpid(), signal.SIGKILL)
  return result
ocp.CheckpointManager.save = save
sys.argv = [sys.argv[0]] + sys.argv[1:]
runpy.run_path(os.path.join(os.environ['ROOT'], 'experiments', 'train.py'), run_name='__main__')
"""


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp('midi')
  rng = np.random.default_rng(1)
  for i in range(12):
    notes = [(t * 2 * STEP, (t + 1) * 2 * STEP, int(rng.integers(50, 70))) for t in range(24)]
    make_midi(folder / f'p{i}.mid', notes)
  return str(folder)


def command(folder, workdir):
  return [sys.executable, '-c', RUNNER, '--config=tiny', f'--workdir={workdir}', f'--config.data.dataset={folder}',
          '--config.data.lowest=36', '--config.data.num_notes=48', '--config.model.dropout=0.3',
          '--config.train.num_steps=30', '--config.train.decay_steps=30', '--config.train.checkpoint_every=10',
          '--config.train.eval_every=10', '--config.train.log_every=1']


def run(folder, workdir, **env):
  return subprocess.Popen(command(folder, workdir), stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, ROOT=ROOT, PYTHONPATH=ROOT, **env))


@pytest.fixture(scope='module')
def unbroken(folder, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('unbroken')
  proc = run(folder, workdir)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-3000:]
  return params_of(str(workdir))


def test_sigkill_between_checkpoints_then_resume(folder, unbroken, tmp_path):
  proc = run(folder, tmp_path)
  for line in proc.stderr:
    if 'step 12/30' in line:
      break
  deadline = time.time() + 60
  while not os.path.isdir(tmp_path / '10') and time.time() < deadline:  # the save of step 10 has finished
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.communicate(timeout=120)
  assert proc.returncode == -signal.SIGKILL
  last = checkpoint.open_manager(str(tmp_path), read_only=True).latest_step()
  assert last in (10, 20)
  resumed = run(folder, tmp_path)
  _, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err[-3000:]
  assert f'resumed from step {last}' in err
  assert_same_params(unbroken, params_of(str(tmp_path)))


def test_sigkill_during_a_checkpoint_save_leaves_no_half_checkpoint(folder, unbroken, tmp_path):
  proc = run(folder, tmp_path, KILL_AT_SAVE='2')  # dies while step 20 is being written
  proc.communicate(timeout=300)
  assert proc.returncode == -signal.SIGKILL
  manager = checkpoint.open_manager(str(tmp_path), read_only=True)
  assert manager.latest_step() in (10, 20)
  if manager.latest_step() == 20:  # the write won the race: then it must be whole
    params_of(str(tmp_path))
  else:
    assert not os.path.isdir(tmp_path / '20')  # at most an orbax temporary folder, which is never read
  resumed = run(folder, tmp_path)
  _, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err[-3000:]
  assert_same_params(unbroken, params_of(str(tmp_path)))


def flip_bytes(folder):
  """Flips one byte in the middle of every data file under `folder` (the arrays, not the metadata)."""
  flipped = 0
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      if os.path.basename(root) == 'd' and os.path.getsize(path) > 64:
        data = bytearray(open(path, 'rb').read())
        data[len(data) // 2] ^= 0x5A
        open(path, 'wb').write(bytes(data))
        flipped += 1
  assert flipped
  return flipped


def test_flipped_bytes_in_the_latest_checkpoint_fall_back_to_the_previous(folder, tmp_path, caplog):
  config = tiny(folder)
  train.train_and_evaluate(config, str(tmp_path / 'straight'))
  work = str(tmp_path / 'flipped')
  train.train_and_evaluate(config, work)
  flip_bytes(os.path.join(work, '6', 'state'))
  with pytest.raises(checkpoint.CheckpointError, match='unreadable'):
    params_of(work)  # a sampler refuses it too
  train.train_and_evaluate(config, work)
  assert 'step 6 is unreadable' in caplog.text
  assert any(name.startswith('6.unreadable-') for name in os.listdir(work))  # set aside, not deleted
  assert_same_params(params_of(str(tmp_path / 'straight')), params_of(work))


def test_every_checkpoint_damaged_is_an_error_not_a_silent_restart(folder, tmp_path):
  config = tiny(folder, num_steps=3)
  train.train_and_evaluate(config, str(tmp_path))
  flip_bytes(tmp_path / '3' / 'state')
  with pytest.raises(checkpoint.CheckpointError, match='no readable checkpoint'):
    train.train_and_evaluate(config, str(tmp_path))


def test_an_unwritable_workdir_is_refused_before_anything_runs(folder, tmp_path):
  (tmp_path / 'a_file').write_text('x')
  with pytest.raises(train.TrainingError, match='workdir: cannot write to .*a_file/run'):
    train.train_and_evaluate(tiny(folder), str(tmp_path / 'a_file' / 'run'))


def test_a_full_disk_is_refused_before_training(folder, tmp_path, monkeypatch):
  monkeypatch.setattr(workdir_lib.shutil, 'disk_usage', lambda _: type('Usage', (), {'free': 1 << 20})())
  with pytest.raises(train.TrainingError, match=r'has 1.0 MiB free; checkpoints need about'):
    train.train_and_evaluate(tiny(folder), str(tmp_path))
  assert not [d for d in os.listdir(tmp_path) if d.isdigit()]


FULL = OSError(28, 'No space left on device')
# What orbax raises when tensorstore cannot write: a ValueError carrying tensorstore's status.
ORBAX_FULL = ValueError('RESOURCE_EXHAUSTED: Error writing local file "/w/6/state/d/1": [OS error 28: No space left '
                        'on device] [source locations=\'tensorstore/internal/os/file_util_posix.cc:338\']')


@pytest.mark.parametrize('where, error, message', [
    ('wait_until_finished', FULL, 'the disk is full \\(No space left on device\\)'),
    ('wait_until_finished', ORBAX_FULL, 'the disk is full \\(no space left on device\\)'),
    ('wait_until_finished', OSError(5, 'Input/output error'), 'saving a checkpoint .* failed .*Input/output error'),
    ('record', FULL, 'the disk is full'),
])
def test_a_failed_save_is_reported_and_earlier_checkpoints_stay(folder, tmp_path, monkeypatch, where, error,
                                                               message):
  train.train_and_evaluate(tiny(folder, num_steps=3), str(tmp_path))
  if where == 'record':  # the metrics written at a log step
    monkeypatch.setattr(train._Recorder, 'write', lambda *_: (_ for _ in ()).throw(error))  # pylint: disable=protected-access
  else:
    original = checkpoint.ocp.CheckpointManager.wait_until_finished

    def failing(self):
      original(self)
      raise error
    monkeypatch.setattr(checkpoint.ocp.CheckpointManager, 'wait_until_finished', failing)
  with pytest.raises(train.TrainingError, match=message) as raised:
    train.train_and_evaluate(tiny(folder), str(tmp_path))
  assert 'intact' in str(raised.value) and '\n' not in str(raised.value)
  monkeypatch.undo()
  assert checkpoint.restore_params(str(tmp_path))[2] >= 3


def edit_config_record(work, step, change):
  path = os.path.join(work, str(step), 'config', 'metadata')
  text = open(path).read()
  open(path, 'w').write(change(text))


@pytest.mark.parametrize('damage', [
    lambda text: text.replace('"lowest": 36', '"lowest": 46'),  # one digit of the config
    lambda text: text.replace('"state_sha256"', '"state_sha"'),  # a digest key lost
    lambda text: text[:len(text) // 2],  # truncated
    lambda text: '',  # empty
    lambda text: '[1, 2]',  # not a record
    # an edited config whose record's own digest was deleted
    lambda text: re.sub(r',? *"record_sha256": *"[0-9a-f]*"', '', text).replace('"lowest": 36', '"lowest": 46'),
])
def test_a_damaged_checkpoint_record_is_named_by_the_sampler_and_skipped_by_the_trainer(folder, tmp_path, damage):
  config = tiny(folder)
  work = str(tmp_path / 'run')
  train.train_and_evaluate(config, work)
  before = params_of(work)
  edit_config_record(work, 6, damage)
  with pytest.raises(checkpoint.CheckpointError, match=f'{work}: checkpoint at step 6') as error:
    checkpoint.restore_params(work)
  assert '\n' not in str(error.value)
  train.train_and_evaluate(config, work)  # not "another config": the damaged checkpoint is set aside, step 6 redone
  assert any(name.startswith('6.unreadable-') for name in os.listdir(work))
  assert_same_params(before, params_of(work))


def test_unreadable_metrics_are_set_aside_and_the_checkpoint_still_serves(folder, tmp_path, caplog):
  work = str(tmp_path / 'run')
  train.train_and_evaluate(tiny(folder), work)
  metrics = os.path.join(work, '6', 'metrics', 'metrics')
  for garbage in ('{garbage', '[]', '{"valid_nll_per_frame": "x"}', '[' * 100_000):
    with open(metrics, 'w') as f:
      f.write(garbage)
    assert checkpoint.restore_params(work)[2] == 6  # the newest still samples
    assert checkpoint.restore_params(work, best=True)[2] == 3  # the best among steps whose metrics can be read
    assert 'unreadable metrics' in caplog.text and not os.path.exists(metrics)
  assert len([f for f in os.listdir(os.path.dirname(metrics)) if f.startswith('metrics.unreadable-')]) == 4  # all kept
  train.train_and_evaluate(tiny(folder, num_steps=9), work)  # the trainer resumes
  assert checkpoint.restore_params(work)[2] == 9
