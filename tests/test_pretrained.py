"""Exported models read back only as written: the record and the parameters under digests, the arrays checked
against the config before a byte of data is read, the values finite; anything else is one error naming the folder."""

import json
import zipfile

import jax
import numpy as np
import pytest

from biaxial_jax import checkpoint, model, pretrained
from biaxial_jax.config import Config, DataConfig, ModelConfig

CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(8,), note_sizes=(6,)))


@pytest.fixture
def export(tmp_path):
  params = model.init_params(jax.random.key(0), CONFIG.model)
  return pretrained.write_export(str(tmp_path / 'export'), CONFIG, params, 12, {'command': 'test'}), params


def edit_record(folder, change):
  path = f'{folder}/model.json'
  record = json.load(open(path))
  change(record)
  json.dump(record, open(path, 'w'))


def rewrite_member(folder, name, data, compress=zipfile.ZIP_DEFLATED):
  path = f'{folder}/params.npz'
  with zipfile.ZipFile(path) as z:
    members = {info.filename: z.read(info) for info in z.infolist()}
  members[name] = data
  with zipfile.ZipFile(path, 'w', compress) as z:
    for member, content in members.items():
      z.writestr(member, content)


def npy_header(shape, dtype='<f4'):
  header = repr({'descr': dtype, 'fortran_order': False, 'shape': tuple(shape)}).encode()
  header += b' ' * (63 - (len(header) + 10) % 64) + b'\n'
  return b'\x93NUMPY\x01\x00' + len(header).to_bytes(2, 'little') + header


def test_an_export_reads_back_exactly(export):
  folder, params = export
  config, loaded, step, record = pretrained.load_export(folder)
  assert config == CONFIG and step == 12 and record['command'] == 'test'
  assert checkpoint.digest(loaded) == checkpoint.digest(params)


@pytest.mark.parametrize('damage, message', [
    (lambda f: edit_record(f, lambda r: r['config']['data'].update(lowest=46)), 'model.json does not match its digest'),
    (lambda f: edit_record(f, lambda r: r.update(step=1.5)), 'does not match its digest'),
    (lambda f: edit_record(f, lambda r: (r.update(step='x'), r.pop('record_sha256'))), 'no digest of its own'),
    (lambda f: edit_record(f, lambda r: (r.update(step='x'), r.update(record_sha256=pretrained._record_digest(r)))),  # pylint: disable=protected-access
     'step must be a whole number'),
    (lambda f: rewrite_member(f, "['out']['w'].npy", npy_header((10**6, 10**6)) + b'\0' * 64),
     "declares .* more than|config asks for"),
    (lambda f: rewrite_member(f, "['out']['w'].npy", npy_header((6, 3)) + b'\0' * 72), r"is float32\[6, 3\], the config"),
    (lambda f: rewrite_member(f, "['out']['w'].npy", npy_header((6, 2)) + b'\0' * 10**8), 'declares 100,000,128 bytes, more than its 48'),
    (lambda f: rewrite_member(f, "['out']['w'].npy", b'PK not an array'), 'not a readable model export'),
    (lambda f: open(f'{f}/params.npz', 'wb').write(b'\0' * 100), 'not a readable model export'),
])
def test_damaged_or_hostile_exports_are_one_error_naming_the_folder(export, damage, message):
  folder, _ = export
  damage(folder)
  with pytest.raises(checkpoint.CheckpointError, match=message) as error:
    pretrained.load_export(folder)
  assert folder in str(error.value) and '\n' not in str(error.value)


def test_non_finite_parameters_with_a_matching_digest_are_refused(tmp_path):
  params = model.init_params(jax.random.key(0), CONFIG.model)
  params['out']['b'] = np.array([np.nan, 0.0], np.float32)
  folder = pretrained.write_export(str(tmp_path / 'nan'), CONFIG, params, 3)
  with pytest.raises(checkpoint.CheckpointError, match='NaN or infinity'):
    pretrained.load_export(folder)
