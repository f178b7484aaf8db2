"""Musical statistics of sets of pieces (numpy), to compare generated music with real music.

All histograms are normalized to sum to 1; `distance` is the total-variation distance (0: equal, 1: disjoint).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from biaxial_jax.analysis import harmony
from biaxial_jax.music.midi import note_spans
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece

MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1], bool)  # natural minor plus the raised 7th (harmonic minor)
# Krumhansl-Kessler key profiles, for estimating each piece's key.
MAX_POLYPHONY = 12
MAX_LENGTH = 32


def _normalized(counts: np.ndarray) -> np.ndarray:
  total = counts.sum()
  return counts / total if total else counts.astype(float)


def distance(p: np.ndarray, q: np.ndarray) -> float:
  """Total-variation distance between two normalized histograms."""
  return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


def pitch_class_histogram(pieces: Sequence[Piece]) -> np.ndarray:
  """Share of sounding note-steps per pitch class (C = 0)."""
  counts = np.zeros(12)
  for p in pieces:
    per_note = p.roll[..., PLAY].sum(axis=0)
    np.add.at(counts, (p.lowest + np.arange(p.num_notes)) % 12, per_note)
  return _normalized(counts)


def polyphony_histogram(pieces: Sequence[Piece]) -> np.ndarray:
  """Share of steps with 0, 1, ..., MAX_POLYPHONY (or more) notes sounding."""
  counts = np.zeros(MAX_POLYPHONY + 1)
  for p in pieces:
    np.add.at(counts, np.minimum(p.roll[..., PLAY].sum(axis=1), MAX_POLYPHONY), 1)
  return _normalized(counts)


def note_length_histogram(pieces: Sequence[Piece]) -> np.ndarray:
  """Share of notes lasting 1, 2, ..., MAX_LENGTH (or more) steps (index 0 unused); dotted notes at 3, 6, 12."""
  counts = np.zeros(MAX_LENGTH + 1)
  for p in pieces:
    for start, end, _ in note_spans(p.roll):
      counts[min(end - start, MAX_LENGTH)] += 1
  return _normalized(counts)


def silent_share(pieces: Sequence[Piece]) -> float:
  steps = sum(p.num_steps for p in pieces)
  return sum(int((~p.roll[..., PLAY].any(axis=1)).sum()) for p in pieces) / max(steps, 1)


def repeated_share(pieces: Sequence[Piece]) -> float:
  """Share of note onsets that re-strike a pitch that was already sounding (repeated, not held)."""
  onsets = restrikes = 0
  for p in pieces:
    art = p.roll[..., ARTICULATE].astype(bool)
    before = np.concatenate([np.zeros_like(art[:1]), p.roll[:-1, :, PLAY].astype(bool)])
    onsets += int(art.sum())
    restrikes += int((art & before).sum())
  return restrikes / max(onsets, 1)


def in_key_share(pieces: Sequence[Piece]) -> float:
  """Share of sounding note-steps inside each piece's key (major, or minor with the raised 7th): music21's
  Krumhansl-Schmuckler analysis (`harmony.analyzed_key`, the one key estimator here)."""
  inside = total = 0
  for p in pieces:
    key = harmony.analyzed_key(p)
    if key is None:  # silence
      continue
    scale = np.roll(MAJOR if key.major else MINOR, key.tonic)
    per_note = p.roll[..., PLAY].sum(axis=0)
    pcs = (p.lowest + np.arange(p.num_notes)) % 12
    inside += int(per_note[scale[pcs]].sum())
    total += int(per_note.sum())
  return inside / max(total, 1)


def _bars(piece: Piece) -> list[np.ndarray]:
  """The play bits of each whole bar (a pickup and a trailing partial bar are left out)."""
  starts = np.flatnonzero(piece.bar_position == 0)
  ends = np.append(starts[1:], piece.num_steps)
  meters = piece.time_signatures

  def bar_length(step):
    return [m for m in meters if m.step <= step][-1].steps_per_bar(piece.steps_per_quarter)
  return [piece.roll[a:b, :, PLAY] for a, b in zip(starts, ends) if b - a == bar_length(a)]


def _window_key(bars: list[np.ndarray]) -> bytes | None:
  """A transposition-invariant key of consecutive bars (None when silent)."""
  window = np.concatenate(bars)
  sounding = np.flatnonzero(window.any(axis=0))
  if not sounding.size:
    return None
  shape = np.array(window.shape, np.int32).tobytes()
  return hashlib.sha1(shape + np.ascontiguousarray(window[:, sounding[0]:sounding[-1] + 1]).tobytes()).digest()


def longest_copied_run(generated: Sequence[Piece], training: Sequence[Piece], max_bars: int = 32) -> int:
  """The longest run of consecutive bars of any generated piece that equals a run of a training piece after
  transposition (0: no bar copied). The original's users saw whole passages copied on small data sets."""
  train_bars = [_bars(p) for p in training]
  gen_bars = [_bars(p) for p in generated]
  longest = 0
  for k in range(1, max_bars + 1):
    seen = {_window_key(bars[i:i + k]) for bars in train_bars for i in range(len(bars) - k + 1)}
    seen.discard(None)
    if not any(_window_key(bars[i:i + k]) in seen for bars in gen_bars for i in range(len(bars) - k + 1)):
      break
    longest = k
  return longest


def statistics(pieces: Sequence[Piece]) -> dict:
  """The histograms and shares of a set of pieces."""
  return {'pitch_classes': pitch_class_histogram(pieces), 'polyphony': polyphony_histogram(pieces),
          'note_lengths': note_length_histogram(pieces), 'silent_share': silent_share(pieces),
          'repeated_share': repeated_share(pieces), 'in_key_share': in_key_share(pieces),
          'mean_polyphony': float(np.mean(np.concatenate([p.roll[..., PLAY].sum(axis=1) for p in pieces])))}


def compare(generated: Sequence[Piece], real: Sequence[Piece], training: Sequence[Piece] | None = None) -> dict:
  """Statistics of both sets side by side, the distances of their histograms, and copying from `training`."""
  gen, ref = statistics(generated), statistics(real)
  result = {'generated': gen, 'real': ref,
            'distance': {k: distance(gen[k], ref[k]) for k in ('pitch_classes', 'polyphony', 'note_lengths')}}
  if training is not None:
    result['longest_copied_bars'] = longest_copied_run(generated, training)
    result['longest_copied_bars_real'] = longest_copied_run(real, training)  # the baseline: held-out real music
  return result
