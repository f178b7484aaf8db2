"""Benchmark files in the Boulanger-Lewandowski format, read safely: `{'train'|'valid'|'test': [piece: [frame:
[MIDI numbers]]]}` as `.pickle`/`.pkl` or `.json`. Frames become grid steps one to one (pass the file's frame rate as
`steps_per_quarter`: 1 for the quarter-note JSB set, 2 for Nottingham) in 4/4; -1 stands for a silent voice. These
sets carry no articulation: a note is articulated where it starts sounding only, so a note repeated in consecutive
frames reads as held, and articulation metrics on them mean nothing (score the play bits, as the papers do).

A pickle is checked opcode by opcode before anything is built (no global, bounded nesting, sizes against the bytes
there) and unpickled with every global refused."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import reprlib

import numpy as np

from biaxial_jax.music.dataset import SPLITS, Dataset, DatasetError
from biaxial_jax.music.piece import Grid, Piece, RangePolicy, canonical_roll, fit_pitch


class _PlainUnpickler(pickle._Unpickler):  # pylint: disable=protected-access
  """Refuses every global: only plain containers, strings and numbers can come out, nothing is imported or called.

  The pure-Python unpickler, not the C one: fuzzing found a 118-byte damaged pickle on which the C unpickler spent
  33 s before failing (this one fails in 0.1 ms); on the real benchmark files both take about 0.06 s.
  """

  def find_class(self, module, name):
    raise pickle.UnpicklingError(f'refused to load {module}.{name}: only plain lists, dicts and numbers are allowed')


class _Budget:
  """Elements a loaded structure may have: in proportion to its file, so that shared references in a small pickle
  (a list holding one list a million times) cannot demand hours or gigabytes."""

  def __init__(self, path: str, file_bytes: int):
    self.path, self.left = path, 64 * file_bytes + 10_000

  def spend(self, count: int):
    self.left -= count
    if self.left < 0:
      raise DatasetError(f'{self.path}: holds more elements than a file of its size can (shared references?)')


# The benchmarks' own representation: the piano's 88 keys, one frame per step.
BENCHMARK_GRID = Grid(lowest=21, num_notes=88, steps_per_quarter=1)

# Opcodes that import, call or build objects: a data file needs none of them.
_REFUSED_OPCODES = {'GLOBAL', 'STACK_GLOBAL', 'REDUCE', 'BUILD', 'INST', 'OBJ', 'NEWOBJ', 'NEWOBJ_EX', 'PERSID',
                    'BINPERSID', 'EXT1', 'EXT2', 'EXT4'}


MAX_NESTING = 64  # benchmark data is three levels deep (splits, pieces, frames); hashing or printing a value
# nested 100,000 deep overflows the C stack (a segfault) or Python's recursion limit
MAX_INT_BYTES = 16  # a MIDI note number needs one; a 5,000-digit int cannot even be printed

_SCALAR_OPCODES = {'INT', 'BININT', 'BININT1', 'BININT2', 'LONG', 'LONG1', 'LONG4', 'STRING', 'BINSTRING',
                   'SHORT_BINSTRING', 'BINBYTES', 'SHORT_BINBYTES', 'BINBYTES8', 'BYTEARRAY8', 'UNICODE',
                   'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'NONE', 'NEWTRUE', 'NEWFALSE', 'FLOAT',
                   'BINFLOAT'}
_EMPTY_OPCODES = {'EMPTY_LIST', 'EMPTY_DICT', 'EMPTY_TUPLE', 'EMPTY_SET'}
_FROM_MARK_OPCODES = {'TUPLE', 'LIST', 'DICT', 'FROZENSET'}  # build a container of the items since the mark
_INTO_TOP_OPCODES = {'APPENDS', 'SETITEMS', 'ADDITEMS'}  # add the items since the mark into the container below


def _check_structure(raw: bytes):
  """A first pass over the opcodes, nothing built: refuses the ones that import or call, checks every declared
  length against the bytes that are there (pickletools reads them), and follows how deep each value nests and how
  long each int is, so that no later step (unpickling, hashing a key, printing a message) meets a value it cannot
  handle."""
  stack, marks, memo = [], [], {}  # stack: each item's nesting depth

  def pop_to_mark():
    start = marks.pop()
    items = stack[start:]
    del stack[start:]
    return items

  for opcode, arg, position in pickletools.genops(raw):
    name = opcode.name
    if name in _REFUSED_OPCODES:
      raise pickle.UnpicklingError(f'refused opcode {name} at byte {position}: only plain lists, dicts and numbers '
                                   'are allowed')
    if name in ('LONG1', 'LONG4', 'LONG', 'INT') and isinstance(arg, int) and (
        arg.bit_length() > 8 * MAX_INT_BYTES):
      raise pickle.UnpicklingError(f'an integer of {arg.bit_length()} bits at byte {position}')
    if name in _SCALAR_OPCODES:
      stack.append(0)
    elif name in _EMPTY_OPCODES:
      stack.append(1)
    elif name == 'MARK':
      marks.append(len(stack))
    elif name in _FROM_MARK_OPCODES:
      stack.append(max(pop_to_mark(), default=0) + 1)
    elif name in ('TUPLE1', 'TUPLE2', 'TUPLE3'):
      count = int(name[-1])
      items = stack[-count:]
      del stack[-count:]
      stack.append(max(items) + 1)
    elif name in _INTO_TOP_OPCODES:
      items = pop_to_mark()
      stack[-1] = max(stack[-1], max(items, default=0) + 1)
    elif name == 'APPEND':
      item = stack.pop()
      stack[-1] = max(stack[-1], item + 1)
    elif name == 'SETITEM':
      value, key = stack.pop(), stack.pop()
      stack[-1] = max(stack[-1], value + 1, key + 1)
    elif name in ('PUT', 'BINPUT', 'LONG_BINPUT'):
      memo[arg] = stack[-1]
    elif name == 'MEMOIZE':
      memo[len(memo)] = stack[-1]
    elif name in ('GET', 'BINGET', 'LONG_BINGET'):
      stack.append(memo.get(arg, 0))
    elif name == 'POP':
      stack.pop()
    elif name == 'POP_MARK':
      pop_to_mark()
    elif name == 'DUP':
      stack.append(stack[-1])
    elif name not in ('PROTO', 'FRAME', 'STOP'):
      raise pickle.UnpicklingError(f'refused opcode {name} at byte {position}')
    if stack and stack[-1] > MAX_NESTING:
      raise pickle.UnpicklingError(f'values nested more than {MAX_NESTING} deep at byte {position}')


def _plain_unpickle(raw: bytes):
  """Unpickles plain data only, after `_check_structure`: fuzzing found 118-byte pickles declaring gigabyte-long
  bytearrays (which an unpickler allocates before it notices the data is missing), and 140 kB ones nesting a key
  140,000 tuples deep (which crash the interpreter when hashed)."""
  try:
    _check_structure(raw)
  except IndexError:  # the stack ran out: not a pickle this could have written
    raise pickle.UnpicklingError('a malformed pickle (its opcodes pop more than they push)') from None
  return _PlainUnpickler(io.BytesIO(raw)).load()


def _frames_to_piece(frames, name, budget: _Budget, grid: Grid, out_of_range: RangePolicy) -> Piece:
  lowest, num_notes, steps_per_quarter = grid
  if not isinstance(frames, (list, tuple)) or not frames:
    raise DatasetError(f'{name}: a piece must be a non-empty list of frames')
  budget.spend(len(frames))
  play = np.zeros((len(frames), num_notes), np.uint8)
  for t, frame in enumerate(frames):
    if not isinstance(frame, (list, tuple)):
      raise DatasetError(f'{name}: frame {t} is a {type(frame).__name__}, not a list of MIDI note numbers')
    budget.spend(len(frame))
    for pitch in frame:
      if isinstance(pitch, float) and pitch.is_integer():
        pitch = int(pitch)
      if pitch == -1:  # a silent voice in voice-per-column files such as the 16th-note SATB chorales
        continue
      if isinstance(pitch, bool) or not isinstance(pitch, int) or not 0 <= pitch <= 127:
        raise DatasetError(f'{name}: frame {t} holds {reprlib.repr(pitch)}, not a MIDI note number in [0, 127]')
      try:
        index, _ = fit_pitch(pitch, lowest, num_notes, out_of_range)
      except ValueError as e:
        raise DatasetError(f'{name}: frame {t}: {e}') from None
      if index is not None:
        play[t, index] = 1
  roll = canonical_roll(np.stack([play, np.zeros_like(play)], axis=-1))
  return Piece(roll, lowest=lowest, steps_per_quarter=steps_per_quarter, name=name)


def load_benchmark(path: str, *, grid: Grid = BENCHMARK_GRID, out_of_range: RangePolicy = 'fold') -> Dataset:
  """A Boulanger-Lewandowski style file (pickle, read safely, or JSON); frames become steps one to one."""
  try:
    with open(path, 'rb') as f:
      raw = f.read()
    data = json.loads(raw) if path.lower().endswith('.json') else _plain_unpickle(raw)
  except Exception as e:  # pylint: disable=broad-except  # a damaged pickle fails in many ways; none runs code here
    raise DatasetError(f'{path}: not a readable benchmark file ({type(e).__name__}: {str(e)[:200]})') from None
  if not isinstance(data, dict) or not set(SPLITS) <= set(data):
    raise DatasetError(f'{path}: expected a dict with keys {SPLITS}, got {type(data).__name__}'
                       + (f' with keys {", ".join(reprlib.repr(k) for k in list(data)[:8])}'
                          if isinstance(data, dict) else ''))
  splits = {}
  budget = _Budget(path, len(raw))
  for split in SPLITS:
    if not isinstance(data[split], (list, tuple)):
      raise DatasetError(f'{path}: {split} must be a list of pieces')
    budget.spend(len(data[split]))
    splits[split] = tuple(_frames_to_piece(frames, f'{os.path.basename(path)}:{split}[{i}]', budget, grid,
                                           out_of_range)
                          for i, frames in enumerate(data[split]))
  if not any(splits.values()):
    raise DatasetError(f'{path}: holds no pieces')
  return Dataset(os.path.splitext(os.path.basename(path))[0], splits['train'], splits['valid'], splits['test'])
