r"""Trains the biaxial model; re-running the same command on the same workdir resumes.

  python experiments/train.py --config=biaxial_jax/configs/small.py --workdir=runs/small \
      [--config.train.batch_size=16 --config.model.time_sizes=200,200 ...]

Multi-host: add --coordinator_address=HOST:PORT --num_processes=N --process_id=I on every host.
"""

from absl import app, flags

from biaxial_jax import cli, host_memory
from biaxial_jax import config as config_lib

_CONFIG = flags.DEFINE_string('config', 'small', 'A config file defining get_config(), or a name in '
                              'biaxial_jax/configs (default, small, tiny).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints and metrics go; an existing run there resumes.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None, 'Multi-host: HOST:PORT of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Multi-host: number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'Multi-host: index of this process in [0, num_processes).')
flags.mark_flag_as_required('workdir')

def parse_flags(argv: list[str]) -> list[str]:
  """absl's flags, the `--config.*` overrides left in the arguments that `main` receives."""
  rest, overrides = cli.split_config_overrides(argv)
  return cli.parse_flags(rest) + [f'--config.{path}={value}' for path, value in overrides.items()]


def _check_coordinator(address: str):
  """host:port that resolves, checked before jax waits for it (a bad one made jax hang)."""
  import socket  # pylint: disable=import-outside-toplevel
  host, _, port = address.rpartition(':')
  if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
    cli.fail(f'--coordinator_address: expected host:port with a port in [1, 65535], got {address!r}')
  try:
    socket.getaddrinfo(host.strip('[]'), int(port))
  except OSError as e:
    cli.fail(f'--coordinator_address: {host} does not resolve ({e.strerror or e})')


def main(argv):
  argv, overrides = cli.split_config_overrides(argv)
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  distributed = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if any(v is not None for v in distributed) and not all(v is not None for v in distributed):
    cli.fail('--coordinator_address, --num_processes and --process_id go together')
  if _NUM_PROCESSES.value is not None and not 0 <= _PROCESS_ID.value < _NUM_PROCESSES.value:
    cli.fail(f'--process_id: {_PROCESS_ID.value} is not in [0, --num_processes={_NUM_PROCESSES.value})')
  if _COORDINATOR.value:
    _check_coordinator(_COORDINATOR.value)
  try:
    config = config_lib.override(config_lib.load_config_file(_CONFIG.value), overrides)
  except config_lib.ConfigError as e:
    cli.fail_with(e, code=2)

  cli.quiet_library_logs()
  cli.compile_once_per_machine()
  try:
    host_memory.keep_freed_memory()  # this script's choice, before XLA's threads first allocate (host_memory)
    import jax  # pylint: disable=import-outside-toplevel  # after flag checks: a typo costs no jax start-up
    if _COORDINATOR.value:
      jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    from biaxial_jax import train  # pylint: disable=import-outside-toplevel
    from biaxial_jax.music.piece import BiaxialError  # pylint: disable=import-outside-toplevel
    try:
      metrics = train.train_and_evaluate(config, _WORKDIR.value)
    except BiaxialError as e:  # a config that only the devices or the data refute
      cli.fail_with(e)
  except KeyboardInterrupt:  # before the run could save (starting up), or a second Ctrl-C: stop at once
    cli.fail(f'interrupted: the checkpoints already in {_WORKDIR.value} are kept; run the same command to resume',
             code=130)
  if metrics:
    print('valid: ' + ', '.join(f'{k} {v:.4f}' for k, v in metrics.items()))


if __name__ == '__main__':
  try:
    app.run(main, flags_parser=parse_flags)
  except KeyboardInterrupt:  # while starting up, before the run installs its own handling
    cli.fail('interrupted while starting: nothing was trained or saved', code=130)
