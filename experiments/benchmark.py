r"""Speed of the train step per config, against this machine's float32 matmul rate; prints a table, writes JSON.

  python experiments/benchmark.py --configs=tiny,small,default --batch_size=10 --seq_len=128 --repeats=5
  python experiments/benchmark.py --configs=default --skeleton --generate_batches= --particles=   # the step's matmuls
  python experiments/benchmark.py --configs=small --repeats=3 --generate_batches=1,16 --particles=32,256  # generation
"""

import json
import resource
import statistics
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from jax.sharding import NamedSharding, PartitionSpec as P

from biaxial_jax import cli, cudnn_lstm, host_memory, lstm, model, train
from biaxial_jax import config as config_lib
from biaxial_jax import mesh as mesh_lib
from biaxial_jax.generation import plans, sampler
from biaxial_jax.music.batches import Batch

_CONFIGS = flags.DEFINE_list('configs', ['tiny', 'small', 'default'], 'Config names or files to measure.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', None, 'Batch size for every config (default: each config\'s own).')
_SEQ_LEN = flags.DEFINE_integer('seq_len', None, 'Steps per segment (default: each config\'s own).')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed train steps per config (the median is reported).')
_HOIST = flags.DEFINE_enum('hoist', 'config', ['config', 'true', 'false'], 'Override hoist_input_projection.')
_MATMUL_DTYPE = flags.DEFINE_enum('matmul_dtype', 'config', ['config', 'float32', 'bfloat16'],
                                  'Override model.matmul_dtype (the precision of the matmul operands).')
_CUDNN = flags.DEFINE_enum('time_axis_cudnn', 'config', ['config', 'true', 'false'],
                           'Override model.time_axis_cudnn (the time axis through cuDNN: a GPU, float32 matmuls).')
_UNROLL = flags.DEFINE_integer('scan_unroll', None, 'Override model.scan_unroll (LSTM steps per scan iteration).',
                                lower_bound=1, upper_bound=64)
_GENERATE = flags.DEFINE_list('generate_batches', ['1', '16'], 'Sampler batch sizes to time (empty: skip).')
_GENERATE_STEPS = flags.DEFINE_integer('generate_steps', 256, 'Steps generated per timed sampler call.')
_PARTICLES = flags.DEFINE_list('particles', ['32'], 'SMC particle counts to time, one sample harmonizing a melody '
                               '(empty: skip).')
_SKELETON = flags.DEFINE_bool('skeleton', False, 'Also time each train step\'s matmul skeleton: the same matmuls in '
                                'the same scans without the gate arithmetic (the ceiling of this formulation here).')
_OUTPUT = flags.DEFINE_string('output', None, 'Write the results as JSON here.')


def flops_per_cell(config: config_lib.Config) -> float:
  """Matmul FLOPs (multiply-adds x 2) of one forward pass through one cell (a note at a step), read from the shapes
  of the model's own parameters: every LSTM layer of both axes (input and recurrent matmuls of the fused gates, chord,
  voice and style inputs included) and every output head."""
  shapes = jax.eval_shape(lambda: model.init_params(jax.random.key(0), config.model))
  layers = shapes['time'] + shapes['note']
  heads = [shapes[name]['w'] for name in ('out', 'velocity', 'voice') if name in shapes]
  return (sum(2.0 * (l['w_in'].shape[0] + l['w_rec'].shape[0]) * l['w_in'].shape[1] for l in layers)
          + sum(2.0 * w.shape[0] * w.shape[1] for w in heads))


def measure_generation(config: config_lib.Config, samples: int, num_steps: int, repeats: int,
                       particles: int = 1) -> dict:
  """Wall time of the compiled sampler for `num_steps` steps of `samples` samples (random parameters). With
  particles, each sample harmonizes a melody (one given note per step, silence above it), so that the weights and
  resampling of the SMC sampler do their work."""

  params = model.init_params(jax.random.key(0), config.model)
  n = config.data.num_notes
  mask = np.zeros((samples, num_steps, n, 2), bool)
  values = np.zeros_like(mask)
  if particles > 1:
    melody = (2 * n // 3 + np.round(4 * np.sin(np.arange(num_steps) / 6))).astype(int)
    for t, note in enumerate(melody):
      mask[:, t, note:] = True
      values[:, t, note, 0] = True
      values[:, t, note, 1] = t % 4 == 0
  plan = plans.free_plan(samples, num_steps, n, mask_SxTxNx2=mask, values_SxTxNx2=values,
                           style_SxY=np.zeros((samples, len(config.model.styles)), np.float32))
  plan = plan._replace(context_SxTxC=np.tile(np.array([0, 1, 8], np.int32), (samples, num_steps, 1)))
  args = (params, jax.random.key(0), plan, sampler.Controls(jnp.float32(1), jnp.float32(1), jnp.float32(0)))
  kwargs = dict(config=config.model, lowest=config.data.lowest, search=sampler.Search(particles=particles))
  start = time.perf_counter()
  compiled = sampler.sample.lower(*args, **kwargs).compile()
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  seconds = min(times)
  rows = samples * particles
  flops = flops_per_cell(config) * rows * config.data.num_notes * num_steps
  return {'batch': samples, 'particles': particles, 'num_steps': num_steps, 'compile_s': compile_s,
          'seconds': seconds, 'ms_per_step': 1e3 * seconds / num_steps, 'gflops': flops / seconds / 1e9}


def matmul_gflops(size: int = 2048, repeats: int = 5, dtype: str = 'float32') -> float:
  """This machine's matmul rate through XLA: float32, or bfloat16 operands with float32 accumulation (what the
  precision policy uses; with AMX the real ceiling)."""
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32).astype(dtype)
  f = jax.jit(lambda x: jnp.matmul(x, x, preferred_element_type=jnp.float32))
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * size ** 3 / min(times) / 1e9


