"""Training end to end on a tiny config: checkpoints, exact resume, fallbacks, NaN stop, data parallel, the script."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from biaxial_jax import checkpoint, loss, train
from biaxial_jax import workdir as workdir_lib
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from tests.midi_util import STEP, make_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def midi_folder(tmp_path_factory):
  """Twenty short two-voice pieces: enough for every split."""
  folder = tmp_path_factory.mktemp('midi')
  rng = np.random.default_rng(0)
  for i in range(20):
    notes, t = [], 0
    while t < 48:
      length = int(rng.choice([2, 4, 6, 8]))
      root = int(rng.integers(55, 67))
      notes += [(t * STEP, (t + length) * STEP, root), (t * STEP, (t + length) * STEP, root - 12)]
      t += length
    make_midi(folder / f'p{i:02d}.mid', notes)
  return str(folder)


def tiny(midi_folder, **train_overrides) -> Config:
  train_config = dict(batch_size=2, num_steps=6, warmup_steps=1, learning_rate=1e-2, log_every=2, eval_every=3,
                      eval_batch_size=4, checkpoint_every=3, keep_checkpoints=3)
  return Config(data=DataConfig(dataset=midi_folder, lowest=36, num_notes=36, seq_len=16),
                model=ModelConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.2),
                train=TrainConfig(**{**train_config, **train_overrides}))


def params_of(workdir):
  return checkpoint.restore_params(workdir)[1]


def assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_one_run_writes_checkpoints_and_metrics(midi_folder, tmp_path):
  metrics = train.train_and_evaluate(tiny(midi_folder), str(tmp_path))
  assert set(metrics) >= {'nll_per_frame', 'nll_per_note', 'play_nll_per_frame'}
  assert sorted(int(d) for d in os.listdir(tmp_path) if d.isdigit()) == [3, 6]
  records = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert [(r['step'], r['split']) for r in records] == [(2, 'train'), (3, 'valid'), (4, 'train'), (6, 'train'),
                                                        (6, 'valid')]
  assert os.listdir(tmp_path / 'tb')
  config, params, step = checkpoint.restore_params(str(tmp_path))
  assert step == 6 and config == tiny(midi_folder)  # the checkpoint carries its whole config


def test_best_is_the_checkpoint_with_the_lowest_valid_nll(midi_folder, tmp_path):
  config = tiny(midi_folder, play_only=True)
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  valid = [json.loads(line) for line in open(tmp_path / 'run' / 'metrics.jsonl')]
  # play_only: checkpoints are chosen by the play bits alone
  chosen = min((r['play_nll_per_frame'], r['step']) for r in valid if r['split'] == 'valid')[1]
  assert checkpoint.load_config(str(tmp_path / 'run'), best=True)[1] == chosen

  manager = checkpoint.open_manager(str(tmp_path / 'hand'))
  state = {'params': params_of(str(tmp_path / 'run'))}
  for step, metric in ((1, 2.0), (2, 3.0), (3, None)):
    checkpoint.save(manager, step, state, config, None if metric is None else {checkpoint.BEST_METRIC: metric})
  manager.wait_until_finished()
  assert checkpoint.restore_params(str(tmp_path / 'hand'), best=True)[2] == 1
  assert checkpoint.restore_params(str(tmp_path / 'hand'))[2] == 3
  shutil.rmtree(tmp_path / 'hand' / '1')
  shutil.rmtree(tmp_path / 'hand' / '2')
  with pytest.raises(checkpoint.CheckpointError, match='none is best'):
    checkpoint.load_config(str(tmp_path / 'hand'), best=True)


def test_resume_gives_the_same_params_as_an_unbroken_run(midi_folder, tmp_path):
  train.train_and_evaluate(tiny(midi_folder), str(tmp_path / 'straight'))
  first = train.train_and_evaluate(tiny(midi_folder, num_steps=3), str(tmp_path / 'resumed'))
  assert first
  train.train_and_evaluate(tiny(midi_folder), str(tmp_path / 'resumed'))
  assert_same_params(params_of(str(tmp_path / 'straight')), params_of(str(tmp_path / 'resumed')))


def test_same_seed_same_losses_other_seed_differs(midi_folder, tmp_path):
  runs = {}
  for name, seed in (('a', 0), ('b', 0), ('c', 1)):
    train.train_and_evaluate(tiny(midi_folder, seed=seed), str(tmp_path / name))
    runs[name] = [r for r in map(json.loads, open(tmp_path / name / 'metrics.jsonl')) if r['split'] == 'train']
  assert [r['nll_per_frame'] for r in runs['a']] == [r['nll_per_frame'] for r in runs['b']]
  assert [r['nll_per_frame'] for r in runs['a']] != [r['nll_per_frame'] for r in runs['c']]


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous(midi_folder, tmp_path, caplog):
  train.train_and_evaluate(tiny(midi_folder), str(tmp_path / 'straight'))
  work = tmp_path / 'damaged'
  train.train_and_evaluate(tiny(midi_folder), str(work))
  for root, _, files in os.walk(work / '6' / 'state'):
    for f in files:
      os.remove(os.path.join(root, f))
  shutil.rmtree(work / 'tb')
  train.train_and_evaluate(tiny(midi_folder, num_steps=9), str(work))
  assert 'step 6 is unreadable' in caplog.text
  train.train_and_evaluate(tiny(midi_folder, num_steps=9), str(tmp_path / 'straight'))
  assert_same_params(params_of(str(tmp_path / 'straight')), params_of(str(work)))


def test_the_originals_adadelta_with_per_parameter_clipping_learns(midi_folder, tmp_path):
  config = tiny(midi_folder, optimizer='adadelta', learning_rate=1.0, clip_norm=5.0, num_steps=30, eval_every=0,
                log_every=10)
  train.train_and_evaluate(config, str(tmp_path))
  losses = [r['nll_per_frame'] for r in map(json.loads, open(tmp_path / 'metrics.jsonl')) if r['split'] == 'train']
  assert losses[-1] < losses[0]


def test_clip_each_by_norm_clips_every_parameter_on_its_own():
  grads = {'a': np.array([3.0, 4.0]), 'b': np.array([0.3, 0.4])}
  clipped, _ = train.clip_each_by_norm(1.0).update(grads, None)
  np.testing.assert_allclose(clipped['a'], [0.6, 0.8], rtol=1e-6)
  np.testing.assert_allclose(clipped['b'], [0.3, 0.4], rtol=1e-6)


def test_another_config_in_the_same_workdir_is_refused(midi_folder, tmp_path):
  train.train_and_evaluate(tiny(midi_folder, num_steps=3), str(tmp_path))
  other = dataclasses.replace(tiny(midi_folder), model=ModelConfig(time_sizes=(9,), note_sizes=(6,)))
  with pytest.raises(checkpoint.CheckpointError, match=r'model.time_sizes: checkpoint \(8,\), now \(9,\)'):
    train.train_and_evaluate(other, str(tmp_path))


def test_a_nan_loss_stops_and_keeps_the_last_checkpoint(midi_folder, tmp_path, monkeypatch):
  train.train_and_evaluate(tiny(midi_folder, num_steps=3), str(tmp_path))
  monkeypatch.setattr(loss, 'loss_fn', lambda *a: (float('nan'), loss.nll_sums(*a[:3])))
  with pytest.raises(train.TrainingError, match=r'non-finite loss \(nan\).* at step 3, batch pieces \[.*p\d\d.mid@'):
    train.train_and_evaluate(tiny(midi_folder), str(tmp_path))
  assert checkpoint.restore_params(str(tmp_path))[2] == 3


DATA_PARALLEL = """
import jax, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from biaxial_jax import mesh as mesh_lib, train
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.music.batches import training_batch
from biaxial_jax.music.datasets import load_dataset
assert jax.device_count() == 4
config = Config(data=DataConfig(dataset=FOLDER, lowest=36, num_notes=36, seq_len=16),
                model=ModelConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0), train=TrainConfig(batch_size=4))
