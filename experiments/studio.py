r"""The studio: harmonize, compose and regenerate regions in the browser, the model loaded once and kept warm.

  pip install -e ".[studio]"
  python experiments/studio.py --checkpoint=bach          # then open the printed URL

It serves on 127.0.0.1 unless --host says otherwise; the page and its HTTP API are described in
biaxial_jax/studio/app.py (`POST /api/harmonize` with a `melody` file answers JSON with `musicxml` and `midi`).
"""

import time

from absl import app, flags

from biaxial_jax import cli
from biaxial_jax.checkpoint import CheckpointError
from biaxial_jax.generation import load_checkpoint
from biaxial_jax.pretrained import SHIPPED

_CHECKPOINT = flags.DEFINE_string('checkpoint', 'bach', 'A training workdir, an exported model folder, or a shipped '
                                  f"model's name ({', '.join(SHIPPED)}).")
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on (127.0.0.1: this machine only).')
_PORT = flags.DEFINE_integer('port', 8765, 'Port to listen on.', lower_bound=1, upper_bound=65535)
_WARM_UP = flags.DEFINE_boolean('warm_up', True, 'Before serving, harmonize, redraw and compose a few bars once, so '
                                'that the first request of that size does not wait for the compiler.')


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  try:
    from biaxial_jax.studio.app import create_app  # pylint: disable=import-outside-toplevel  # the optional extra
    from biaxial_jax.studio.service import Studio  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    cli.fail(f'the studio needs its extra: pip install -e ".[studio]" ({e})')
  cli.quiet_library_logs()
  cli.compile_once_per_machine()
  cli.sample_on_every_core()
  try:
    composer = load_checkpoint(_CHECKPOINT.value)
  except CheckpointError as e:
    cli.fail(f'--checkpoint: {e}', code=1)
  studio = Studio(composer)
  if _WARM_UP.value:
    start = time.perf_counter()
    print('studio: compiling the sampler (loaded from the cache after the first time on this machine)', flush=True)
    studio.warm_up()
    print(f'studio: warm in {time.perf_counter() - start:.0f} s', flush=True)
  print(f'studio: {_CHECKPOINT.value} (step {composer.step}) at http://{_HOST.value}:{_PORT.value}/', flush=True)
  create_app(studio).run(host=_HOST.value, port=_PORT.value, threaded=True)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
