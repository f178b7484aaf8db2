"""Data sets as train/valid/test tuples of `Piece`s: the embedded Bach chorales, MIDI folders, the benchmark format.

`load_dataset(name_or_path)` takes
- `'bach_chorales'`: the Bach chorales in music21's corpus, parsed from MusicXML (true durations and ties), cached;
- `'music21_styles'`: pieces of music21's corpus in several styles (`music.styles`), each piece's `style` set;
- a folder: every `.mid`/`.midi` file under it, recursively; files that fail are skipped and reported. When every
  file lies in a subfolder, the subfolder is its piece's style (`my_midi/<style>/...`);
- a `.pickle`/`.pkl`/`.json` file in the Boulanger-Lewandowski format: `{'train'|'valid'|'test': [piece: [frame:
  [MIDI numbers]]]}`. Frames become grid steps one to one (pass the file's frame rate as `steps_per_quarter`: 1 for the
  quarter-note JSB set, 2 for Nottingham) in 4/4; -1 stands for a silent voice. These sets carry no articulation: a note is articulated where it
  starts sounding only, so a note repeated in consecutive frames reads as held, and articulation metrics on them mean
  nothing (score the play bits, as the papers do).

Splits of the corpus and of folders are by a stable hash of each piece's identifier (about 80/10/10), never load order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import pickletools
import reprlib
import sys
from typing import Callable

import numpy as np

from biaxial_jax.music.files import atomic_path
from biaxial_jax.music.midi import read_midi_with_stats
from biaxial_jax.music.piece import (ARTICULATE, PLAY, STYLE_NAME, BiaxialError, Key, Piece, RangePolicy, Tempo,
                                     TimeSignature, canonical_roll, fit_pitch)
from biaxial_jax.music.scores import score_to_piece

SPLITS = ('train', 'valid', 'test')
EMBEDDED = ('bach_chorales', 'music21_styles')
_CACHE_VERSION = 6  # 2: keys and phrase ends; 3: short bars keep the bar lines; 4: ties inside chords;
# 5: styles and velocities; 6: voices (chorales read as their four vocal parts)


class DatasetError(BiaxialError):
  """A data set that cannot be loaded; the message names it."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Pieces by split, and the files that were skipped as `(path, reason)`."""
  name: str
  train: tuple[Piece, ...]
  valid: tuple[Piece, ...]
  test: tuple[Piece, ...]
  skipped: tuple[tuple[str, str], ...] = ()

  def split(self, name: str) -> tuple[Piece, ...]:
    if name not in SPLITS:
      raise ValueError(f'split must be one of {SPLITS}, got {name!r}')
    return getattr(self, name)

  def style_counts(self) -> dict[str | None, dict[str, tuple[int, int]]]:
    """`{style: {split: (pieces, steps)}}` (style None: pieces without one)."""
    out = {}
    for split in SPLITS:
      for piece in self.split(split):
        pieces, steps = out.setdefault(piece.style, {}).get(split, (0, 0))
        out[piece.style][split] = (pieces + 1, steps + piece.num_steps)
    return out

  def summary(self) -> str:
    parts = [f'{s} {len(self.split(s))} pieces / {sum(p.num_steps for p in self.split(s))} steps' for s in SPLITS]
    return f'{self.name}: ' + ', '.join(parts) + (f'; {len(self.skipped)} files skipped' if self.skipped else '')


def split_of(identifier: str) -> str:
  """The split of a piece, from a stable hash of its identifier: about 80% train, 10% valid, 10% test."""
  bucket = int.from_bytes(hashlib.sha256(identifier.encode()).digest()[:8], 'big') % 100
  return 'train' if bucket < 80 else 'valid' if bucket < 90 else 'test'


def _by_split(name, pieces_with_ids, skipped=()) -> Dataset:
  splits = {s: [] for s in SPLITS}
  for identifier, piece in sorted(pieces_with_ids, key=lambda item: item[0]):
    splits[split_of(identifier)].append(piece)
  return Dataset(name, *(tuple(splits[s]) for s in SPLITS), skipped=tuple(skipped))


