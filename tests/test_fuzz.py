"""Hostile input: random bytes, truncations, mutations and absurd headers give a Piece or the package's own error,
never another exception, never a hang, and memory in proportion to the file."""

import pickle
import struct
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import biaxial_jax as bj
from biaxial_jax.music import dataset, scores
from biaxial_jax.music.corpus import load_bach_chorales
from tests.midi_util import STEP, make_midi

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope='module')
def real_file(tmp_path_factory):
  """A small but real type-1 file: two tracks, meter and tempo changes, chords, repeats, a drum note."""
  path = tmp_path_factory.mktemp('real') / 'real.mid'
  notes = [(0, 4 * STEP, 60), (0, 4 * STEP, 64), (4 * STEP, 8 * STEP, 60), (8 * STEP, 14 * STEP, 67, 1),
           (14 * STEP, 16 * STEP, 36, 9)]
  make_midi(path, notes, meters=[(0, 4, 4), (8 * STEP, 3, 4)], tempos=[(0, 100), (4 * STEP, 80)])
  return path.read_bytes()


def read_bytes(tmp_path, data: bytes, name='fuzz.mid'):
  """Reads `data` as a MIDI file; returns the Piece or the MidiReadError, checking time and memory on the way."""
  path = tmp_path / name
  path.write_bytes(data)
  tracemalloc.start()
  start = time.perf_counter()
  try:
    result = bj.read_midi(path)
  except bj.MidiReadError as e:
    assert str(path) in str(e) and '\n' not in str(e)
    result = e
  finally:
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
  assert elapsed < 5, f'{elapsed:.1f} s for {len(data)} bytes'
  assert peak < 2_000_000 + 500_000 * len(data), f'{peak} bytes for a file of {len(data)}'
  return result


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes(tmp_path, data):
  read_bytes(tmp_path, data)


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_behind_a_valid_header(tmp_path, data):
  read_bytes(tmp_path, b'MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk' + struct.pack('>I', len(data)) + data)


def test_every_truncation_of_a_real_file(tmp_path, real_file):
  results = [read_bytes(tmp_path, real_file[:n]) for n in range(len(real_file) + 1)]
  assert isinstance(results[-1], bj.Piece)
  assert all(isinstance(r, bj.MidiReadError) for r in results[:14])  # nothing but a header: never a Piece


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.booleans()), min_size=1, max_size=8))
def test_bit_flips_and_byte_mutations_of_a_real_file(tmp_path, real_file, edits):
  data = bytearray(real_file)
  for position, value, flip in edits:
    position %= len(data)
    data[position] = data[position] ^ (1 << (value % 8)) if flip else value
  read_bytes(tmp_path, bytes(data))


def smf(division: int, tracks: list[bytes], *, file_type: int = 1, declared_tracks: int | None = None) -> bytes:
  header = struct.pack('>4sIHHH', b'MThd', 6, file_type, len(tracks) if declared_tracks is None else declared_tracks,
                       division & 0xFFFF)
  return header + b''.join(b'MTrk' + struct.pack('>I', len(t)) + t for t in tracks)


NOTE = b'\x00\x90\x3c\x40\x83\x60\x80\x3c\x00'  # C4 for a quarter at 480 ticks per quarter
END = b'\x00\xff\x2f\x00'


@pytest.mark.parametrize('name, data, expect', [
    ('zero division', smf(0, [NOTE + END]), 'time division'),
    ('SMPTE division', smf(-(25 << 8) + 40, [NOTE + END]), 'time division'),
    ('huge division', smf(0x7FFF, [NOTE + END]), bj.Piece),
    ('huge delta time', smf(480, [NOTE + b'\xff\xff\xff\x7f\x90\x40\x40\x00\x80\x40\x00' + END]), 'over the limit'),
    ('note held for hours', smf(480, [b'\x00\x90\x3c\x40\xff\xff\xff\x7f\x80\x3c\x00' + END]), 'over the limit'),
    ('end of track after hours', smf(480, [NOTE + b'\xff\xff\xff\x7f\xff\x2f\x00']), bj.Piece),
    ('tempo of zero', smf(480, [b'\x00\xff\x51\x03\x00\x00\x00' + NOTE + END]), bj.Piece),
    ('thousands of tracks declared, one there', smf(480, [NOTE + END], declared_tracks=5000), 'not a readable'),
    ('thousands of tracks', smf(480, [END] * 3000 + [NOTE + END]), bj.Piece),
    ('time signature 4 over 2 to the 200th', smf(480, [b'\x00\xff\x58\x04\x04\xc8\x18\x08' + NOTE + END]), 'time signature'),
    ('unknown type', smf(480, [NOTE + END], file_type=7), bj.Piece),
])
def test_absurd_headers(tmp_path, name, data, expect):
  result = read_bytes(tmp_path, data, name.replace(' ', '_') + '.mid')
  if isinstance(expect, str):
    assert isinstance(result, bj.MidiReadError) and expect in str(result), (name, result)
  else:
    assert isinstance(result, expect), (name, result)


def test_held_notes_over_a_long_file_paint_in_linear_time(tmp_path):
  # 2000 notes of one pitch struck together, ending one by one over 10,000 steps
  events = b'\x00\x90\x3c\x40' * 2000 + b'\x05\x80\x3c\x00' * 2000
  result = read_bytes(tmp_path, smf(4, [events + END]))
  assert isinstance(result, bj.Piece) and result.num_steps == 10_000
  assert result.roll[:, 60 - 24, 0].all() and result.roll[..., 1].sum() == 1


