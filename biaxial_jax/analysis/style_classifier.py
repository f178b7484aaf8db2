"""A style classifier, to judge whether generated pieces sound like the style they were asked for.

It must not share the generator's view of music, or it would only echo the model: it is a multinomial logistic
regression (L2-regularized, classes weighted evenly) over 41 texture statistics of a passage, each invariant to
transposition except the register (`texture_features`): how many voices sound, how often notes start, how long they
last, which vertical intervals sound together, how the top voice moves, where in the beat notes start, and where the
music lies. Trained on windows of the real pieces of a data set's train split, it is scored on windows of the test
split (its own accuracy: the ceiling for generated pieces) and on generated pieces.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from biaxial_jax.generation.request import Controls, Request
from biaxial_jax.music.inputs import crop
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece

VOICE_BINS = 7  # 0 .. 6 or more notes sounding
DURATION_EDGES = (1, 2, 3, 5, 9, 17)  # note lengths in 16ths: 1, 2, 3-4, 5-8, 9-16, 17+ (at 4 steps per quarter)
LEAP_EDGES = (1, 3, 5, 8)  # top-voice steps in semitones: 0, 1-2, 3-4, 5-7, 8+
NUM_FEATURES = VOICE_BINS + 2 + len(DURATION_EDGES) + 1 + 12 + len(LEAP_EDGES) + 1 + 1 + 3 + 3 + 1  # 41


def _histogram(values: np.ndarray, edges: Sequence[int]) -> np.ndarray:
  """Shares of `values` in the bins `[0, e0), [e0, e1), ..., [e_last, inf)`."""
  counts = np.bincount(np.searchsorted(edges, values, side='right'), minlength=len(edges) + 1).astype(np.float64)
  return counts / max(counts.sum(), 1)


def texture_features(piece: Piece) -> np.ndarray:
  """`float32[NUM_FEATURES]` statistics of a passage (see the module docstring); durations are measured in
  sixteenths, whatever the grid."""
  play = piece.roll[..., PLAY].astype(bool)
  onset = piece.roll[..., ARTICULATE].astype(bool)
  pitch = piece.lowest + np.arange(piece.num_notes)
  to_16ths = 4 / piece.steps_per_quarter
  voices = play.sum(axis=1)
  sounding = voices > 0
  parts = [np.bincount(np.minimum(voices, VOICE_BINS - 1), minlength=VOICE_BINS) / len(voices),
           [onset.sum() / max(sounding.sum(), 1) / 4, (onset.any(axis=1) & sounding).mean()]]
  lengths = []
  for n in np.flatnonzero(play.any(axis=0)):
    starts = np.flatnonzero(onset[:, n])
    ends = np.append(starts[1:], len(play))
    for start, end in zip(starts, ends):
      lengths.append(int(np.argmin(np.append(play[start:end, n], False))) * to_16ths)
  parts.append(_histogram(np.array(lengths), DURATION_EDGES))
  intervals = np.zeros(12)
  for t in np.flatnonzero(voices >= 2):
    notes = pitch[play[t]]
    differences = (notes[None, :] - notes[:, None])[np.triu_indices(len(notes), 1)]
    intervals += np.bincount(differences % 12, minlength=12)
  parts.append(intervals / max(intervals.sum(), 1))
  top = np.where(sounding, piece.num_notes - 1 - np.argmax(play[:, ::-1], axis=1), -1)
  top_onsets = [pitch[top[t]] for t in range(len(top)) if top[t] >= 0 and onset[t, top[t]]]
  parts.append(_histogram(np.abs(np.diff(top_onsets)), LEAP_EDGES))
  parts.append([len(top_onsets) / max(sounding.sum(), 1)])
  if sounding.any():
    low = pitch[np.argmax(play[sounding], axis=1)]
    high = pitch[top[sounding]]
    register = [(low.mean() - 60) / 12, (high.mean() - 60) / 12, (high - low).mean() / 24]
  else:
    register = [0.0, 0.0, 0.0]
  parts.append(register)
  beat = piece.steps_per_quarter
  position = piece.bar_position
  onset_steps = onset.any(axis=1)
  on_beat = onset_steps & (position % beat == 0)
  parts.append([on_beat.sum() / max(onset_steps.sum(), 1), (onset_steps & (position == 0)).sum() /
                max(onset_steps.sum(), 1), (onset_steps & (position % beat != 0) & (position % (beat // 2 or 1) != 0)
                                            ).sum() / max(onset_steps.sum(), 1)])
  classes = np.zeros(12)
  np.add.at(classes, pitch % 12, play.sum(axis=0))
  shares = classes / max(classes.sum(), 1)
  parts.append([-(shares[shares > 0] * np.log(shares[shares > 0])).sum() / np.log(12)])
  return np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(np.float32)


def windows(piece: Piece, length: int, per_piece: int) -> list[Piece]:
  """Up to `per_piece` passages of `length` steps, evenly spaced over the piece and starting on bar lines (a piece
  shorter than `length` is one window)."""
  downbeats = np.flatnonzero(piece.bar_position == 0)
  fits = downbeats[downbeats + length <= piece.num_steps]
  if not fits.size:
    return [piece]
  chosen = np.unique(fits[np.linspace(0, fits.size - 1, min(per_piece, fits.size)).round().astype(int)])
  return [crop(piece, int(s), int(s) + length) for s in chosen]


@dataclasses.dataclass(frozen=True)
class StyleClassifier:
  """Standardization and weights of the regression; `predict` gives a style name per passage."""
  styles: tuple[str, ...]
  mean_F: np.ndarray
  scale_F: np.ndarray
  w_FxY: np.ndarray
  b_Y: np.ndarray

  def probabilities(self, pieces: Sequence[Piece]) -> np.ndarray:
    x = (np.stack([texture_features(p) for p in pieces]) - self.mean_F) / self.scale_F
    return np.asarray(jax.nn.softmax(x @ self.w_FxY + self.b_Y, axis=-1))

  def predict(self, pieces: Sequence[Piece]) -> list[str]:
    return [self.styles[i] for i in self.probabilities(pieces).argmax(axis=-1)]


def fit(pieces: Sequence[Piece], styles: Sequence[str], *, l2: float = 1e-2, steps: int = 1500) -> StyleClassifier:
  """The regression fitted to labelled passages (`piece.style`), each style weighted by the inverse of its count."""
  x = np.stack([texture_features(p) for p in pieces])
  y = np.array([styles.index(p.style) for p in pieces])
  mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
  x = jnp.asarray((x - mean) / scale)
  counts = np.bincount(y, minlength=len(styles))
  weight = jnp.asarray(len(y) / (len(styles) * np.maximum(counts, 1)))[y]
  labels = jax.nn.one_hot(y, len(styles))

  def objective(params):
    w, b = params
    nll = optax.softmax_cross_entropy(x @ w + b, labels)
    return jnp.sum(weight * nll) / jnp.sum(weight) + l2 * jnp.sum(w * w)

  optimizer = optax.adam(0.05)

  def step(_, carry):
    params, state = carry
    updates, state = optimizer.update(jax.grad(objective)(params), state)
    return optax.apply_updates(params, updates), state

  params = (jnp.zeros((x.shape[1], len(styles))), jnp.zeros(len(styles)))
  w, b = jax.jit(lambda p: jax.lax.fori_loop(0, steps, step, (p, optimizer.init(p)))[0])(params)
  return StyleClassifier(tuple(styles), mean, scale, np.asarray(w), np.asarray(b))


def accuracy_by_style(classifier: StyleClassifier, pieces: Sequence[Piece],
                      asked: Sequence[str]) -> dict[str, float]:
  """The share of the passages asked to be in each style that the classifier assigns to it."""
  predicted = classifier.predict(pieces)
  out = {}
  for style in classifier.styles:
    hits = [p == style for p, a in zip(predicted, asked) if a == style]
    if hits:
      out[style] = float(np.mean(hits))
  return out


def style_study(composer, dataset, split: str, *, num_samples: int, num_steps: int, seed: int,
                temperature: float = 1.0, windows_per_piece: int = 8) -> dict:
  """Per style of the composer's model: the classifier's accuracy on real passages of `split` (`num_steps` long),
  and the share of `num_samples` generated pieces asked for that style that it classifies as that style (and as
  what, the confusion row)."""
  styles = composer.config.model.styles
  train = [w for p in dataset.train if p.style in styles for w in windows(p, num_steps, windows_per_piece)]
  held_out = [w for p in dataset.split(split) if p.style in styles for w in windows(p, num_steps, windows_per_piece)]
  classifier = fit(train, styles)
  generated, asked = [], []
  for style in styles:
    generated += composer.generate(Request(num_steps=num_steps, style=style),
                                   Controls(num_samples=num_samples, seed=seed, temperature=temperature)).pieces
    asked += [style] * num_samples
  predicted = classifier.predict(generated)
  confusion = {style: {other: sum(p == other for p, a in zip(predicted, asked) if a == style) for other in styles}
               for style in styles}
  result = {'styles': list(styles), 'real_passages': len(held_out), 'train_passages': len(train),
            'real': accuracy_by_style(classifier, held_out, [p.style for p in held_out]),
            'generated': accuracy_by_style(classifier, generated, asked), 'confusion': confusion,
            'chance': 1 / len(styles)}
  if composer.config.model.dynamics:
    result['dynamics'] = {style: {'real': velocity_profile([p for p in held_out if p.style == style]),
                                  'generated': velocity_profile([p for p, a in zip(generated, asked) if a == style])}
                          for style in styles}
  return result


def velocity_profile(pieces: Sequence[Piece]) -> dict:
  """Of the pieces with velocities: the share of struck notes in each velocity bin (16 wide), and how the loudness
  moves from bar to bar: the mean, over pieces, of the standard deviation of the per-bar mean velocity."""
  with_dynamics = [p for p in pieces if p.velocity is not None]
  if not with_dynamics:
    return {'pieces': 0}
  struck = np.concatenate([p.velocity[p.velocity > 0] for p in with_dynamics])
  contours = []
  for p in with_dynamics:
    bar = np.cumsum(p.bar_position == 0)
    means = [p.velocity[bar == b][p.velocity[bar == b] > 0].mean() for b in np.unique(bar)
             if (p.velocity[bar == b] > 0).any()]
    contours.append(float(np.std(means)) if len(means) > 1 else 0.0)
  histogram = np.bincount((struck.astype(int) - 1) // 16, minlength=8) / struck.size
  return {'pieces': len(with_dynamics), 'struck_notes': int(struck.size), 'mean': float(struck.mean()),
          'histogram': histogram.round(3).tolist(), 'bar_to_bar_std': float(np.mean(contours))}
