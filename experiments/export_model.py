r"""Exports a training workdir's newest checkpoint as a small self-describing model folder (parameters only).

  python experiments/export_model.py --workdir=runs/small --output_dir=biaxial_jax/pretrained/bach \
      --command="python experiments/train.py --config=small --workdir=runs/small"
"""

import json
import os

from absl import app, flags

from biaxial_jax import cli
from biaxial_jax import pretrained
from biaxial_jax.checkpoint import CheckpointError, load_config
from biaxial_jax.music.files import atomic_path
from biaxial_jax.train import read_metrics

_WORKDIR = flags.DEFINE_string('workdir', None, 'The training workdir to export.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where model.json and params.npz go.')
_COMMAND = flags.DEFINE_string('command', '', 'The command that trained it, kept in model.json.')
_BEST = flags.DEFINE_boolean('best', False, 'Export the checkpoint with the lowest valid NLL instead of the newest.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False, 'Replace an existing export.')


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _WORKDIR.value or not os.path.isdir(_WORKDIR.value):
    cli.fail(f'--workdir: {_WORKDIR.value}: no such folder' if _WORKDIR.value else '--workdir is required')
  if not _OUTPUT_DIR.value:
    cli.fail('--output_dir is required')
  existing = [f for f in ('model.json', 'params.npz', 'training_log.jsonl')
              if os.path.exists(os.path.join(_OUTPUT_DIR.value, f))]
  if existing and not _OVERWRITE.value:
    cli.fail(f'--output_dir: {_OUTPUT_DIR.value} holds {existing[0]}; pass --overwrite')
  cli.writable_dir('--output_dir', _OUTPUT_DIR.value)
  cli.quiet_library_logs()

  try:
    _, step = load_config(_WORKDIR.value, _BEST.value)
    records = read_metrics(_WORKDIR.value)
    valid = next((r for r in reversed(records) if r['split'] == 'valid' and r['step'] == step), {})
    info = {'command': _COMMAND.value, 'valid': {k: v for k, v in valid.items() if k not in ('split', 'time')}}
    path = pretrained.export_params(_WORKDIR.value, _OUTPUT_DIR.value, info, _BEST.value)
  except CheckpointError as e:
    cli.fail(f'--workdir: {e}', code=1)
  with atomic_path(os.path.join(path, 'training_log.jsonl')) as tmp, open(tmp, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)  # the whole curve, past the exported step too
  print(f'exported step {step} of {_WORKDIR.value} to {path}, with its training log')


if __name__ == '__main__':
  app.run(cli.full_disk_is_one_line(main), flags_parser=cli.parse_flags)
