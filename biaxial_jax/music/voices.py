"""The four voices of a chorale texture: which voices sound each cell, read from a score's parts, and the
voice-leading figures a musician checks, computed from voices.

A piece's voices (`Piece.voices`) are `uint8[T, N]`: for each sounding cell, a bit per voice that sounds it
(soprano 1, alto 2, tenor 4, bass 8; a unison of two voices sets two bits), 0 where nothing sounds. A cell that
sounds with no bit set belongs to no known voice (a part that is not one of the four).

The figures (`voice_leading`) read a piece as four lines, one pitch per voice and step (`pitches_of`), and count at
*chord transitions*, pairs of consecutive onsets (steps where some voice strikes) at which every voice sounds:
- a parallel fifth (octave or unison): two voices a perfect fifth (octave, unison; compound intervals too) apart at
  both onsets, both moving, the same way;
- at every onset: sonorities with two voices crossed (a higher voice below a lower one), and upper voices (soprano
  and alto, alto and tenor) more than an octave apart;
- onsets where every voice sounds; steps where a voice holds two notes at once (a chord inside one voice);
- each voice's range.
Bach's chorales run through the same code (`experiments/evaluate.py` reports both), so the comparison is fair.
"""

from __future__ import annotations

import numpy as np

from biaxial_jax.music.piece import PLAY, RangePolicy, fit_pitch

NAMES = ('Soprano', 'Alto', 'Tenor', 'Bass')
NUM_VOICES = 4
ALL = (1 << NUM_VOICES) - 1  # every voice's bit
# Each voice's range as MIDI numbers in the embedded chorales' training split, the middle 99.8% of the steps it
# sings (`corpus_ranges(load_dataset('bach_chorales').train)`): what generation keeps each voice within.
RANGES = ((60, 79), (55, 73), (50, 68), (36, 62))
UPPER_PAIRS = ((0, 1), (1, 2))  # soprano-alto, alto-tenor: spaced within an octave
SPACING = 12  # semitones: upper voices further apart than an octave are spread


def part_voice(name: str | None) -> int | None:
  """The voice (0 soprano .. 3 bass) a part's name says it sings ('Soprano', 'Alto Oboe 2', 'Bass Continuo'), else
  None."""
  if not name:
    return None
  first = name.strip().split()[0].lower() if name.strip() else ''
  for voice, prefix in enumerate(('sopran', 'alt', 'tenor', 'bass')):
    if first.startswith(prefix) and first.rstrip('.0123456789') == first:
      return voice
  return None


def vocal_parts(parts) -> list | None:
  """The four parts of a chorale texture in soprano-to-bass order, from music21 parts: one part named for each
  voice (instrumental parts beside them are left out), or exactly four unnamed parts, in score order; else None
  (two sopranos, missing voices)."""
  parts = list(parts)
  named = [part_voice(p.partName) for p in parts]
  found = {}
  for part, voice in zip(parts, named):
    if voice is not None:
      if voice in found:
        return None
      found[voice] = part
  if len(found) == NUM_VOICES:
    return [found[v] for v in range(NUM_VOICES)]
  if len(parts) == NUM_VOICES and not any(p.partName for p in parts):
    return parts
  return None


def voices_from_notes(notes, sung, roll: np.ndarray, *, lowest: int, out_of_range: RangePolicy = 'fold') -> np.ndarray:
  """`uint8[T, N]` voice bits for a roll painted by `roll_from_notes` from `notes` `(start_step, end_step,
  midi_pitch)`, note i sung by voice `sung[i]` (0 soprano .. 3 bass), under the same range policy."""
  voices = np.zeros(roll.shape[:2], np.uint8)
  for (start, end, pitch), voice in zip(notes, sung):
    index, _ = fit_pitch(pitch, lowest, roll.shape[1], out_of_range)
    if index is not None:
      voices[start:max(end, start + 1), index] |= 1 << voice
  return voices & np.where(roll[..., PLAY] > 0, ALL, 0).astype(np.uint8)


