r"""Long fuzzing of the readers: MIDI files, benchmark (pickle) files and MusicXML scores, mutated from real ones.

  python experiments/fuzz.py --seconds=120 --seed=0

For every input the reader must return a Piece/Dataset or raise the package's own error: any other exception, a case
slower than --slow_seconds, or peak memory over 2 MB + 500 kB per input byte (MIDI) is reported as a finding.
"""

import io
import os
import pickle
import tempfile
import time
import traceback
import tracemalloc
import warnings

import mido
import numpy as np
from absl import app, flags
from music21 import corpus

import biaxial_jax as bj
from biaxial_jax import cli
from biaxial_jax.music import scores

_SECONDS = flags.DEFINE_integer('seconds', 60, 'Fuzzing time per target.', lower_bound=1)
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.', lower_bound=0)
_SLOW = flags.DEFINE_float('slow_seconds', 5.0, 'A case slower than this is a finding.')
_TARGETS = flags.DEFINE_multi_enum('target', ['midi', 'benchmark', 'musicxml'], ['midi', 'benchmark', 'musicxml'],
                                   'What to fuzz.')


def real_midi_files(rng) -> list[bytes]:
  """A few real files: chorales written back to MIDI, plus multi-track files with meter and tempo changes."""
  data = bj.load_dataset('bach_chorales')
  files = []
  for piece in data.test[:5]:
    buffer = io.BytesIO()
    bj.music.midi.to_midi_file(piece).save(file=buffer)
    files.append(buffer.getvalue())
  mid = mido.MidiFile(type=1, ticks_per_beat=96)
  for channel in (0, 1, 9):
    track = mido.MidiTrack([mido.MetaMessage('set_tempo', tempo=int(rng.integers(2e5, 2e6)))])
    for _ in range(40):
      note = int(rng.integers(20, 110))
      track += [mido.Message('note_on', note=note, velocity=64, channel=channel, time=int(rng.integers(0, 200))),
                mido.Message('note_off', note=note, channel=channel, time=int(rng.integers(1, 300)))]
    mid.tracks.append(track)
  buffer = io.BytesIO()
  mid.save(file=buffer)
  return files + [buffer.getvalue()]


def mutate(data: bytes, rng) -> bytes:
  """One of: random bytes, a truncation, bit flips, byte mutations, a spliced header field, a duplicated chunk."""
  kind = rng.integers(6)
  data = bytearray(data)
  if kind == 0:
    return rng.bytes(int(rng.integers(0, 4000)))
  if kind == 1:
    return bytes(data[:int(rng.integers(0, len(data)))])
  if kind in (2, 3):
    for _ in range(int(rng.integers(1, 16))):
      i = int(rng.integers(len(data)))
      data[i] = data[i] ^ (1 << int(rng.integers(8))) if kind == 2 else int(rng.integers(256))
    return bytes(data)
  if kind == 4:  # absurd header fields: format, track count, division
    i = int(rng.choice([8, 9, 10, 11, 12, 13]))
    data[i] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
    return bytes(data)
  start = int(rng.integers(14, max(len(data) - 8, 15)))
  return bytes(data[:start] + data[start:start + 512] * int(rng.integers(2, 50)) + data[start:])


class Tally:
  def __init__(self, name):
    self.name, self.cases, self.ok, self.errors, self.findings, self.slowest, self.largest_ratio = name, 0, 0, 0, [], 0, 0

  def run(self, fn, data: bytes, expected):
    tracemalloc.start()
    start = time.perf_counter()
    try:
      fn(data)
      self.ok += 1
    except expected:
      self.errors += 1
    except Exception:  # pylint: disable=broad-except  # anything else is what we are looking for
      self.findings.append(traceback.format_exc(limit=3))
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    self.cases += 1
    self.slowest = max(self.slowest, elapsed)
    self.largest_ratio = max(self.largest_ratio, peak / max(len(data), 1))
    if elapsed > _SLOW.value:
      self.findings.append(f'slow: {elapsed:.1f} s for {len(data)} bytes: {data[:300]!r}')
    return peak

  def line(self):
    return (f'{self.name:>10} {self.cases:>8} {self.ok:>8} {self.errors:>8} {len(self.findings):>8} '
            f'{self.slowest:>10.3f} {self.largest_ratio:>14,.0f}')


def fuzz_files(tally, path: str, reader, expected, next_case, max_peak=None):
  """Writes `next_case()` to `path` and reads it with `reader(path)` until time is up."""
  def read(data):
    with open(path, 'wb') as f:
      f.write(data)
    reader(path)

  end = time.time() + _SECONDS.value
  while time.time() < end:
    data = next_case()
    peak = tally.run(read, data, expected)
    if max_peak and peak > max_peak(len(data)):
      tally.findings.append(f'memory: {peak} bytes for {len(data)}')


def fuzz_midi(rng, folder, tally):
  seeds = real_midi_files(rng)
  fuzz_files(tally, os.path.join(folder, 'fuzz.mid'), bj.read_midi, bj.MidiReadError,
             lambda: mutate(seeds[int(rng.integers(len(seeds)))], rng), lambda size: 2_000_000 + 500_000 * size)


def fuzz_benchmark(rng, folder, tally):
  good = pickle.dumps({'train': [[[60, 64], [62]], [[40]]], 'valid': [[[70, 71, 72]]], 'test': [[[21], [108]]]},
                      protocol=2)
  fuzz_files(tally, os.path.join(folder, 'fuzz.pickle'), lambda p: bj.load_dataset(p, grid=bj.Grid(21, 88, 4)),
             bj.DatasetError, lambda: mutate(good, rng))


def fuzz_musicxml(rng, folder, tally):
  seeds = []
  for name in ('bach/bwv269', 'bach/bwv347'):
    with open(corpus.parse(name).write('musicxml'), 'rb') as f:
      seeds.append(f.read())

  def next_case():
    data = bytearray(seeds[int(rng.integers(len(seeds)))])
    for _ in range(int(rng.integers(1, 8))):  # text-level mutations keep most files parseable, so they go deeper
      i = int(rng.integers(len(data)))
      data[i] = int(rng.choice(list(b'0123456789<>/"= -abcdefgnopqrst'))) if rng.random() < 0.8 else int(
          rng.integers(256))
    return bytes(data)
  fuzz_files(tally, os.path.join(folder, 'fuzz.musicxml'), scores.read_score, scores.ScoreReadError, next_case)


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.quiet_library_logs()
  warnings.simplefilter('ignore')  # range-policy warnings on mutated files are expected
  rng = np.random.default_rng(_SEED.value)
  tallies = []
  with tempfile.TemporaryDirectory() as folder:
    for target in _TARGETS.value:
      tally = Tally(target)
      {'midi': fuzz_midi, 'benchmark': fuzz_benchmark, 'musicxml': fuzz_musicxml}[target](rng, folder, tally)
      tallies.append(tally)
  print(f'{"target":>10} {"cases":>8} {"read":>8} {"refused":>8} {"findings":>8} {"slowest s":>10} '
        f'{"peak B/in B":>14}')
  for tally in tallies:
    print(tally.line())
  for tally in tallies:
    for finding in tally.findings[:5]:
      print(f'--- {tally.name} finding ---\n{finding}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
