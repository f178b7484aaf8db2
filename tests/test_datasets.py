"""Data sets: MIDI folders that skip bad files, the safe benchmark loader, the embedded Bach chorales and their cache."""

import json
import os
import pickle
import time

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.music import dataset, scores
from tests.midi_util import STEP, make_midi

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data')


def test_midi_folder_skips_and_reports_bad_files(tmp_path):
  for i in range(12):
    make_midi(tmp_path / 'sub' / f'good{i}.mid' if i % 2 else tmp_path / f'good{i}.mid', [(0, 4 * STEP, 60 + i)])
  (tmp_path / 'broken.mid').write_bytes(b'MThd garbage')
  make_midi(tmp_path / 'drums.midi', [(0, STEP, 36, 9)])
  (tmp_path / 'notes.txt').write_text('not midi, ignored')
  data = bj.load_dataset(str(tmp_path))
  assert len(data.train) + len(data.valid) + len(data.test) == 12
  assert sorted(os.path.basename(p) for p, _ in data.skipped) == ['broken.mid', 'drums.midi']
  assert 'only drum' in dict(data.skipped)[str(tmp_path / 'drums.midi')]
  assert '2 files skipped' in data.summary()


def test_split_is_by_stable_hash_not_load_order():
  assert dataset.split_of('bach/bwv269') == dataset.split_of('bach/bwv269')
  counts = {s: 0 for s in dataset.SPLITS}
  for i in range(2000):
    counts[dataset.split_of(f'piece{i}')] += 1
  assert 1450 < counts['train'] < 1750 and 120 < counts['valid'] < 280 and 120 < counts['test'] < 280


def test_benchmark_json_fills_articulation_at_onsets(tmp_path):
  path = tmp_path / 'tiny.json'
  path.write_text(json.dumps({'train': [[[60, 64], [60], [], [60]]], 'valid': [[[40]]], 'test': [[[107.0]]]}))
  data = bj.load_dataset(str(path), grid=bj.Grid(21, 88, 1))
  roll = data.train[0].roll
  assert roll[:, 60 - 21].tolist() == [[1, 1], [1, 0], [0, 0], [1, 1]]
  assert roll[:, 64 - 21].tolist() == [[1, 1], [0, 0], [0, 0], [0, 0]]
  assert data.test[0].roll[0, 107 - 21].tolist() == [1, 1]


class Evil:
  def __reduce__(self):
    return (os.system, ('echo hacked > /dev/null',))


@pytest.mark.parametrize('payload, message', [
    (pickle.dumps({'train': [Evil()], 'valid': [], 'test': []}), 'refused opcode STACK_GLOBAL'),
    (pickle.dumps({'train': [], 'valid': []}), 'expected a dict with keys'),
    (pickle.dumps({'train': [[[200]]], 'valid': [], 'test': []}), 'not a MIDI note number'),
    (pickle.dumps({'train': [[60]], 'valid': [], 'test': []}), 'not a list of MIDI note numbers'),
    (b'\x80\x02garbage', 'not a readable benchmark file'),
    # a dict key nested 140,000 tuples deep (one byte a level) segfaulted the interpreter when hashed
    (b'\x80\x02}N' + b'\x85' * 140_000 + b'K\x01s.', 'values nested more than 64 deep'),
    (b'\x80\x02' + b']' * 200_000 + b'a' * 199_999 + b'.', 'values nested more than 64 deep'),
    (b'\x80\x02\x8b' + (5000).to_bytes(4, 'little') + b'\x01' * 5000 + b'.', 'an integer of 39993 bits'),
    (pickle.dumps({'train': [[[10**1000]]], 'valid': [], 'test': []}), 'an integer of 3322 bits'),
    (pickle.dumps({'train': [], 'valid': [], 'test': []}), 'holds no pieces'),
    (pickle.dumps({('x',) * 3: 1}), "expected a dict with keys .* with keys \\('x', 'x', 'x'\\)"),
])
def test_benchmark_pickle_is_loaded_safely(tmp_path, payload, message):
  path = tmp_path / 'bad.pickle'
  path.write_bytes(payload)
  with pytest.raises(bj.DatasetError, match=message):
    bj.load_dataset(str(path))


