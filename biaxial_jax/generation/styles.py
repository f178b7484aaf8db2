"""The style a model with styles (`model.styles`) is asked for: one style, or a mixture of them.

`--style=chorale` asks for one style; `--style=chorale:0.7,classical:0.3` for a mixture, its weights normalized to
sum to 1 (the model reads the weights where it read a one-hot in training, so a mixture is an interpolation the
network was never shown: the paper's "tunable parameters", to be judged by ear). From Python, also a mapping
`{'chorale': 0.7, 'classical': 0.3}`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from biaxial_jax import values
from biaxial_jax.errors import GenerationError

MAX_WEIGHT = 1e6  # weights are normalized; a bound keeps their sum finite


def parse(style: str | Mapping[str, float], known: tuple[str, ...]) -> dict[str, float]:
  """`{style: weight}`, weights > 0 summing to 1, from text or a mapping; `GenerationError('style', ...)` naming the
  model's styles when a name is unknown or a weight is not a positive number."""
  if not known:
    raise GenerationError('style', 'this model was trained without styles (its model.styles is empty)')
  if isinstance(style, str):
    weights = {}
    for part in style.split(','):
      name, sep, weight = part.partition(':')
      name = name.strip()
      if name in weights:
        raise GenerationError('style', f'{name!r} is named twice')
      weights[name] = weight if sep else 1.0
  elif isinstance(style, Mapping):
    weights = dict(style)
  else:
    raise GenerationError('style', f'expected a style name, name:weight pairs or a mapping, got {type(style).__name__}')
  for name, value in weights.items():
    if name not in known:
      raise GenerationError('style', f'{name!r} is not a style of this model (it knows {", ".join(known)})')
    weights[name] = values.real('style', value, 0, MAX_WEIGHT, what=f'the weight of {name}: a finite number')
  total = sum(weights.values())
  if total <= 0:
    raise GenerationError('style', 'the weights sum to 0: give at least one style a weight > 0')
  return {name: weights[name] / total for name in known if weights.get(name, 0) > 0}


def weights_of(style: dict[str, float], known: tuple[str, ...]) -> np.ndarray:
  """`float32[Y]`, the weight of each of the model's styles (zeros for a model without styles)."""
  return np.array([style.get(name, 0.0) for name in known], np.float32)


def plays_dynamics(style: dict[str, float], dynamics_styles: tuple[str, ...]) -> bool:
  """Whether a model with dynamics plays `style` with them: some of its weight is on a style whose training data
  carried velocities (`model.dynamics_styles`; empty: every style, or a model without styles)."""
  return not dynamics_styles or any(style.get(name, 0) > 0 for name in dynamics_styles)


def describe(style: dict[str, float]) -> str:
  """'chorale' or 'chorale 70%, classical 30%'."""
  if len(style) == 1:
    return next(iter(style))
  return ', '.join(f'{name} {weight:.0%}' for name, weight in style.items())
