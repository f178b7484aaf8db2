"""What the studio does with a warm model: harmonize, compose, regenerate a region, and keep the versions.

Form fields are named as `sample.py`'s flags and read through `Request` and `Controls` (so a field's error is the
flag's); uploads are written under names the studio chooses, in a folder of its own, never under the name a request
gives. Each version keeps its piece, the notes that were given, the request it came from and its key, so a region can
be drawn again with everything else fixed: the sampler's infilling, whose particles are weighed by the fixed music on
both sides of the region.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import tempfile
import threading

import numpy as np

from biaxial_jax import render
from biaxial_jax.errors import GenerationError
from biaxial_jax.generation import Composer, Controls, Request
from biaxial_jax.generation.outline import downbeats
from biaxial_jax.generation.request import flag_name
from biaxial_jax.music import scores
from biaxial_jax.music.keys import Key
from biaxial_jax.music.midi import write_midi
from biaxial_jax.music.notation import write_musicxml
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece
from biaxial_jax.music.voices import NUM_VOICES

MAX_UPLOAD_BYTES = 2 << 20  # a melody or score; the largest chorale is 100 kB
MAX_VERSIONS = 200  # kept in memory, oldest dropped first
UPLOAD_EXTENSIONS = scores.SCORE_EXTENSIONS + ('.mid', '.midi')
_TRUE, _FALSE = ('true', '1', 'on', 'yes'), ('false', '0', 'off', 'no')
WARM_UP_TUNE = 'X:1\nT:warm-up\nM:4/4\nL:1/4\nK:C\nE D C D | E E E2 | D D E D | C4 |]\n'


@dataclasses.dataclass(frozen=True)
class Version:
  """One state of the music: `piece`, the `given` notes (`bool[T, N]`), and what made it."""
  id: str
  piece: Piece
  given: np.ndarray
  request: Request
  key: Key | None
  parent: str | None
  label: str


def request_of(fields: dict[str, str], melody: str | None = None) -> tuple[Request, Controls]:
  """`Request` and `Controls` from form fields named as sample.py's flags (text values; empty ones left out);
  `melody` is a path the studio wrote. A field that is not a flag of either, or names a file, is an error on it."""
  kinds = {flag_name(f): (cls, f) for cls in (Request, Controls) for f in dataclasses.fields(cls)}
  chosen = {Request: {}, Controls: {}}
  for name, text in fields.items():
    if not text.strip():
      continue
    if name not in kinds:
      readable = sorted(n for n, (_, f) in kinds.items() if f.metadata['kind'] not in ('file', 'npz'))
      raise GenerationError(name, f'not a field the studio reads (it reads {", ".join(readable)})')
    cls, field = kinds[name]
    kind = field.metadata['kind']
    if kind in ('file', 'npz'):
      raise GenerationError(field.name, 'the studio takes music as the uploaded melody only')
    if kind == 'boolean':
      lowered = text.strip().lower()
      if lowered not in _TRUE + _FALSE:
        raise GenerationError(field.name, f'must be true or false, got {text[:40]!r}')
      value = lowered in _TRUE
    elif kind == 'list':
      value = tuple(item.strip() for item in text.split(','))
    else:
      value = text.strip()
    chosen[cls][field.name] = value
  if melody is not None:
    chosen[Request]['melody'] = melody
  return Request(**chosen[Request]), Controls(**chosen[Controls])


class Studio:
  """A warm `Composer` and the versions it has made."""

  def __init__(self, composer: Composer):
    self.composer = composer
    self._versions: collections.OrderedDict[str, Version] = collections.OrderedDict()
    self._lock = threading.Lock()
    self._count = 0
    self._uploads = tempfile.mkdtemp(prefix='biaxial-studio-')

  def warm_up(self) -> None:
    """Compiles (or loads from jax's cache) what a first harmonization, region and composition of a few bars run:
    a built-in tune of 4 bars harmonized, its bars 2-3 drawn again, 2 bars composed; then forgets them."""
    melody = self.save_upload(WARM_UP_TUNE.encode('ascii'), 'warm-up.abc')
    first = self.generate(Request(melody=melody), Controls(), 'warm-up')
    self.regenerate(first.id, 2, 3, Controls())
    self.generate(Request(num_bars=2), Controls(), 'warm-up')
    os.remove(melody)
    with self._lock:
      self._versions.clear()
      self._count = 0

  def save_upload(self, data: bytes, filename: str) -> str:
    """The uploaded bytes in the studio's own folder, named by the studio (only the extension is taken from
    `filename`, and only one of `UPLOAD_EXTENSIONS`)."""
    extension = os.path.splitext(filename or '')[1].lower()
    if extension not in UPLOAD_EXTENSIONS:
      raise GenerationError('melody', f'expected a score or MIDI file ({", ".join(UPLOAD_EXTENSIONS)}), got '
                            f'{(filename or "no name")[:80]!r}')
    if len(data) > MAX_UPLOAD_BYTES:
      raise GenerationError('melody', f'{len(data):,} bytes, over the limit of {MAX_UPLOAD_BYTES:,} for an upload')
    if not data:
      raise GenerationError('melody', 'the file is empty')
    fd, path = tempfile.mkstemp(dir=self._uploads, suffix=extension)
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
    return path

  def generate(self, request: Request, controls: Controls, label: str, parent: Version | None = None) -> Version:
    """One piece for `request` (the first of `controls.num_samples`), kept as a new version; one drawn again from
    a `parent` keeps the parent's given notes (the melody), not the fixed rest."""
    generation = self.composer.generate(request, dataclasses.replace(controls, num_samples=1))
    given = generation.given if parent is None else parent.given
    return self._keep(generation.pieces[0], given, request, generation.keys[0], parent and parent.id, label)

  def regenerate(self, version_id: str, first_bar: int, last_bar: int, controls: Controls,
                 voice: int | None = None) -> Version:
    """Draws bars `first_bar`..`last_bar` (from 1; a pickup is bar 0) of a version again, every voice or only
    `voice` (0 soprano .. 3 bass), with the rest of the piece fixed and its melody and key kept. A note held from
    the region across its end is struck again there where its start was drawn anew."""
    old = self.version(version_id)
    piece = old.piece
    starts = np.concatenate([[0], downbeats(piece.num_steps, piece.time_signatures, piece.steps_per_quarter),
                             [piece.num_steps]])
    bars = len(starts) - 2  # starts: the pickup's start, each downbeat, the end
    if not (isinstance(first_bar, int) and isinstance(last_bar, int) and 0 <= first_bar <= last_bar <= bars):
      raise GenerationError('bars', f'expected bars first..last within 0..{bars}, got {first_bar}..{last_bar}')
    start, end = int(starts[first_bar]), int(starts[last_bar + 1])
    if end <= start:
      raise GenerationError('bars', f'bars {first_bar}..{last_bar} hold no steps')
    roll = piece.roll.astype(bool)
    mask = np.ones_like(roll)
    if voice is None:
      mask[start:end] = False
    else:
      if piece.voices is None or not 0 <= voice < NUM_VOICES:
        raise GenerationError('voice', f'expected a voice 0..{NUM_VOICES - 1} of a piece with voices, got {voice!r}')
      others = (piece.voices[start:end] & ~np.uint8(1 << voice)) > 0
      mask[start:end] = others[..., None]  # the other voices' notes stay; every other cell is free
    fixed = (mask, np.where(mask, roll, False), piece.voices)  # the fixed notes keep the voices that sang them
    request = dataclasses.replace(old.request, num_steps=piece.num_steps, num_bars=None, fixed=fixed,
                                  key=old.key or old.request.key)
    where = f'bars {first_bar}-{last_bar}' + ('' if voice is None else f', voice {voice}')
    return self.generate(request, controls, f'{where} of version {old.id}', parent=old)

  def version(self, version_id: str) -> Version:
    with self._lock:
      found = self._versions.get(version_id)
    if found is None:
      raise GenerationError('version', f'no version {version_id[:20]!r} (the studio keeps the last {MAX_VERSIONS})')
    return found

  def _keep(self, piece, given, request, key, parent, label) -> Version:
    with self._lock:
      self._count += 1
      version = Version(str(self._count), piece, np.asarray(given, bool), request, key, parent, label)
      self._versions[version.id] = version
      while len(self._versions) > MAX_VERSIONS:
        self._versions.popitem(last=False)
    return version

  def files(self, version: Version) -> dict:
    """The version as MusicXML text, MIDI bytes and its notes (for the page's player and piano roll)."""
    with tempfile.TemporaryDirectory(dir=self._uploads) as folder:
      musicxml = write_musicxml(version.piece, os.path.join(folder, 'v.musicxml'), version.given)
      midi = write_midi(version.piece, os.path.join(folder, 'v.mid'), given=version.given)
      with open(musicxml, encoding='utf-8') as f:
        musicxml_text = f.read()
      with open(midi, 'rb') as f:
        midi_bytes = f.read()
    return {'musicxml': musicxml_text, 'midi': midi_bytes, 'notes': notes_of(version)}


  def wav(self, version: Version) -> bytes:
    """The version played by FluidSynth (`render.render_wav`), as WAV bytes; a `GenerationError` on the field
    `wav` says why where there is none (FluidSynth or a soundfont missing)."""
    with tempfile.TemporaryDirectory(dir=self._uploads) as folder:
      midi = write_midi(version.piece, os.path.join(folder, 'v.mid'), given=version.given)
      wav, note = render.render_wav(midi, os.path.join(folder, 'v.wav'))
      if wav is None:
        raise GenerationError('wav', note)
      with open(wav, 'rb') as f:
        return f.read()


def notes_of(version: Version) -> list[dict]:
  """Each note as `{start, end, pitch, given}` in steps (the page draws the piano roll and plays from these)."""
  roll, given, lowest = version.piece.roll, version.given, version.piece.lowest
  out = []
  for n in range(roll.shape[1]):
    playing = roll[:, n, PLAY] > 0
    onsets = playing & ((roll[:, n, ARTICULATE] > 0) | ~np.concatenate([[False], playing[:-1]]))
    for start in np.flatnonzero(onsets):
      end = start + 1
      while end < len(playing) and playing[end] and not onsets[end]:
        end += 1
      out.append({'start': int(start), 'end': int(end), 'pitch': int(lowest + n), 'given': bool(given[start, n])})
  return sorted(out, key=lambda note: (note['start'], note['pitch']))

