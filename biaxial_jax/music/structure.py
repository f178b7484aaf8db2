"""What a piece's structure tells the model at each step: its key, and how far the current phrase has to go.

`context_of(piece)` gives `int32[T, 3]`, one row per step, columns `TONIC`, `MODE`, `TO_PHRASE_END`:
- `TONIC`: the key's tonic pitch class (C = 0), -1 when the key is unknown;
- `MODE`: 1 major, 0 minor, -1 unknown;
- `TO_PHRASE_END`: steps until the current phrase ends (>= 1: the phrase's last step has 1), -1 when the piece's
  phrases are unknown. The end of the piece ends the last phrase.
`features.py` turns these into per-note inputs (the key relative to each note's own pitch class).
"""

from __future__ import annotations

import numpy as np

from biaxial_jax.music.piece import Key, Piece

TONIC, MODE, TO_PHRASE_END = 0, 1, 2
CONTEXT_SIZE = 3
UNKNOWN = -1


def context(num_steps: int, key: Key | None, phrase_ends) -> np.ndarray:
  """`int32[num_steps, 3]` for a key and phrase ends (either may be None: unknown)."""
  out = np.full((num_steps, CONTEXT_SIZE), UNKNOWN, np.int32)
  if key is not None:
    out[:, TONIC], out[:, MODE] = key.tonic, int(key.major)
  if phrase_ends is not None:
    ends = np.array(sorted({int(e) for e in phrase_ends if 0 < e < num_steps} | {num_steps}))
    steps = np.arange(num_steps)
    out[:, TO_PHRASE_END] = ends[np.searchsorted(ends, steps, side='right')] - steps
  return out


def context_of(piece: Piece) -> np.ndarray:
  """The structure context of every step of `piece`."""
  return context(piece.num_steps, piece.key, piece.phrase_ends)


def transpose_context(context_TxC: np.ndarray, semitones: int) -> np.ndarray:
  """The context of the same music moved by `semitones`: the tonic moves with the notes."""
  out = context_TxC.copy()
  known = out[..., TONIC] >= 0
  out[..., TONIC] = np.where(known, (out[..., TONIC] + semitones) % 12, UNKNOWN)
  return out


def phrase_plan(bars: list[int], downbeats: np.ndarray, num_steps: int) -> tuple[int, ...]:
  """Phrase ends from phrase lengths in bars (`--phrases=2,2,2,2`): each phrase ends on the bar line after its last
  bar; the last one at the end of the piece."""
  ends, bar = {num_steps}, 0
  for length in bars:
    bar += length
    ends.add(int(downbeats[bar]) if bar < len(downbeats) else num_steps)
  return tuple(sorted(e for e in ends if 0 < e <= num_steps))