def _matmuls_of_lstm_cell(layer: dict, state, gates_in_Bx4H):
  """`lstm.lstm_cell`'s matmul and nothing else of note: a scaled slice of the gates keeps the recurrence bounded
  (no overflow, no denormals), so the time left is the matmuls' and the scan's own."""
  _, h = state
  h = (gates_in_Bx4H + lstm.dot(h, layer['w_rec']))[:, :h.shape[-1]] * 0.25
  return (h, h), h


def _gates_of_skeleton(gates_Bx4H, c_BxH):
  """The bfloat16 layer's cell reduced the same way (`lstm.bf16_layer`: its own gradient, below)."""
  h = gates_Bx4H[..., :c_BxH.shape[-1]] * 0.25
  return (h, h), ()


def _gates_of_skeleton_backward(residuals, cotangents):
  del residuals
  dc, dh = cotangents
  d = (dc + dh) * 0.25
  return jnp.pad(d, ((0, 0), (0, 3 * d.shape[-1]))), jnp.zeros_like(d)


def measure_skeleton(config: config_lib.Config, repeats: int) -> float:
  """Median step time of the train step with every LSTM cell reduced to its matmuls (same shapes, same scans)."""
  with mock.patch.object(lstm, 'lstm_cell', _matmuls_of_lstm_cell), \
       mock.patch.object(lstm, '_gates_forward', _gates_of_skeleton), \
       mock.patch.object(lstm, '_gates_backward', _gates_of_skeleton_backward):
    return measure(config, repeats)['step_s']


def measure(config: config_lib.Config, repeats: int) -> dict:

  b, t, n = config.train.batch_size, config.data.seq_len, config.data.num_notes
  rng = np.random.default_rng(0)
  play = (rng.random((b, t, n)) < 0.05).astype(np.uint8)
  batch = Batch(np.stack([play, play], -1), np.tile(np.arange(t) % 16, (b, 1)).astype(np.int32),
                np.ones((b, t), np.float32), np.zeros(b, np.int32), np.zeros(b, np.int32),
                np.tile(np.array([0, 1, 8], np.int32), (b, t, 1)), np.zeros((b, len(config.model.styles)), np.float32),
                np.zeros((b, t, n), np.uint8), np.zeros((b, t, n), np.uint8))
  mesh = mesh_lib.make_mesh()
  optimizer = train.make_optimizer(config.train)
  state = train.init_state(config, optimizer, NamedSharding(mesh, P()))
  step = jax.jit(lambda s, x, k: train.train_step(s, x, k, config=config, optimizer=optimizer), donate_argnums=0)
  batch = mesh_lib.to_global(batch, NamedSharding(mesh, P('data')))
  key = jax.random.key(0)
  start = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch, key)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, key)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  step_s = statistics.median(times)
  peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak so far (configs grow)
  flops = 3 * flops_per_cell(config) * b * t * n  # forward once, backward about twice (the usual 3x)
  return {'params': model.count_params(state['params']), 'batch': b, 'seq_len': t, 'compile_s': compile_s,
          'step_s': step_s, 'steps_per_s': 1 / step_s, 'cells_per_s': b * t * n / step_s, 'tflop_per_step':
          flops / 1e12, 'gflops': flops / step_s / 1e9, 'peak_rss_mb': peak_rss_mb}