def progress(iterable, total, label):
  """Yields from `iterable`, drawing a progress bar on stderr when it is a terminal (else a few log lines)."""
  try:
    from tqdm import tqdm
    yield from tqdm(iterable, total=total, desc=label, unit='file', disable=None, file=sys.stderr)
  except ImportError:  # tqdm comes with the package; this only guards a trimmed install
    for i, item in enumerate(iterable):
      if i % 50 == 0:
        logging.info('%s: %d/%d', label, i, total)
      yield item


# ---------------------------------------------------------------------------------------------------- MIDI folders


def load_midi_folder(folder: str, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
                     out_of_range: RangePolicy = 'fold') -> Dataset:
  """Every `.mid`/`.midi` file under `folder` (recursive); files that fail are skipped and listed in `skipped`."""
  paths = sorted(os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
                 if f.lower().endswith(('.mid', '.midi')))
  if not paths:
    raise DatasetError(f'{folder}: no .mid or .midi files in this folder')
  pieces, skipped = [], []
  for path in progress(paths, len(paths), f'reading {folder}'):
    try:
      piece, _ = read_midi_with_stats(path, lowest=lowest, num_notes=num_notes, steps_per_quarter=steps_per_quarter,
                                      out_of_range=out_of_range)
      if not piece.roll.any():
        raise DatasetError(f'{path}: contains no notes')
      pieces.append((os.path.relpath(path, folder), piece))
    except BiaxialError as e:
      skipped.append((path, str(e)))
  for path, reason in skipped:
    logging.warning('skipped %s', reason)
  pieces = _styled_by_subfolder(pieces)
  if not pieces:
    raise DatasetError(f'{folder}: none of its {len(paths)} MIDI files could be read (first: {skipped[0][1]})')
  logging.info('%s: loaded %d of %d MIDI files, skipped %d', folder, len(pieces), len(paths), len(skipped))
  return _by_split(os.path.basename(os.path.normpath(folder)), pieces, skipped)


def _styled_by_subfolder(pieces: list[tuple[str, Piece]]) -> list[tuple[str, Piece]]:
  """Each piece's style from its top subfolder, when every file lies in one whose name is a style name (letters,
  digits, '_', '-'); else the pieces as they are (no styles)."""
  tops = [os.path.normpath(relative).split(os.sep)[0] if os.sep in os.path.normpath(relative) else None
          for relative, _ in pieces]
  if not pieces or not all(top and STYLE_NAME.fullmatch(top) for top in tops):
    return pieces
  logging.info('styles by subfolder: %s', ', '.join(sorted(set(tops))))
  return [(relative, dataclasses.replace(piece, style=top)) for (relative, piece), top in zip(pieces, tops)]


# ------------------------------------------------------------------------------------------------ benchmark format


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


def _frames_to_piece(frames, name, budget: _Budget, *, lowest, num_notes, steps_per_quarter, out_of_range) -> Piece:
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


def load_benchmark(path: str, *, lowest: int = 21, num_notes: int = 88, steps_per_quarter: int = 1,
                   out_of_range: RangePolicy = 'fold') -> Dataset:
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
    splits[split] = tuple(_frames_to_piece(frames, f'{os.path.basename(path)}:{split}[{i}]', budget, lowest=lowest,
                                           num_notes=num_notes, steps_per_quarter=steps_per_quarter,
                                           out_of_range=out_of_range)
                          for i, frames in enumerate(data[split]))
  if not any(splits.values()):
    raise DatasetError(f'{path}: holds no pieces')
  return Dataset(os.path.splitext(os.path.basename(path))[0], splits['train'], splits['valid'], splits['test'])


# ---------------------------------------------------------------------------------------- the embedded chorales


def cache_dir() -> str:
  """`$BIAXIAL_JAX_CACHE`, else `$XDG_CACHE_HOME/biaxial_jax`, else `~/.cache/biaxial_jax`."""
  if os.environ.get('BIAXIAL_JAX_CACHE'):
    return os.environ['BIAXIAL_JAX_CACHE']
  return os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'biaxial_jax')


