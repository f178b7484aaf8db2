"""Every experiment script refuses bad flags with one line that names the flag, before any compilation."""

import json
import os
import re
import subprocess
import sys

import jax
import pytest

_ON_GPU = jax.default_backend() == 'gpu'

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name, *args, cwd=None):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', f'{name}.py'), *args], capture_output=True,
                        text=True, timeout=120, cwd=cwd, env=dict(os.environ, PYTHONPATH=ROOT))


@pytest.mark.parametrize('name, args, flag', [
    ('prepare_data', ['--out_of_range=wrap'], '--out_of_range'),
    ('prepare_data', ['--lowest=120'], '--lowest/--num_notes'),
    ('prepare_data', ['--steps_per_quarter=0'], '--steps_per_quarter'),
    ('prepare_data', ['--dataset=/no/such/thing'], '--dataset'),
    ('prepare_data', ['--output_dir=/proc/no'], '--output_dir'),
    ('prepare_data', ['--bogus=1'], 'bogus'),
    ('train', ['--workdir=/tmp/x', '--config.train.batch_size=0'], '--config.train.batch_size'),
    ('train', ['--workdir=/tmp/x', '--config.train.seed=-1'], '--config.train.seed'),
    ('train', ['--workdir=/tmp/x', '--config.train.learning_rate=inf'], '--config.train.learning_rate'),
    ('train', ['--workdir=/tmp/x', f'--config.train.seed={2**63}'], '--config.train.seed'),
    ('train', ['--workdir=/tmp/x', '--config.data.num_notes=0'], '--config.data.num_notes'),
    ('train', ['--workdir=/tmp/x', '--coordinator_address=localhost:99999', '--num_processes=2', '--process_id=0'],
     '--coordinator_address'),
    ('train', ['--workdir=/tmp/x', '--coordinator_address=no-such-host.invalid:1234', '--num_processes=2',
               '--process_id=0'], '--coordinator_address'),
    ('train', ['--workdir=/tmp/x', '--config.data.num_notes=200'], '--config.data.num_notes'),
    ('train', ['--workdir=/tmp/x', '--config.data.seq_len=1000000000'], '--config.data.seq_len'),
    ('sample', ['--checkpoint=/tmp', '--num_samples=1000000000'], '--num_samples'),
    ('sample', ['--checkpoint=/tmp', f'--seed={2**64}'], '--seed'),
    ('train', ['--workdir=/tmp/x', '--config.train.learning_rate=1e30'], '--config.train.learning_rate'),
    ('train', ['--workdir=/tmp/x', '--config.model.time_sizes=a,b'], '--config.model.time_sizes'),
    ('train', ['--workdir=/tmp/x', '--config.data.out_of_range=wrap'], '--config.data.out_of_range'),
    ('train', ['--workdir=/tmp/x', '--config.data.dataset=/no/such'], '--config.data.dataset'),
    ('train', ['--workdir=/proc/no', '--config=tiny'], '--workdir'),
    ('train', ['--workdir=/tmp/x', '--process_id=3', '--num_processes=2', '--coordinator_address=a:1'],
     '--process_id'),
    ('sample', ['--output_dir=/tmp/x'], '--checkpoint'),
    ('sample', ['--checkpoint=/no/such'], '--checkpoint'),
    ('sample', ['--checkpoint=/tmp', '--num_steps=0'], '--num_steps'),
    ('sample', ['--checkpoint=/tmp', '--time_signature=3-4'], '--time_signature'),
    ('sample', ['--checkpoint=/tmp', '--time_signature=3/5', '--num_bars=4'], '--time_signature'),
    ('sample', ['--checkpoint=/tmp', '--pickup=one'], '--pickup'),
    ('sample', ['--checkpoint=/tmp', '--primer=/no/such.mid'], '--primer'),
    ('sample', ['--checkpoint=/tmp', '--program=200'], '--program'),
    ('sample', ['--checkpoint=/tmp', '--num_steps=8', '--num_bars=2'], '--num_bars'),
    ('sample', ['--checkpoint=/tmp', '--motif_at=1,x'], '--motif_at'),
    ('sample', ['--checkpoint=/tmp', '--motif=/no/such.mid'], '--motif'),
    ('sample', ['--checkpoint=/tmp', '--bridge_to=/no/such.mid'], '--bridge_to'),
    ('sample', ['--checkpoint=/tmp', '--particles=0'], '--particles'),
    ('sample', ['--checkpoint=/tmp', '--search=greedy'], '--search'),
    ('sample', ['--checkpoint=/tmp', '--seed=18446744073709551616'], '--seed'),
    ('evaluate', [], '--checkpoint'),
    ('evaluate', ['--checkpoint=/tmp', '--mode=musik'], '--mode'),
    ('evaluate', ['--checkpoint=/tmp', '--temperature=0'], '--temperature'),
    ('evaluate', ['--checkpoint=/tmp', '--temperature=inf'], '--temperature'),
    ('evaluate', ['--checkpoint=/tmp', '--particles=0'], '--particles'),
    ('evaluate', ['--checkpoint=/tmp', '--split=dev'], '--split'),
    ('benchmark', ['--configs=nonesuch'], '--config'),
    ('benchmark', ['--generate_batches=x'], '--generate_batches'),
    ('benchmark', ['--repeats=0'], '--repeats'),
    ('benchmark', ['--particles=0'], '--particles'),
    pytest.param('benchmark', ['--configs=tiny', '--time_axis_cudnn=true'], '--time_axis_cudnn',
                 marks=pytest.mark.skipif(_ON_GPU, reason='cuDNN is there')),
])
def test_bad_flags_give_one_line_naming_the_flag(tmp_path, name, args, flag):
  result = script(name, *args, cwd=tmp_path)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and flag in lines[0], result.stderr[-2000:]
  assert not os.listdir(tmp_path)  # nothing written


