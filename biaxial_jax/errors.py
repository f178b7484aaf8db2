"""The package's errors: one base, each error a user-facing problem with a file, an argument or a config field.

`field` names what is wrong in the library's terms: an argument of generation (`melody`, `num_bars`), a config field
(`train.batch_size`), or None where the message names a file. A script maps fields to its own flags in one place,
at the edge (`cli.fail_with`); nothing here knows a flag.
"""

from __future__ import annotations


class BiaxialError(ValueError):
  """Base of the package's own errors. `message` says what is wrong; `field`, where known, what it is about; the
  text is `field: message`."""

  def __init__(self, message: str, field: str | None = None):
    super().__init__(f'{field}: {message}' if field else message)
    self.field = field
    self.message = message


def brief(error: Exception) -> str:
  """Another library's exception in one short line (tensorstore's messages carry kilobytes of JSON spec)."""
  text = ' '.join(str(error).split())
  return f'{type(error).__name__}: {text[:160]}{"..." if len(text) > 160 else ""}'


class GenerationError(BiaxialError):
  """A generation argument that cannot be honoured; `field` names the argument (`num_steps`, `melody`, `pickup`)."""

  def __init__(self, field: str, message: str):
    super().__init__(message, field)


class TrainingError(BiaxialError):
  """A training run that cannot start or go on (a workdir in use or without room, a non-finite loss); `field` is
  `workdir` where the workdir is at fault."""


class ConfigError(BiaxialError):
  """A config value that is not allowed; `field` is `section.name` (`train.batch_size`), or None where the message
  names the config file."""

  def __init__(self, field: str | None, message: str):
    super().__init__(message, field)