def _save_pieces(path: str, pieces: list[tuple[str, Piece]]):
  rolls = np.concatenate([p.roll for _, p in pieces])
  lengths = np.array([p.num_steps for _, p in pieces])
  meters = np.array([(i, ts.step, ts.numerator, ts.denominator) for i, (_, p) in enumerate(pieces)
                     for ts in p.time_signatures])
  tempos = np.array([(i, t.step, t.qpm) for i, (_, p) in enumerate(pieces) for t in p.tempos])
  keys = np.array([(p.key.tonic, p.key.major) if p.key else (-1, 0) for _, p in pieces])
  phrases = np.array([(i, e) for i, (_, p) in enumerate(pieces) for e in (p.phrase_ends or ())]).reshape(-1, 2)
  styles = np.array([p.style or '' for _, p in pieces])
  dynamic = np.array([p.velocity is not None for _, p in pieces])
  # the velocities of the articulated cells, piece after piece, in the rolls' order
  velocities = np.concatenate([np.zeros(0, np.uint8)] + [p.velocity[p.roll[..., ARTICULATE] > 0] for _, p in pieces
                                                         if p.velocity is not None])
  voiced = np.array([p.voices is not None for _, p in pieces])
  # the voices of the sounding cells, likewise
  voices = np.concatenate([np.zeros(0, np.uint8)] + [p.voices[p.roll[..., PLAY] > 0] for _, p in pieces
                                                     if p.voices is not None])
  with atomic_path(path) as tmp, open(tmp, 'wb') as f:
    np.savez_compressed(f, rolls=np.packbits(rolls), shape=np.array(rolls.shape), lengths=lengths, meters=meters,
                        tempos=tempos, ids=np.array([i for i, _ in pieces]), keys=keys, phrases=phrases,
                        styles=styles, dynamic=dynamic, velocities=velocities, voiced=voiced, voices=voices)


def _load_pieces(path: str, lowest: int, steps_per_quarter: int) -> list[tuple[str, Piece]]:
  with np.load(path) as z:
    shape = tuple(z['shape'])
    rolls = np.unpackbits(z['rolls'], count=int(np.prod(shape))).reshape(shape)
    lengths, meters, tempos, ids = z['lengths'], z['meters'], z['tempos'], z['ids']
    keys, phrases = z['keys'], z['phrases']
    styles = z['styles']
    dynamic, velocities = z['dynamic'], z['velocities']
    voiced, voices = z['voiced'], z['voices']
  starts = np.concatenate([[0], np.cumsum(lengths)])
  out, used = [], {'velocity': 0, 'voices': 0}

  def unpack(cells: np.ndarray, packed: np.ndarray, what: str) -> np.ndarray:
    """The values of `cells` (in order), taken from where the previous piece's ended in `packed`."""
    out = np.zeros(cells.shape, np.uint8)
    out[cells] = packed[used[what]:used[what] + cells.sum()]
    used[what] += int(cells.sum())
    return out

  for i, identifier in enumerate(ids):
    roll = rolls[starts[i]:starts[i + 1]]
    velocity = unpack(roll[..., ARTICULATE] > 0, velocities, 'velocity') if dynamic[i] else None
    piece_voices = unpack(roll[..., PLAY] > 0, voices, 'voices') if voiced[i] else None
    piece_meters = tuple(TimeSignature(int(s), int(n), int(d)) for _, s, n, d in meters[meters[:, 0] == i])
    piece_tempos = tuple(Tempo(int(s), float(q)) for _, s, q in tempos[tempos[:, 0] == i])
    ends = tuple(int(e) for e in phrases[phrases[:, 0] == i, 1])
    out.append((str(identifier), Piece(roll, lowest=lowest,
                                       steps_per_quarter=steps_per_quarter, time_signatures=piece_meters,
                                       tempos=piece_tempos, name=str(identifier),
                                       key=Key(int(keys[i][0]), bool(keys[i][1])) if keys[i][0] >= 0 else None,
                                       phrase_ends=ends or None, style=str(styles[i]) or None,
                                       velocity=velocity, voices=piece_voices)))
  return out


