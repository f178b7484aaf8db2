"""Numbers from flags, files, HTTP fields and the Python API, read one way: `GenerationError` naming the field.

An integer is a Python or numpy integer (never a bool) or ASCII decimal digits; a real number is a Python or numpy
number (never a bool) or a decimal literal of bounded length (`0.7`, `-3`, `1e-3`: never `1e1000000000`, whose
digits are not expanded); either must lie in its range, and a real must be finite. What comes back is Python's own
`int` or `float`, so that sizes computed from it cannot overflow a numpy type.
"""

from __future__ import annotations

import math
import numbers
import re

from biaxial_jax.errors import GenerationError

_INTEGER = re.compile(r'[+-]?\d{1,18}')
_REAL = re.compile(r'[+-]?(\d{1,18}(\.\d{0,18})?|\.\d{1,18})([eE][+-]?\d{1,3})?')


def integer(field: str, value, low: int, high: int | None, what: str = 'an integer') -> int:
  """`value` as an int in [low, high] (`high` None: no bound above)."""
  if isinstance(value, str) and value.isascii() and _INTEGER.fullmatch(value.strip()):
    value = int(value.strip())
  if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and low <= value and (high is None or value <= high)):
    bounds = f'>= {low}' if high is None else f'in [{low}, {high}]'
    raise GenerationError(field, f'must be {what} {bounds}, got {_shown(value)}')
  return int(value)


def real(field: str, value, low: float, high: float, *, above_low: bool = False, what: str = 'a number') -> float:
  """`value` as a finite float in [low, high] (`above_low`: in (low, high])."""
  if isinstance(value, str) and value.isascii() and _REAL.fullmatch(value.strip()):
    value = float(value.strip())
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
  if ok:
    value = float(value)
    ok = math.isfinite(value) and (low < value if above_low else low <= value) and value <= high
  if not ok:
    raise GenerationError(field, f'must be {what} in {"(" if above_low else "["}{low:g}, {high:g}], got '
                          f'{_shown(value)}')
  return value


def boolean(field: str, value) -> bool:
  """`value`, which must be True or False (a Python or numpy bool; never a string or a number)."""
  if type(value).__name__ == 'bool_':  # numpy's
    value = bool(value)
  if not isinstance(value, bool):
    raise GenerationError(field, f'must be True or False, got {_shown(value)}')
  return value


def _shown(value) -> str:
  text = repr(value)
  return text if len(text) <= 60 else text[:57] + '...'