def test_benchmark_json_with_huge_or_deep_values_is_one_clear_error(tmp_path):
  for name, text, message in (('empty.json', '{"train": [], "valid": [], "test": []}', 'holds no pieces'),
                              ('deep.json', '{"train": ' + '[' * 100_000 + ']' * 100_000 + '}',
                               'not a readable benchmark file'),
                              ('wide.json', '{"train": [[[' + '9' * 4000 + ']]], "valid": [], "test": []}',
                               r'holds 9999.*\.\.\..*not a MIDI note number')):
    (tmp_path / name).write_text(text)
    with pytest.raises(bj.DatasetError, match=message) as error:
      bj.load_dataset(str(tmp_path / name))
    assert len(str(error.value)) < 400


def test_unknown_dataset_name_is_a_clear_error():
  with pytest.raises(bj.DatasetError, match="'bach_chorale': not a known data set"):
    bj.load_dataset('bach_chorale')


@pytest.mark.skipif(not os.path.isdir(SHARED), reason='../shared/data is absent')
@pytest.mark.parametrize('name, splits, spq', [('jsb_chorales_bl2012.pickle', (229, 76, 77), 1),
                                                 ('nottingham_bl2012.pickle', (694, 173, 170), 2),
                                                 ('jsb_chorales_16th_satb.json', (229, 76, 77), 4)])
def test_shared_benchmark_files_load(name, splits, spq):
  data = bj.load_dataset(os.path.join(SHARED, name), grid=bj.Grid(21, 88, spq),
                         out_of_range='error')
  assert (len(data.train), len(data.valid), len(data.test)) == splits
  assert all(p.roll[..., 0].any() for p in data.test)


def test_real_chorales_keep_ties_pickups_and_meter():
  from music21 import corpus
  piece = scores.score_to_piece(corpus.parse('bach/bwv269'), 'bach/bwv269')
  assert [(m.step, m.numerator, m.denominator) for m in piece.time_signatures] == [(0, 1, 4), (4, 3, 4)]
  assert piece.bar_position[:5].tolist() == [8, 9, 10, 11, 0]
  soprano_g = piece.roll[:, 67 - 24]  # G4 opens the soprano: a quarter, then a half note on the same pitch
  assert soprano_g[:12].tolist() == [[1, 1]] + [[1, 0]] * 3 + [[1, 1]] + [[1, 0]] * 7
  polyphony = piece.roll[..., 0].sum(axis=1)
  assert polyphony.max() == 4 and np.median(polyphony) == 4


def test_chorales_bring_their_key_and_fermatas():
  from music21 import corpus
  piece = scores.score_to_piece(corpus.parse('bach/bwv103.6'), 'bach/bwv103.6')
  assert piece.key == bj.Key(11, False)  # B minor, as notated
  assert piece.phrase_ends == (32, 64, 96, 128, 160, 192)  # six fermatas, each ending a two-bar phrase


def test_bach_chorales_build_once_then_load_from_cache(tmp_path, monkeypatch):
  from music21 import corpus
  files = sorted(set(corpus.chorales.Iterator(returnType='filename')))[:6]
  monkeypatch.setenv('BIAXIAL_JAX_CACHE', str(tmp_path))
  monkeypatch.setattr(corpus.chorales, 'Iterator', lambda **_: iter(files))
  first = bj.load_dataset('bach_chorales')
  assert len(os.listdir(tmp_path)) == 1
  monkeypatch.setattr(corpus, 'parse', lambda *_: pytest.fail('parsed again instead of using the cache'))
  start = time.perf_counter()
  second = bj.load_dataset('bach_chorales')
  assert time.perf_counter() - start < 5
  for split in dataset.SPLITS:
    assert first.split(split) == second.split(split)
  assert sum(len(first.split(s)) for s in dataset.SPLITS) == 6