def cached_corpus(name: str, build: Callable[[], tuple[list[tuple[str, Piece]], list[tuple[str, str]]]], *,
                  lowest: int, num_notes: int, steps_per_quarter: int, out_of_range: RangePolicy,
                  refresh: bool = False) -> Dataset:
  """A corpus parsed once by `build()` (its `(identifier, piece)` pairs and skipped `(identifier, reason)`), cached
  per representation, and then loaded from the cache (rebuilt when unreadable or `refresh`)."""
  key = f'{name}-v{_CACHE_VERSION}-lowest{lowest}-notes{num_notes}-spq{steps_per_quarter}-{out_of_range}.npz'
  path = os.path.join(cache_dir(), key)
  if os.path.exists(path) and not refresh:
    try:
      return _by_split(name, _load_pieces(path, lowest, steps_per_quarter))
    except (OSError, ValueError, KeyError) as e:
      logging.warning('%s: unreadable cache (%s), rebuilding it', path, e)
  pieces, skipped = build()
  os.makedirs(cache_dir(), exist_ok=True)
  _save_pieces(path, pieces)
  return _by_split(name, pieces, skipped)


def load_bach_chorales(*, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
                       out_of_range: RangePolicy = 'fold', refresh: bool = False) -> Dataset:
  """The Bach chorales of music21's corpus, de-duplicated, parsed once and then loaded from the cache: the four
  vocal parts of each (instrumental parts beside them left out) with their voices (`Piece.voices`)."""
  grid = dict(lowest=lowest, num_notes=num_notes, steps_per_quarter=steps_per_quarter, out_of_range=out_of_range)

  def build():
    try:
      from music21 import corpus  # pylint: disable=import-outside-toplevel
    except ImportError as e:
      raise DatasetError(f'bach_chorales needs music21 (pip install music21): {e}') from None
    files = sorted(set(corpus.chorales.Iterator(returnType='filename')))
    pieces, skipped = [], []
    for identifier in progress(files, len(files), 'parsing Bach chorales (first use only)'):
      try:
        pieces.append((identifier, score_to_piece(corpus.parse(identifier), identifier, vocal=True, **grid)))
      except Exception as e:  # pylint: disable=broad-except  # music21 raises many types on odd scores; skip them
        skipped.append((identifier, f'{type(e).__name__}: {e}'))
    if not pieces:
      raise DatasetError(f'bach_chorales: no chorale could be parsed (first error: {skipped[0][1]})')
    return pieces, skipped

  return cached_corpus('bach_chorales', build, refresh=refresh, **grid)


def load_dataset(name_or_path: str, *, lowest: int = 24, num_notes: int = 78, steps_per_quarter: int = 4,
                 out_of_range: RangePolicy = 'fold') -> Dataset:
  """Loads a data set by name (`'bach_chorales'`, `'music21_styles'`), MIDI folder, or benchmark file (`.pickle`,
  `.pkl`, `.json`)."""
  kwargs = dict(lowest=lowest, num_notes=num_notes, steps_per_quarter=steps_per_quarter, out_of_range=out_of_range)
  if name_or_path == 'bach_chorales':
    return load_bach_chorales(**kwargs)
  if name_or_path == 'music21_styles':
    from biaxial_jax.music import styles  # pylint: disable=import-outside-toplevel  # it builds on this module
    return styles.load_music21_styles(**kwargs)
  if os.path.isdir(name_or_path):
    return load_midi_folder(name_or_path, **kwargs)
  if os.path.isfile(name_or_path) and name_or_path.lower().endswith(('.pickle', '.pkl', '.json')):
    return load_benchmark(name_or_path, **kwargs)
  raise DatasetError(f'{name_or_path!r}: not a known data set ({", ".join(EMBEDDED)}), a folder of MIDI files, nor a '
                     '.pickle/.pkl/.json benchmark file')