# The benchmark loader: wrong types, wrong nesting, bad pitches, hostile pickles.

plain = st.recursive(st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=True) | st.text(max_size=3),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children,
                                                                                       max_size=3),
                     max_leaves=30)


@FUZZ
@given(obj=plain | st.fixed_dictionaries({s: plain for s in dataset.SPLITS}))
def test_benchmark_loader_on_arbitrary_structures(tmp_path, obj):
  path = tmp_path / 'fuzz.pickle'
  path.write_bytes(pickle.dumps(obj, protocol=2))
  try:
    data = bj.load_dataset(str(path))
  except bj.DatasetError as e:
    assert 'fuzz.pickle' in str(e)
  else:
    assert isinstance(data, bj.Dataset)


class Boom:
  ran = []

  def __reduce__(self):
    return (Boom.ran.append, ('executed',))


@pytest.mark.parametrize('payload', [
    pickle.dumps({'train': [], 'valid': [], 'test': Boom()}, protocol=2),
    pickle.dumps({'train': [], 'valid': [], 'test': Boom()}, protocol=5),
    b'cos\nsystem\n(S"echo pwned"\ntR.',  # protocol 0 GLOBAL + REDUCE
    b'\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.',  # STACK_GLOBAL
    b'(cos\nsystem\nS"echo pwned"\no.',  # INST/OBJ
    b'\x80\x02P0\n.',  # persistent id
])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, payload):
  path = tmp_path / 'evil.pkl'
  path.write_bytes(payload)
  with pytest.raises(bj.DatasetError, match='evil.pkl'):
    bj.load_dataset(str(path))
  assert Boom.ran == []


@pytest.mark.parametrize('frames, message', [
    ([[60, -5]], 'not a MIDI note number'),
    ([[60, 128]], 'not a MIDI note number'),
    ([[60.5]], 'not a MIDI note number'),
    ([['60']], 'not a MIDI note number'),
    ([[True]], 'not a MIDI note number'),
    ([60], 'not a list of MIDI note numbers'),
    ([], 'non-empty list of frames'),
    ('abc', 'non-empty list of frames'),
])
def test_benchmark_values_are_checked(tmp_path, frames, message):
  path = tmp_path / 'bad.json'
  import json
  path.write_text(json.dumps({'train': [frames], 'valid': [], 'test': []}))
  with pytest.raises(bj.DatasetError, match=message):
    bj.load_dataset(str(path))


def test_musicxml_oddities_give_a_piece_or_a_clear_error():
  from music21 import chord, meter, note, stream
  with pytest.raises(ValueError, match='none of its 0 notes'):
    scores.score_to_piece(stream.Score([stream.Part([stream.Measure([note.Rest(quarterLength=4)])])]), 'rests')
  odd = stream.Part([meter.TimeSignature('5/8'), note.Note('C4', quarterLength=0), chord.Chord(['C9', 'E4'],
                                                                                                 quarterLength=2.5)])
  piece = scores.score_to_piece(stream.Score([odd]), 'odd')
  assert piece.roll[0, 60 - 24].tolist() == [1, 1]  # the zero-length grace note keeps one step
  assert piece.time_signatures[0].numerator == 5 and piece.roll[..., 0].sum() > 0


def test_a_chorale_that_fails_to_parse_is_skipped_and_reported(tmp_path, monkeypatch):
  from music21 import corpus
  files = sorted(set(corpus.chorales.Iterator(returnType='filename')))[:3]
  monkeypatch.setenv('BIAXIAL_JAX_CACHE', str(tmp_path))
  monkeypatch.setattr(corpus.chorales, 'Iterator', lambda **_: iter(files))
  real_parse = corpus.parse
  monkeypatch.setattr(corpus, 'parse', lambda name: (_ for _ in ()).throw(OSError('damaged')) if name == files[1]
                      else real_parse(name))
  data = load_bach_chorales()
  assert sum(len(data.split(s)) for s in dataset.SPLITS) == 2
  assert data.skipped == ((files[1], 'OSError: damaged'),)


def test_a_small_pickle_cannot_expand_into_a_huge_structure(tmp_path):
  frame = [60]
  piece = [frame] * 1000
  split = [piece] * 1000  # a million frames, about 40 bytes of pickle thanks to shared references
  path = tmp_path / 'laughs.pickle'
  path.write_bytes(pickle.dumps({'train': split, 'valid': [], 'test': []}, protocol=2))
  assert path.stat().st_size < 5000
  start = time.perf_counter()
  with pytest.raises(bj.DatasetError, match='more elements than a file of its size'):
    bj.load_dataset(str(path))
  assert time.perf_counter() - start < 1


def test_a_pickle_declaring_gigabytes_is_refused_at_once(tmp_path):
  # BYTEARRAY8 claiming 23 GB in a 30-byte file: found by experiments/fuzz.py
  path = tmp_path / 'claims.pickle'
  path.write_bytes(b'\x80\x05\x96' + (22_953_853_041).to_bytes(8, 'little') + b'abc.')
  start = time.perf_counter()
  tracemalloc.start()
  with pytest.raises(bj.DatasetError, match='claims.pickle: not a readable benchmark file'):
    bj.load_dataset(str(path))
  _, peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  assert time.perf_counter() - start < 1 and peak < 10_000_000
