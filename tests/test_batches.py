"""Training segments start on bar lines, are reproducible from (seed, step), and pad short pieces."""

import dataclasses

import numpy as np

import biaxial_jax as bj
from biaxial_jax.music.batches import segment_starts, transpose_range
from biaxial_jax.music.piece import TimeSignature, time_signature_for_steps


def piece(num_steps, *, notes=(30, 40), meters=(TimeSignature(0, 4, 4),)):
  roll = np.zeros((num_steps, 78, 2), np.uint8)
  for n in notes:
    roll[:, n, 0] = 1
    roll[::4, n, 1] = 1
  return bj.Piece(roll, time_signatures=meters)


def test_segments_start_on_bar_lines_even_after_a_pickup():
  p = piece(4 + 16 * 10, meters=(time_signature_for_steps(4, 4), TimeSignature(4, 4, 4)))
  starts = segment_starts(p, 64)
  assert starts.tolist() == [4 + 16 * k for k in range(7)]
  batch = bj.training_batch([p], batch_size=8, seq_len=64, seed=0, step=0)
  assert np.all(batch.bar_position_BxT[:, 0] == 0)
  assert set(batch.start_B.tolist()) <= set(starts.tolist())


def test_batches_are_a_function_of_seed_and_step():
  pieces = [piece(200), piece(300, notes=(10,)), piece(150, notes=(50, 60))]
  a = bj.training_batch(pieces, batch_size=6, seq_len=32, seed=3, step=7, max_transpose=5)
  b = bj.training_batch(pieces, batch_size=6, seq_len=32, seed=3, step=7, max_transpose=5)
  c = bj.training_batch(pieces, batch_size=6, seq_len=32, seed=3, step=8, max_transpose=5)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not all(np.array_equal(x, y) for x, y in zip(a, c))
  assert a.notes_BxTxNx2.shape == (6, 32, 78, 2) and a.notes_BxTxNx2.dtype == np.uint8


def test_short_pieces_are_padded_and_masked():
  batch = bj.training_batch([piece(20)], batch_size=2, seq_len=32, seed=0, step=0)
  assert batch.mask_BxT[:, :20].all() and not batch.mask_BxT[:, 20:].any()
  assert not batch.notes_BxTxNx2[:, 20:].any()
  assert batch.bar_position_BxT[0].tolist() == list(range(16)) * 2  # the meter runs on through the padding


def test_transposition_keeps_notes_in_range():
  p = piece(64, notes=(2, 75))
  assert transpose_range(p) == (-2, 2)
  for step in range(20):
    batch = bj.training_batch([p], batch_size=4, seq_len=64, seed=1, step=step, max_transpose=6)
    assert batch.notes_BxTxNx2[..., 0].sum() == p.roll[..., 0].sum() * 4  # nothing fell off an edge


def test_transposition_moves_the_key_with_the_notes():
  p = dataclasses.replace(piece(64, notes=(30,)), key=bj.Key(2, True), phrase_ends=(32,))
  for step in range(10):
    batch = bj.training_batch([p], batch_size=4, seq_len=64, seed=1, step=step, max_transpose=6)
    for row in range(4):
      shift = int(np.flatnonzero(batch.notes_BxTxNx2[row, 0, :, 0])[0]) - 30
      assert (batch.context_BxTxC[row, :, 0] == (2 + shift) % 12).all() and (batch.context_BxTxC[row, :, 1] == 1).all()
      assert batch.context_BxTxC[row, :3, 2].tolist() == [32, 31, 30]
      assert batch.context_BxTxC[row, 31:33, 2].tolist() == [1, 32]
  unknown = bj.training_batch([piece(64)], batch_size=2, seq_len=64, seed=0, step=0)
  assert (unknown.context_BxTxC == -1).all()


def test_piece_batches_cover_every_piece_once():
  pieces = [piece(n) for n in (10, 70, 130)]
  batches = list(bj.piece_batches(pieces, batch_size=2, length_multiple=64))
  assert [b.notes_BxTxNx2.shape[1] for b in batches] == [128, 192]
  assert batches[1].piece_B.tolist() == [2, -1]
  assert sum(b.mask_BxT.sum() for b in batches) == 210


def test_piece_batches_of_long_pieces_have_fewer_rows():
  pieces = [piece(n) for n in (60, 60, 60, 60, 500, 900, 1000)]
  batches = list(bj.piece_batches(pieces, batch_size=4, length_multiple=64, max_steps=4 * 256, row_multiple=2))
  assert [b.notes_BxTxNx2.shape[:2] for b in batches] == [(4, 64), (2, 960), (2, 1024)]  # never under 2 rows
  assert sorted(i for b in batches for i in b.piece_B.tolist() if i >= 0) == list(range(7))
  assert sum(b.mask_BxT.sum() for b in batches) == sum(p.num_steps for p in pieces)
  assert [b.notes_BxTxNx2.shape[0] for b in bj.piece_batches(pieces, batch_size=4)] == [4, 4]  # no limit: as before
