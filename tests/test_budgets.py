"""Sizes taken from files, flags and configs are checked before memory is asked for; records cannot lie."""

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from flax import nnx
from music21 import note, stream, tempo

import biaxial_jax as bj
from biaxial_jax.checkpoint import CheckpointError
from biaxial_jax.config import Config, ModelConfig
from biaxial_jax.flax_module import BiaxialLSTM
from biaxial_jax.music import files

BACH = os.path.join(os.path.dirname(bj.__file__), 'pretrained', 'bach')


def _npz_claiming(path, shape, dtype='|b1', arrays=('mask', 'values')):
  """An .npz whose arrays' headers claim `shape` and hold no data."""
  with zipfile.ZipFile(path, 'w') as z:
    for name in arrays:
      header = io.BytesIO()
      np.lib.format.write_array_header_1_0(header, {'descr': dtype, 'fortran_order': False, 'shape': shape})
      z.writestr(f'{name}.npy', header.getvalue())  # the magic and header, no data
  return path


def test_an_npz_is_sized_by_its_headers_before_anything_is_inflated(tmp_path):
  with pytest.raises(ValueError, match='mask is 1000000000000x78x2: 156,000,000,000,000 elements, over the limit'):
    files.read_npz(_npz_claiming(tmp_path / 'huge.npz', (10**12, 78, 2)), ('mask', 'values'), 10**6)
  with pytest.raises(ValueError, match='mask is truncated'):
    files.read_npz(_npz_claiming(tmp_path / 'empty.npz', (4, 78, 2)), ('mask', 'values'), 10**6)
  with pytest.raises(ValueError, match="no array 'values'"):
    files.read_npz(_npz_claiming(tmp_path / 'one.npz', (0, 78, 2), arrays=('mask',)), ('mask', 'values'), 10**6)
  with pytest.raises(ValueError, match='a bool or integer array'):
    files.read_npz(_npz_claiming(tmp_path / 'f.npz', (4,), dtype='<f8'), ('mask', 'values'), 10**6)
  mask = np.zeros((4, 78, 2), bool)
  mask[1, 3, 0] = True
  np.savez(tmp_path / 'ok.npz', mask=mask, values=mask)
  got_mask, got_values = files.read_npz(tmp_path / 'ok.npz', ('mask', 'values'), 10**6)
  np.testing.assert_array_equal(got_mask, mask)
  np.testing.assert_array_equal(got_values, mask)


def test_json_records_are_bounded_in_depth_and_size(tmp_path):
  deep = tmp_path / 'deep.json'
  deep.write_text('[' * 200_000 + ']' * 200_000)
  with pytest.raises(ValueError, match='nests deeper than 32 levels'):
    files.read_json(deep)
  assert files.loads_bounded('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[1]]}') == {
      'a': '[' * 40, 'b': [[1]]}  # brackets inside strings do not nest
  big = tmp_path / 'big.json'
  big.write_text(json.dumps({'a': 'x' * 2_000_000}))
  with pytest.raises(ValueError, match='over 1,048,576 bytes'):
    files.read_json(big)


def _export_copy(tmp_path, edit):
  folder = tmp_path / 'export'
  shutil.copytree(BACH, folder)
  record = json.loads((folder / 'model.json').read_text())
  (folder / 'model.json').write_text(edit(record))
  return folder


def test_an_export_record_must_carry_its_digest_and_stay_shallow(tmp_path):
  def without_digest(record):
    record['config']['data']['steps_per_quarter'] = 10**9
    del record['record_sha256']
    return json.dumps(record)

  with pytest.raises(CheckpointError, match='no digest of its own'):
    bj.load_checkpoint(_export_copy(tmp_path / 'a', without_digest))
  with pytest.raises(CheckpointError, match='nests deeper'):
    bj.load_checkpoint(_export_copy(tmp_path / 'b', lambda record: '[' * 200_000 + ']' * 200_000))


@pytest.mark.parametrize('section, field, value, message', [
    ('data', 'steps_per_quarter', 10**9, r'must be in \[1, 96\]'),
    ('model', 'time_sizes', [10**9], r'sizes in \[1, 8192\]'),
    ('model', 'note_sizes', [8] * 100, 'need 1 to 16 sizes'),
    ('train', 'batch_size', 10**9, 'must be <= 65536'),
])
def test_config_sizes_that_decide_allocations_are_bounded(section, field, value, message):
  record = Config().to_dict()
  record[section][field] = value
  with pytest.raises(bj.ConfigError, match=message) as raised:
    Config.from_dict(record)
  assert raised.value.field == f'{section}.{field}'


def test_a_length_over_the_limit_names_what_set_it(shipped_bach):
  with pytest.raises(bj.GenerationError, match='10000 bars would be 160,000 steps long') as raised:
    shipped_bach.constraints(bj.Request(num_bars=10_000))
  assert raised.value.field == 'num_bars'
  with pytest.raises(bj.GenerationError, match='the phrases would be 160,000 steps long') as raised:
    shipped_bach.constraints(bj.Request(phrases=(5000, 5000)))
  assert raised.value.field == 'phrases'
  with pytest.raises(bj.GenerationError, match='phrases: 10,000,000 bars in all'):
    bj.Request(phrases=(10_000,) * 1000)  # refused before any bar line is laid out


def test_a_tempo_is_one_midi_can_hold(tmp_path):
  for qpm in (1.0, 3.0, 1e-300, float('nan'), 1e9):
    with pytest.raises(ValueError, match='what MIDI can hold'):
      bj.Tempo(0, qpm)
  slow = stream.Score([stream.Part([tempo.MetronomeMark(number=1), note.Note('C4', quarterLength=4)])])
  path = slow.write('musicxml', fp=str(tmp_path / 'slow.musicxml'))
  with pytest.raises(bj.BiaxialError, match='slow.musicxml: .*what MIDI can hold'):
    bj.read_piece(path)


@pytest.mark.parametrize('fields, field', [(dict(time_sizes=(0,)), 'model.time_sizes'),
                                           (dict(note_sizes=()), 'model.note_sizes'),
                                           (dict(dropout=2.0), 'model.dropout')])
def test_the_flax_module_checks_its_config(fields, field):
  with pytest.raises(bj.ConfigError) as raised:
    BiaxialLSTM(ModelConfig(**fields), rngs=nnx.Rngs(params=0))
  assert raised.value.field == field


def test_too_many_cells_is_named_as_what_was_asked_for(shipped_bach):
  with pytest.raises(bj.GenerationError, match='1,916,928,000 cells, over the limit of 268,435,456') as raised:
    shipped_bach.generate(bj.Request(num_steps=6000), bj.Controls(particles=4096))
  assert raised.value.field == 'particles'
