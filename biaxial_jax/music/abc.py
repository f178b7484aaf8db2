"""ABC tunebooks: choosing one tune, and what its text says that music21's reading drops.

An ABC file may hold many tunes (`X:` fields); `tune` picks one by number (`X:` value) or by title (`T:`, a unique
case-insensitive substring). Two things of the text are read here: its lines, which mark phrases (the Essen
collection writes one phrase per line, a pickup at the line's start; music21 ignores line ends), and whether the
`K:` field names a mode (`K:D` leaves it open: Essen's `K:` names the tune's final, not its mode, and a D-dorian
tune is written `K:D`).
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

from music21 import converter

from biaxial_jax.errors import BiaxialError

_FIELD = re.compile(r'^([A-Za-z]):\s*(.*)$')
_MODE_WORDS = re.compile(r'^[A-G][#b]?\s*(m|min|minor|maj|major|ion|ionian|aeo|aeolian|dor|dorian|phr|phrygian|lyd|'
                         r'lydian|mix|mixolydian|loc|locrian)\b', re.IGNORECASE)


class TuneError(BiaxialError):
  """A tune that cannot be chosen from an ABC file (none asked of several, none or several matching)."""


@dataclasses.dataclass(frozen=True)
class Tune:
  """One tune of an ABC file: its number (`X:`), title, and text (header and body)."""
  number: int | None
  title: str
  text: str

  @property
  def label(self) -> str:
    return f'{self.number if self.number is not None else "?"}: {self.title or "(untitled)"}'

  @property
  def mode_named(self) -> bool:
    """Whether the `K:` field names a mode (`K:Dm`, `K:D dorian`); `K:D` and a missing `K:` leave it open."""
    fields = [m.group(2).strip() for m in map(_FIELD.match, self.text.splitlines()) if m and m.group(1) == 'K']
    return bool(fields) and bool(_MODE_WORDS.match(fields[-1]))

  def score(self):
    """The tune parsed by music21."""
    return converter.parse(self.text, format='abc')

  def line_ends(self) -> tuple[Fraction, ...]:
    """Where each line of music ends, in quarter notes from the start (the last line's end left out): the offsets
    of a single-voice tune's phrase lines. Empty for a tune with voices (`V:`) or one line."""
    header, body, in_body = [], [], False  # body: lines of music, each with the field lines before it
    pending: list[str] = []
    for line in self.text.splitlines():
      field = _FIELD.match(line)
      if field and field.group(1) == 'V':
        return ()
      if not in_body:
        header.append(line)
        in_body = bool(field) and field.group(1) == 'K'
      elif field or not line.strip() or line.lstrip().startswith('%'):
        pending.append(line)
      elif body and body[-1].rstrip().endswith('\\'):  # a continuation: the same line of music
        body[-1] = body[-1].rstrip()[:-1] + ' ' + '\n'.join(pending + [line])
        pending = []
      else:
        body.append('\n'.join(pending + [line]))
        pending = []
    ends = []
    for count in range(1, len(body)):
      prefix = converter.parse('\n'.join(header + body[:count]), format='abc')
      ends.append(Fraction(prefix.highestTime).limit_denominator(10_000))
    return tuple(ends)


def tunes(text: str) -> list[Tune]:
  """The tunes of an ABC file's text, in order. Text before the first `X:` is the file header, whose fields apply to
  every tune; a text without `X:` is one tune."""
  header, *chunks = re.split(r'(?m)^(?=X:)', text)
  if not chunks:
    chunks, header = [header], ''
  out = []
  for chunk in chunks:
    fields = {}
    for line in chunk.splitlines():
      field = _FIELD.match(line)
      if field:
        fields.setdefault(field.group(1), field.group(2).strip())
    number = fields.get('X', '')
    out.append(Tune(int(number) if number.isascii() and number.isdecimal() and len(number) < 10 else None,
                    fields.get('T', ''), _with_header(header, chunk) if header.strip() else chunk))
  return out


def _with_header(shared: str, chunk: str) -> str:
  """A tune with the file header's fields (`M:`, `L:` ...) after its `X:` line, where ABC says they apply."""
  first, _, rest = chunk.partition('\n')
  kept = '\n'.join(line for line in shared.splitlines() if _FIELD.match(line))
  return f'{first}\n{kept}\n{rest}'


def choose(book: list[Tune], tune: int | str | None, path: str) -> Tune:
  """The tune `tune` names (its `X:` number, or a unique substring of its title); with `tune` None, the only tune.
  A `TuneError` naming `path` and listing the tunes otherwise."""
  if not book:
    raise TuneError(f'{path}: no tune')
  if tune is None:
    if len(book) == 1:
      return book[0]
    return _ambiguous(f'{path}: holds {len(book)} tunes; choose one by its X: number or part of its title', book)
  if isinstance(tune, int):
    found = [t for t in book if t.number == tune]
    if not found and len(book) == 1 and tune == 1:
      found = book
  else:
    found = [t for t in book if tune.strip().lower() in t.title.lower()]
  if len(found) == 1:
    return found[0]
  if not found:
    return _ambiguous(f'{path}: no tune {"numbered" if isinstance(tune, int) else "titled"} {tune!r}', book)
  return _ambiguous(f'{path}: {len(found)} tunes match {tune!r}', found)


def _ambiguous(message: str, listed: list[Tune]):
  shown = ', '.join(t.label for t in listed[:12]) + (f' ... ({len(listed)} in all)' if len(listed) > 12 else '')
  raise TuneError(f'{message}: {shown}')