def main(argv):
  host_memory.keep_freed_memory()  # this script's choice, before XLA's threads first allocate (host_memory)
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  overrides = {}
  if _BATCH_SIZE.value is not None:
    overrides['train.batch_size'] = str(_BATCH_SIZE.value)
  if _SEQ_LEN.value is not None:
    overrides['data.seq_len'] = str(_SEQ_LEN.value)
  if _HOIST.value != 'config':
    overrides['model.hoist_input_projection'] = _HOIST.value
  if _MATMUL_DTYPE.value != 'config':
    overrides['model.matmul_dtype'] = _MATMUL_DTYPE.value
  if _UNROLL.value is not None:
    overrides['model.scan_unroll'] = str(_UNROLL.value)
  if _CUDNN.value != 'config':
    overrides['model.time_axis_cudnn'] = _CUDNN.value
  if _REPEATS.value < 1:
    cli.fail(f'--repeats must be >= 1, got {_REPEATS.value}')
  for flag in (_GENERATE, _PARTICLES):
    if not all(b.isdigit() and int(b) >= 1 for b in flag.value):
      cli.fail(f'--{flag.name}: expected positive integers, got {",".join(flag.value)}')
  if _GENERATE_STEPS.value < 1:
    cli.fail(f'--generate_steps must be >= 1, got {_GENERATE_STEPS.value}')
  try:
    configs = {name: config_lib.override(config_lib.load_config_file(name), overrides) for name in _CONFIGS.value}
  except config_lib.ConfigError as e:
    cli.fail_with(e, code=2)
  if any(c.model.time_axis_cudnn for c in configs.values()) and not cudnn_lstm.available():
    cli.fail('--time_axis_cudnn: needs a GPU (cuDNN); jax has none here')
  generate_batches = [int(b) for b in _GENERATE.value]  # checked above, before anything is compiled
  # A shared machine's speed drifts (this 2-core VM's matmul rate varies 80-200 GFLOP/s from minute to minute), so
  # the rate is sampled between measurements and the best sample is the ceiling every ratio is taken against.
  rates = [matmul_gflops()]
  results = {'platform': jax.devices()[0].platform, 'device_kind': jax.devices()[0].device_kind,
             'devices': jax.device_count(), 'jax': jax.__version__, 'configs': {}}
  for name, config in configs.items():
    r = measure(config, _REPEATS.value)
    if _SKELETON.value:
      r['skeleton_step_s'] = measure_skeleton(config, _REPEATS.value)
    rates.append(matmul_gflops())
    r['generation'] = [measure_generation(config, b, _GENERATE_STEPS.value, _REPEATS.value) for b in generate_batches]
    r['generation'] += [measure_generation(config, 1, _GENERATE_STEPS.value, _REPEATS.value, particles=int(k))
                        for k in _PARTICLES.value]
    results['configs'][name] = r
  ceiling = max(rates)
  bf16_ceiling = max(matmul_gflops(dtype='bfloat16') for _ in range(2))
  results.update(matmul_gflops=ceiling, matmul_gflops_samples=rates, bf16_matmul_gflops=bf16_ceiling)

  print(f'{results["platform"]} ({results["device_kind"]}) x{results["devices"]}, jax {jax.__version__}; '
        'float32 matmul (2048^3, XLA): best '
        f'{ceiling:.1f} GFLOP/s of {len(rates)} samples ({min(rates):.1f} at worst); bfloat16 operands, float32 '
        f'accumulation: {bf16_ceiling:.1f}')
  print(f'{"config":>8} {"params":>10} {"batch":>9} {"compile s":>10} {"step s":>8} {"steps/s":>8} '
        f'{"Mcells/s":>9} {"TFLOP/step":>10} {"GFLOP/s":>8} {"of matmul":>9} {"of bf16":>8} {"peak RSS MB":>11}'
        + (f' {"skeleton s":>10} {"of matmul":>9}' if _SKELETON.value else ''))
  for name, r in results['configs'].items():
    r['fraction_of_matmul'] = r['gflops'] / ceiling
    r['fraction_of_bf16_matmul'] = r['gflops'] / bf16_ceiling
    line = (f'{name:>8} {r["params"]:>10,} {r["batch"]:>4}x{r["seq_len"]:<4} {r["compile_s"]:>10.2f} '
            f'{r["step_s"]:>8.3f} {r["steps_per_s"]:>8.2f} {r["cells_per_s"] / 1e6:>9.3f} {r["tflop_per_step"]:>10.3f} '
            f'{r["gflops"]:>8.1f} {r["fraction_of_matmul"]:>9.0%} {r["fraction_of_bf16_matmul"]:>8.0%} '
            f'{r["peak_rss_mb"]:>11.0f}')
    if _SKELETON.value:
      r['skeleton_fraction_of_matmul'] = r['tflop_per_step'] * 1e3 / r['skeleton_step_s'] / ceiling
      line += f' {r["skeleton_step_s"]:>10.3f} {r["skeleton_fraction_of_matmul"]:>9.0%}'
    print(line)
  if generate_batches or _PARTICLES.value:
    print(f'\ngeneration of {_GENERATE_STEPS.value} steps (best of {_REPEATS.value}, after compilation):')
    print(f'{"config":>8} {"samples":>8} {"particles":>9} {"compile s":>10} {"wall s":>8} {"ms/step":>8} '
          f'{"GFLOP/s":>8} {"of matmul":>9}')
  for name, r in results['configs'].items():
    for g in r['generation']:
      g['fraction_of_matmul'] = g['gflops'] / ceiling
      print(f'{name:>8} {g["batch"]:>8} {g["particles"]:>9} {g["compile_s"]:>10.2f} {g["seconds"]:>8.3f} '
            f'{g["ms_per_step"]:>8.2f} {g["gflops"]:>8.1f} {g["fraction_of_matmul"]:>9.0%}')
  if _OUTPUT.value:
    with open(_OUTPUT.value, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  app.run(cli.full_disk_is_one_line(main), flags_parser=cli.parse_flags)