def test_prepare_data_writes_one_piece_back_and_never_overwrites(tmp_path):
  from tests.midi_util import STEP, make_midi
  for i in range(10):
    make_midi(tmp_path / 'midi' / f'tune.v{i}.mid', [(0, 4 * STEP, 60 + i)])
  args = [f'--dataset={tmp_path / "midi"}', f'--output_dir={tmp_path / "out"}']
  first = script('prepare_data', *args)
  assert first.returncode == 0, first.stderr[-2000:]
  assert 'midi: train' in first.stdout
  written = os.listdir(tmp_path / 'out')
  assert len(written) == 1 and written[0].startswith('tune.v') and written[0].endswith('.mid')
  again = script('prepare_data', *args)
  assert again.returncode == 2 and 'pass --overwrite' in again.stderr
  assert script('prepare_data', *args, '--overwrite').returncode == 0


def test_benchmark_writes_its_table_and_json(tmp_path):
  out = tmp_path / 'bench.json'
  result = script('benchmark', '--configs=tiny', '--repeats=1', '--skeleton', '--generate_batches=2',
                  '--particles=3', '--generate_steps=4', f'--output={out}')
  assert result.returncode == 0, result.stderr[-2000:]
  r = json.loads(out.read_text())
  tiny = r['configs']['tiny']
  assert r['matmul_gflops'] == max(r['matmul_gflops_samples']) > 0
  assert tiny['params'] == 5218 and tiny['step_s'] > 0 and tiny['skeleton_step_s'] > 0
  assert tiny['fraction_of_matmul'] == pytest.approx(tiny['gflops'] / r['matmul_gflops'])
  assert [(g['batch'], g['particles']) for g in tiny['generation']] == [(2, 1), (1, 3)]
  assert all(g['ms_per_step'] > 0 for g in tiny['generation'])
  assert 'skeleton s' in result.stdout and 'generation of 4 steps' in result.stdout


@pytest.mark.parametrize('text, message', [
    ('\x00\x01 not python at all', 'does not run as Python'),
    ('def get_config(:\n', r'does not run as Python \(SyntaxError'),
    ('import no_such_module_anywhere\n', r'does not run as Python \(ModuleNotFoundError'),
    ('def get_config():\n  raise RuntimeError("boom")\n', r'get_config\(\) in .* failed \(RuntimeError: boom\)'),
    ('x = 1\n', r'defines no get_config\(\)'),
])
def test_a_config_file_that_does_not_work_is_one_line(tmp_path, text, message):
  path = tmp_path / 'my_config.txt'  # any file name
  path.write_text(text)
  result = script('train', f'--config={path}', f'--workdir={tmp_path}/w')
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: --config: '), result.stderr
  assert re.search(message, lines[0]), lines[0]


def test_scripts_keep_what_they_compile_in_the_package_cache(tmp_path):
  """A second run of a script loads its compiled functions (small ones too) from `compilations` in the cache."""
  program = ('import jax, jax.numpy as jnp\nfrom biaxial_jax import cli\ncli.compile_once_per_machine()\n'
             'print(jax.jit(lambda x: jnp.sin(x) * 2)(jnp.arange(3.0)).sum())\n')
  env = {k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'}
  env.update(BIAXIAL_JAX_CACHE=str(tmp_path), PYTHONPATH=ROOT)
  result = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, env=env, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert os.listdir(tmp_path / 'compilations')  # the jitted function, though it compiled in milliseconds


def test_the_generating_scripts_take_a_cpu_device_per_core_or_say_what_is_wrong_with_the_count():
  """`cli.sample_on_every_core`: one CPU device per core (the sampler splits particles over them), the count from
  `JAX_NUM_CPU_DEVICES` where set, and a count below 1 is one line naming the variable."""
  program = 'import jax\nfrom biaxial_jax import cli\ncli.sample_on_every_core()\nprint(len(jax.devices("cpu")))\n'

  def run(**env):
    return subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, timeout=120,
                          env=dict({k: v for k, v in os.environ.items() if k != 'JAX_NUM_CPU_DEVICES'}, PYTHONPATH=ROOT,
                                   JAX_PLATFORMS='cpu', **env))
  assert run().stdout.split() == [str(len(os.sched_getaffinity(0)))]
  assert run(JAX_NUM_CPU_DEVICES='3').stdout.split() == ['3']
  bad = run(JAX_NUM_CPU_DEVICES='0')
  lines = bad.stderr.strip().splitlines()
  assert bad.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: JAX_NUM_CPU_DEVICES: '), bad.stderr