def pitches_of(voices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """`(int[T, 4] note index of each voice at each step, -1 where it rests; int[T, 4] how many notes it holds)`:
  of a voice holding several (a chord inside one voice), its highest."""
  bits = (voices[..., None].astype(np.int32) >> np.arange(NUM_VOICES)) & 1  # [T, N, 4]
  index = np.where(bits > 0, np.arange(voices.shape[1])[None, :, None], -1)
  return index.max(axis=1), bits.sum(axis=1)


def corpus_ranges(pieces, share: float = 0.998) -> tuple[tuple[int, int], ...]:
  """Each voice's range over the pieces that have voices: the lowest and highest MIDI note of the middle `share`
  of the steps it sings (what `RANGES` holds; the rest are a few notes a voice reaches once)."""
  sung = [[] for _ in range(NUM_VOICES)]
  for piece in pieces:
    if piece.voices is not None:
      index, _ = pitches_of(piece.voices)
      for v in range(NUM_VOICES):
        sung[v].append(piece.lowest + index[index[:, v] >= 0, v])
  tail = 100 * (1 - share) / 2
  return tuple((int(np.percentile(np.concatenate(s), tail, method='lower')),
                int(np.percentile(np.concatenate(s), 100 - tail, method='higher'))) for s in sung)


def voice_leading(pitch_TxV: np.ndarray, struck_TxV: np.ndarray, held_TxV: np.ndarray | None = None) -> dict:
  """Counts of the figures in the module docstring for one piece given as lines, highest first: `pitch_TxV` each
  voice's MIDI pitch per step (-1 rest), `struck_TxV` where a voice strikes a note, `held_TxV` how many notes each
  voice holds (default one wherever it sounds). Add them over pieces and read them with `combine`."""
  pitch = np.asarray(pitch_TxV, np.int64)
  voices = pitch.shape[1]
  struck = np.asarray(struck_TxV, bool) & (pitch >= 0)
  sounding = pitch >= 0
  onsets = np.flatnonzero(struck.any(axis=1))
  full = sounding[onsets].all(axis=1)
  pairs = [(u, v) for u in range(voices) for v in range(u + 1, voices)]
  upper = [pair for pair in UPPER_PAIRS if pair[1] < voices - 1]  # never the lowest voice: the bass
  transitions = fifths = octaves = crossed = spread = 0
  for i in range(1, len(onsets)):
    if not (full[i - 1] and full[i]):
      continue
    transitions += 1
    before, after = pitch[onsets[i - 1]], pitch[onsets[i]]
    for u, v in pairs:
      du, dv = after[u] - before[u], after[v] - before[v]
      interval = (before[u] - before[v]) % 12
      if du and dv and np.sign(du) == np.sign(dv) and interval == (after[u] - after[v]) % 12:
        fifths += interval == 7
        octaves += interval == 0
  for t in onsets:
    p = pitch[t]
    crossed += any(p[u] >= 0 and p[v] >= 0 and p[u] < p[v] for u, v in pairs)
    spread += any(p[u] >= 0 and p[v] >= 0 and p[u] - p[v] > SPACING for u, v in upper)
  held = sounding.astype(int) if held_TxV is None else np.asarray(held_TxV)
  counts = {'pieces': 1, 'onsets': len(onsets), 'full_onsets': int(full.sum()), 'transitions': transitions,
            'parallel_fifths': int(fifths), 'parallel_octaves': int(octaves), 'crossed': int(crossed),
            'spread': int(spread), 'chords_in_voice': int((held > 1).sum()),
            'four_voices': int(sounding.any(axis=0).sum() == NUM_VOICES)}
  if voices == NUM_VOICES:
    for v, name in enumerate(NAMES):
      sung = pitch[:, v][sounding[:, v]]
      counts[f'{name.lower()}_low'] = int(sung.min()) if sung.size else -1
      counts[f'{name.lower()}_high'] = int(sung.max()) if sung.size else -1
  return counts


def piece_lines(piece) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`(pitch_TxV, struck_TxV, held_TxV)` of a piece with voices, for `voice_leading`: a voice strikes where its cell
  is articulated or it arrives on a cell it did not sound the step before."""
  index, held = pitches_of(piece.voices)
  pitch = np.where(index >= 0, piece.lowest + index, -1)
  steps = np.arange(piece.num_steps)[:, None]
  art = piece.roll[steps, np.maximum(index, 0), 1] > 0
  previous = np.vstack([np.full((1, NUM_VOICES), -1), index[:-1]])
  struck = (index >= 0) & (art | (previous != index))
  return pitch, struck, held


def combine(counts) -> dict:
  """Shares over pooled per-piece counts: parallels per 100 chord transitions, shares of onsets, ranges."""
  total: dict = {}
  for c in counts:
    for k, v in c.items():
      if k.endswith('_low'):
        total[k] = min(total.get(k, 999), v) if v >= 0 else total.get(k, 999)
      elif k.endswith('_high'):
        total[k] = max(total.get(k, -1), v)
      else:
        total[k] = total.get(k, 0) + v
  transitions, onsets = max(total.get('transitions', 0), 1), max(total.get('onsets', 0), 1)
  out = {'four_voice_share': total.get('four_voices', 0) / max(total.get('pieces', 0), 1),'parallel_fifths_per_100': 100 * total.get('parallel_fifths', 0) / transitions,
         'parallel_octaves_per_100': 100 * total.get('parallel_octaves', 0) / transitions,
         'every_voice_share': total.get('full_onsets', 0) / onsets,
         'crossed_share': total.get('crossed', 0) / onsets,
         'spread_share': total.get('spread', 0) / onsets,
         'chords_in_voice': total.get('chords_in_voice', 0),
         'transitions': total.get('transitions', 0)}
  for name in NAMES:
    out[f'{name.lower()}_range'] = (total.get(f'{name.lower()}_low', -1), total.get(f'{name.lower()}_high', -1))
  return out
