"""Numpy batches for training and evaluation: fixed-length segments on bar lines, whole pieces, padding masks.

Batch `i` of a run is a pure function of `(seed, i)`, so the data order needs no state of its own to resume exactly.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np

from biaxial_jax.music.piece import PLAY, Piece
from biaxial_jax.music.structure import CONTEXT_SIZE, UNKNOWN, context_of, transpose_context


class Batch(NamedTuple):
  """A batch of note-state sequences (a JAX pytree; every field is a numpy array).

  Attributes:
    notes_BxTxNx2: `uint8` (play, articulate) per step and note; zeros where padded.
    bar_position_BxT: `int32` position of each step within its bar.
    mask_BxT: `float32` 1 on real steps, 0 on padding.
    piece_B: `int32` index of each row's piece in the list it was drawn from (-1 for an empty padding row).
    start_B: `int32` first step of each row within its piece.
    context_BxTxC: `int32` each step's key and phrase position (`music.structure`), -1 where unknown or padded.
    style_BxY: `float32` one-hot of each row's style among the `styles` asked for (Y = 0 when none are).
    velocity_BxTxN: `uint8` each struck note's velocity; 0 elsewhere, and throughout a piece without dynamics.
    voices_BxTxN: `uint8` the voices sounding each cell, a bit each (`Piece.voices`); 0 elsewhere, and throughout a
      piece whose voices are unknown.
  """
  notes_BxTxNx2: np.ndarray
  bar_position_BxT: np.ndarray
  mask_BxT: np.ndarray
  piece_B: np.ndarray
  start_B: np.ndarray
  context_BxTxC: np.ndarray
  style_BxY: np.ndarray
  velocity_BxTxN: np.ndarray
  voices_BxTxN: np.ndarray


def _empty(batch_size: int, seq_len: int, num_notes: int, num_styles: int) -> Batch:
  return Batch(np.zeros((batch_size, seq_len, num_notes, 2), np.uint8), np.zeros((batch_size, seq_len), np.int32),
               np.zeros((batch_size, seq_len), np.float32), np.full(batch_size, -1, np.int32),
               np.zeros(batch_size, np.int32), np.full((batch_size, seq_len, CONTEXT_SIZE), UNKNOWN, np.int32),
               np.zeros((batch_size, num_styles), np.float32), np.zeros((batch_size, seq_len, num_notes), np.uint8),
               np.zeros((batch_size, seq_len, num_notes), np.uint8))


def style_index(piece: Piece, styles: Sequence[str]) -> int:
  """The index of `piece.style` in `styles`; `ValueError` naming the piece when it has another or none."""
  if piece.style not in styles:
    raise ValueError(f'{piece.name}: its style {piece.style!r} is not one of {", ".join(styles)}')
  return styles.index(piece.style)


def _put(batch: Batch, row: int, index: int, piece: Piece, start: int, seq_len: int, shift: int = 0,
         styles: Sequence[str] = ()):
  """Copies `seq_len` steps of `piece` from `start` into a row; past the piece's end stays padding."""
  roll = piece.roll[start:start + seq_len]
  if shift:
    roll = np.roll(roll, shift, axis=1)  # callers choose shifts that move no sounding note across the edge
  length = roll.shape[0]
  batch.notes_BxTxNx2[row, :length] = roll
  positions = piece.bar_position[start:start + seq_len]
  batch.bar_position_BxT[row, :length] = positions
  if length < seq_len:  # the meter goes on through the padding, so features stay plausible there
    last = piece.time_signatures[-1].steps_per_bar(piece.steps_per_quarter)
    batch.bar_position_BxT[row, length:] = (positions[-1] + 1 + np.arange(seq_len - length)) % last
  batch.mask_BxT[row, :length] = 1
  batch.context_BxTxC[row, :length] = transpose_context(context_of(piece)[start:start + seq_len], shift)
  if piece.velocity is not None:
    batch.velocity_BxTxN[row, :length] = np.roll(piece.velocity[start:start + seq_len], shift, axis=1)
  if piece.voices is not None:
    batch.voices_BxTxN[row, :length] = np.roll(piece.voices[start:start + seq_len], shift, axis=1)
  batch.piece_B[row], batch.start_B[row] = index, start
  if styles:
    batch.style_BxY[row, style_index(piece, styles)] = 1