pieces = load_dataset(FOLDER, grid=config.data.grid).train
batch = training_batch(pieces, batch_size=4, seq_len=16, seed=0, step=0)
opt = train.make_optimizer(config.train)
out = []
for devices in (jax.devices()[:1], jax.devices()):
  mesh = mesh_lib.make_mesh(devices)
  state = train.init_state(config, opt, NamedSharding(mesh, P()))
  step = jax.jit(lambda s, b, k: train.train_step(s, b, k, config=config, optimizer=opt))
  state, metrics = step(state, mesh_lib.to_global(batch, NamedSharding(mesh, P('data'))), jax.random.key(0))
  out.append((float(metrics['loss']), jax.device_get(state['params'])))
  print(len(devices), 'devices: loss', out[-1][0], 'batch sharding', state['params']['out']['w'].sharding)
assert abs(out[0][0] - out[1][0]) < 1e-5, out
for a, b in zip(jax.tree.leaves(out[0][1]), jax.tree.leaves(out[1][1])):
  np.testing.assert_allclose(a, b, atol=1e-6)
print('match')
"""


def test_data_parallel_over_4_devices_matches_one(midi_folder):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4', PYTHONPATH=ROOT)
  result = subprocess.run([sys.executable, '-c', f'FOLDER = {midi_folder!r}\n' + DATA_PARALLEL], env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'match' in result.stdout


def run_script(*args, **kwargs):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', 'train.py'), *args], capture_output=True,
                        text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT), **kwargs)


def test_train_script_runs_and_validates_flags(midi_folder, tmp_path):
  ok = run_script('--config=tiny', f'--workdir={tmp_path}/run', f'--config.data.dataset={midi_folder}',
                  '--config.data.lowest=36', '--config.data.num_notes=36', '--config.train.num_steps=3')
  assert ok.returncode == 0, ok.stderr[-3000:]
  assert 'valid: nll_per_frame' in ok.stdout and 'step 3/3' in ok.stderr
  for flag, message in (('--config.train.batch_sise=3', '--config.train.batch_sise: unknown config field'),
                        ('--config.model.dropout=1.5', '--config.model.dropout: must be in [0, 1)'),
                        ('--config=nonesuch', "--config: 'nonesuch' is neither a file nor a config name"),
                        ('--num_processes=2', '--coordinator_address, --num_processes and --process_id go together')):
    bad = run_script(f'--workdir={tmp_path}/bad', flag)
    assert bad.returncode == 2 and bad.stderr.strip() == f'error: {bad.stderr.strip()[7:]}'
    assert message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
  assert not os.path.exists(tmp_path / 'bad')


@pytest.mark.parametrize('sig, when', [(signal.SIGINT, 'step 20/'),  # while training
                                       (signal.SIGTERM, 'model: '),  # while XLA compiles the step
                                       (signal.SIGINT, 'model: ')])
def test_ctrl_c_or_sigterm_saves_and_exits_cleanly_at_any_moment(midi_folder, tmp_path, sig, when):
  proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'experiments', 'train.py'), '--config=tiny',
                           f'--workdir={tmp_path}', f'--config.data.dataset={midi_folder}', '--config.data.lowest=36',
                           '--config.data.num_notes=36', '--config.train.num_steps=100000',
                           '--config.train.checkpoint_every=100000', '--config.train.eval_every=0',
                           '--config.train.log_every=1'],
                          stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
  for line in proc.stderr:
    if when in line:
      break
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-3000:]
  assert 'interrupted at step' in err
  step = checkpoint.restore_params(str(tmp_path))[2]
  assert (20 if when == 'step 20/' else 0) <= step < 100000


def test_two_processes_train_like_one_process_with_two_devices(midi_folder, tmp_path):
  import socket
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  args = ['--config=tiny', f'--config.data.dataset={midi_folder}', '--config.data.lowest=36',
          '--config.data.num_notes=36', '--config.train.num_steps=4', '--config.train.decay_steps=4',
          '--config.train.batch_size=4']
  script = os.path.join(ROOT, 'experiments', 'train.py')
  env = dict(os.environ, PYTHONPATH=ROOT)
  hosts = [subprocess.Popen([sys.executable, script, *args, f'--workdir={tmp_path}/multi',
                             f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2', f'--process_id={i}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
  outputs = [h.communicate(timeout=300) for h in hosts]
  for h, (_, err) in zip(hosts, outputs):
    assert h.returncode == 0, err[-3000:]
  single = subprocess.run([sys.executable, script, *args, f'--workdir={tmp_path}/single'], capture_output=True,
                          text=True, timeout=300,
                          env=dict(env, XLA_FLAGS='--xla_force_host_platform_device_count=2'))
  assert single.returncode == 0, single.stderr[-3000:]
  def valid_line(stdout):
    return [line for line in stdout.splitlines() if line.startswith('valid:')]
  assert valid_line(outputs[0][0]) == valid_line(outputs[1][0]) == valid_line(single.stdout) != []
  assert_same_params(params_of(str(tmp_path / 'single')), params_of(str(tmp_path / 'multi')))


@pytest.mark.parametrize('name', sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, 'biaxial_jax', 'configs'))
                                        if f.endswith('.py') and not f.startswith('_')))
def test_every_config_file_loads_and_starts_with_its_command(name):
  from biaxial_jax.config import load_config_file  # pylint: disable=import-outside-toplevel
  assert isinstance(load_config_file(name), Config)
  with open(os.path.join(ROOT, 'biaxial_jax', 'configs', f'{name}.py')) as f:
    assert f.readline().startswith('# python experiments/train.py --config=')


def test_an_update_that_makes_the_parameters_non_finite_is_never_saved(midi_folder, tmp_path, monkeypatch):
  # updates scaled by infinity (config validation refuses such a learning rate; an optimizer can still diverge):
  # the loss before the update is finite, the parameters after it are not
  config = tiny(midi_folder, num_steps=2, checkpoint_every=1)
  monkeypatch.setattr(train, 'make_optimizer', lambda cfg: optax.scale(float('inf')))
  with pytest.raises(train.TrainingError, match='or updated parameters at step 0'):
    train.train_and_evaluate(config, str(tmp_path))
  assert not [d for d in os.listdir(tmp_path) if d.isdigit()]  # no checkpoint holds them


def test_a_second_run_on_a_workdir_in_use_is_refused_naming_the_first(midi_folder, tmp_path):
  config = tiny(midi_folder)
  workdir = str(tmp_path / 'run')
  os.makedirs(workdir)
  with workdir_lib.workdir_lock(workdir):  # what a running trainer holds
    with pytest.raises(train.TrainingError, match=f'is in use by another training run \\(process {os.getpid()}\\)'):
      train.train_and_evaluate(config, workdir)
  train.train_and_evaluate(config, workdir)  # released: the run goes ahead
  assert checkpoint.load_config(workdir)[1] == config.train.num_steps


def test_a_resumed_run_logs_each_step_once_and_a_damaged_log_line_is_dropped(midi_folder, tmp_path):
  config = tiny(midi_folder)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  shutil.rmtree(os.path.join(workdir, '6'))  # as if killed after logging step 6, before its checkpoint
  with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as f:
    f.write('{"step": 6, "spl')  # a line cut short by the kill
  train.train_and_evaluate(config, workdir)
  records = train.read_metrics(workdir)
  keys = [(r['step'], r['split']) for r in records]
  assert len(keys) == len(set(keys)) and (6, 'valid') in keys
  assert all(line.strip().endswith('}') for line in open(os.path.join(workdir, 'metrics.jsonl')))
  export = subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', 'export_model.py'), f'--workdir={workdir}',
                           f'--output_dir={tmp_path / "export"}'], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT))
  assert export.returncode == 0, export.stderr[-2000:]
  shipped_log = [json.loads(line) for line in open(tmp_path / 'export' / 'training_log.jsonl')]
  assert shipped_log == records  # the export carries the run's whole curve
  os.remove(tmp_path / 'export' / 'model.json')  # a half-removed export: its parameters are still not replaced
  again = subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', 'export_model.py'), f'--workdir={workdir}',
                          f'--output_dir={tmp_path / "export"}'], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=ROOT))
  assert again.returncode == 2 and 'holds params.npz; pass --overwrite' in again.stderr


def test_a_diverging_run_is_warned_about(midi_folder, tmp_path, monkeypatch, caplog):
  config = tiny(midi_folder, num_steps=4, log_every=2)
  monkeypatch.setattr(train, 'make_optimizer', lambda cfg: optax.scale(1e3))  # gradient ascent, steeply
  train.train_and_evaluate(config, str(tmp_path))
  assert 'the run is diverging' in caplog.text