def segment_starts(piece: Piece, seq_len: int) -> np.ndarray:
  """Bar lines from which a whole segment fits; `[0]` when none does (the segment is then padded)."""
  downbeats = np.flatnonzero(piece.bar_position == 0)
  fits = downbeats[downbeats + seq_len <= piece.num_steps]
  return fits if fits.size else np.zeros(1, np.int64)


def transpose_range(piece: Piece) -> tuple[int, int]:
  """The semitone shifts (lo <= 0 <= hi) that keep every sounding note of `piece` in its range."""
  sounding = np.flatnonzero(piece.roll[..., PLAY].any(axis=0))
  if not sounding.size:
    return 0, 0
  return -int(sounding[0]), piece.num_notes - 1 - int(sounding[-1])


def training_batch(pieces: Sequence[Piece], *, batch_size: int, seq_len: int, seed: int, step: int,
                   max_transpose: int = 0, styles: Sequence[str] = (), hide_voices: float = 0.0) -> Batch:
  """Batch `step` of a run seeded `seed`: segments from pieces drawn uniformly (with `styles`, a style drawn
  uniformly among those of `pieces`, then one of its pieces), starting on bar lines.

  Args:
    pieces: the training pieces, all with the same note range.
    batch_size: rows in the batch.
    seq_len: steps per segment (128 = 8 bars of 4/4 at 4 steps per quarter). Shorter pieces are padded and masked.
    seed, step: the batch is a pure function of these.
    max_transpose: each segment is shifted by a random number of semitones in [-max_transpose, max_transpose],
      limited so that no note leaves the range. 0 turns augmentation off.
    styles: the model's styles: each row's style goes into `style_BxY`, and styles are drawn evenly (a corpus
      of 370 chorales and 50 quartet movements should not teach chorales seven times as often).
    hide_voices: the share of rows whose voices are left out (read as unknown), drawn after everything else.
  """
  if not pieces:
    raise ValueError('training_batch needs at least one piece')
  if batch_size < 1 or seq_len < 1 or max_transpose < 0:
    raise ValueError(f'need batch_size >= 1, seq_len >= 1, max_transpose >= 0; got {batch_size}, {seq_len}, '
                     f'{max_transpose}')
  rng = np.random.default_rng([seed, step])
  batch = _empty(batch_size, seq_len, pieces[0].num_notes, len(styles))
  if styles:
    by_style = [np.flatnonzero(np.array([style_index(p, styles) for p in pieces]) == i) for i in range(len(styles))]
    by_style = [group for group in by_style if group.size]
    indices = [group[rng.integers(group.size)] for group in (by_style[i] for i in
                                                              rng.integers(len(by_style), size=batch_size))]
  else:
    indices = rng.integers(len(pieces), size=batch_size)
  for row, index in enumerate(indices):
    piece = pieces[index]
    starts = segment_starts(piece, seq_len)
    start = int(starts[rng.integers(starts.size)])
    shift = 0
    if max_transpose:
      lo, hi = transpose_range(piece)
      shift = int(rng.integers(max(lo, -max_transpose), min(hi, max_transpose) + 1))
    _put(batch, row, int(index), piece, start, seq_len, shift, styles)
  if hide_voices:
    batch.voices_BxTxN[rng.random(batch_size) < hide_voices] = 0
  return batch


def piece_batches(pieces: Sequence[Piece], *, batch_size: int, length_multiple: int = 64,
                  styles: Sequence[str] = (), max_steps: int | None = None, row_multiple: int = 1) -> Iterator[Batch]:
  """Whole pieces for evaluation, in order, padded to a multiple of `length_multiple` steps (few distinct shapes,
  so few compilations); the last batch is filled with empty, fully masked rows. `styles` as in `training_batch`.

  With `max_steps`, a batch of long pieces has fewer rows, so that rows x padded length stays within it (a multiple
  of `row_multiple` rows, at least one multiple): a string quartet movement of 9,000 steps must not make a batch of
  16 rows of 9,000 (27 GB of activations at the default sizes)."""
  first = 0
  while first < len(pieces):
    rows = batch_size
    while True:
      chunk = pieces[first:first + rows]
      seq_len = -(-max(p.num_steps for p in chunk) // length_multiple) * length_multiple
      if max_steps is None or rows * seq_len <= max_steps or rows <= row_multiple:
        break
      rows = max(row_multiple, (max_steps // seq_len) // row_multiple * row_multiple)
    batch = _empty(rows, seq_len, chunk[0].num_notes, len(styles))
    for row, piece in enumerate(chunk):
      _put(batch, row, first + row, piece, 0, seq_len, styles=styles)
    yield batch
    first += len(chunk)
