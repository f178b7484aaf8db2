"""Score files read safely: the bytes within a budget, checked before music21 sees them, and none of its file caches.

music21's `converter.parse(path)` keeps a pickle of every file it reads in its scratch folder and, on the next read,
unpickles that instead of the file when the file looks older: a planted pickle runs code, a replaced file reads as
the old one, and every read writes outside the output folder. Here music21 only ever gets text or an XML tree.

The budget bounds what a small file can ask for: its bytes (an `.mxl`'s members as they inflate, not as their
headers claim), measures, notes, meters (a bar of at most `MAX_BEATS` beats of a power-of-two note value), tuplet
ratios, divisions and durations. MusicXML is parsed by one feed of the whole document (expat before 2.6 grows
quadratically when fed in chunks, as ElementTree's file parser does) with entity declarations refused.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from xml.etree import ElementTree

from music21 import converter
from music21.musicxml import xmlToM21

from biaxial_jax.errors import BiaxialError
from biaxial_jax.music.files import read_limited

MAX_FILE_BYTES = 8 << 20  # a score file as stored; the largest of music21's corpus is about 2 MB
MAX_XML_BYTES = 32 << 20  # an .mxl's score as inflated
MAX_MEASURES = 20_000  # over all parts: 500 bars of 40 parts
MAX_NOTES = 50_000  # notes and rests, all parts: music21 reads about 0.5 ms a note, so at most half a minute
MAX_BEATS = 64  # beats in a bar; beat values 1/1 .. 1/64
MAX_DIVISIONS = 100_000  # MusicXML divisions per quarter note
MAX_QUARTERS = 50_000  # the longest note or rest, in quarters (200,000 steps at 4 steps per quarter)
MAX_TUPLET = 64  # notes of a tuplet, either side of its ratio


class ScoreReadError(BiaxialError):
  """A score file that cannot be turned into a `Piece`; the message names the file."""


def read_bytes(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> bytes:
  """The bytes of a regular file of at most `limit` bytes (a FIFO or device is refused before it is opened)."""
  try:
    return read_limited(path, limit, 'a score')
  except OSError as e:
    raise ScoreReadError(f'{os.fspath(path)}: cannot be read ({e.strerror or e})') from None
  except ValueError as e:
    raise ScoreReadError(str(e)) from None


def decode(raw: bytes) -> str:
  """Text as UTF-8, else Latin-1 (older ABC tunebooks, the Essen collection among them)."""
  try:
    return raw.decode('utf-8')
  except UnicodeDecodeError:
    return raw.decode('latin-1')


def parse(path: str | os.PathLike):
  """A MusicXML (`.musicxml`, `.xml`, `.mxl`) or Humdrum (`.krn`) file as a music21 stream, within the budget."""
  path = os.fspath(path)
  raw = read_bytes(path)
  if path.lower().endswith('.krn'):
    text = decode(raw)
    check_text_meters(text, path, r'^\*M(\d+)/(\d+)')
    return converter.parseData(humdrum_phrase_ends(text), format='humdrum')
  if path.lower().endswith('.mxl') or raw.startswith(b'PK\x03\x04'):
    raw = _mxl_score(raw, path)
  root = musicxml_root(raw, path)
  importer = xmlToM21.MusicXMLImporter()
  importer.xmlRootToScore(root, importer.stream)
  return importer.stream


_KERN_NOTE = re.compile(r'\d.*[A-Ga-g]|[A-Ga-g].*\d')  # a **kern note token: a duration and a pitch


def humdrum_phrase_ends(text: str) -> str:
  """Humdrum text whose phrase ends (`}` on a note of a **kern spine) also carry a fermata (`;`): music21 reads
  fermatas and drops phrase marks, and a fermata marks a phrase's end here (`scores.score_to_piece`)."""
  lines = text.split('\n')
  for i, line in enumerate(lines):
    if '}' not in line or line.startswith(('!', '*', '=')):
      continue
    lines[i] = '\t'.join(' '.join(note + ';' if '}' in note and ';' not in note and _KERN_NOTE.search(note) else note
                                   for note in field.split(' '))
                          for field in line.split('\t'))
  return '\n'.join(lines)


def check_text_meters(text: str, path: str, pattern: str):
  """Meters written in text (ABC `M:3/4`, Humdrum `*M3/4`) within the budget."""
  for match in re.finditer(pattern, text, re.MULTILINE):
    _check_meter(match.group(1), match.group(2), path)


def _check_meter(beats: str, beat_type: str, path: str):
  counts = [part.strip() for part in beats.split('+')]
  if not all(c.isascii() and c.isdigit() for c in counts) or not 1 <= sum(map(int, counts)) <= MAX_BEATS:
    raise ScoreReadError(f'{path}: a meter of {beats[:20]!r} beats; at most {MAX_BEATS} are read')
  value = beat_type.strip()
  if not (value.isascii() and value.isdigit() and int(value) in {2**i for i in range(7)}):
    raise ScoreReadError(f'{path}: a beat value of 1/{value[:20]}; a power of two up to 1/64 is read')


def _mxl_score(raw: bytes, path: str) -> bytes:
  """The score inside a compressed MusicXML file (the container's root file, else its first `.xml`/`.musicxml`),
  inflated within `MAX_XML_BYTES` whatever its header claims."""
  try:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
      names = z.namelist()
      name = None
      if 'META-INF/container.xml' in names:
        container = musicxml_root(_member(z, 'META-INF/container.xml', path), path, score=False)
        name = next((e.get('full-path') for e in container.iter('rootfile') if e.get('full-path') in names), None)
      name = name or next((n for n in names if not n.startswith('META-INF/')
                           and n.lower().endswith(('.xml', '.musicxml'))), None)
      if name is None:
        raise ScoreReadError(f'{path}: a compressed MusicXML file without a score in it')
      return _member(z, name, path)
  except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as e:
    raise ScoreReadError(f'{path}: not a readable compressed MusicXML file ({type(e).__name__}: '
                         f'{str(e)[:120]})') from None


def _member(z: zipfile.ZipFile, name: str, path: str) -> bytes:
  with z.open(name) as f:
    data = f.read(MAX_XML_BYTES + 1)
  if len(data) > MAX_XML_BYTES:
    raise ScoreReadError(f'{path}: {name} inflates to over {MAX_XML_BYTES:,} bytes, the limit for a score')
  return data


def musicxml_root(raw: bytes, path: str, score: bool = True) -> ElementTree.Element:
  """A MusicXML document's root element, parsed in one feed, entity declarations refused, and (a `score`) the
  budget checked: `score-partwise`, measures, notes, meters, divisions, durations, tuplets."""
  if re.search(rb'<!ENTITY', raw, re.IGNORECASE):
    raise ScoreReadError(f'{path}: declares XML entities, which a score does not need and are not read')
  try:
    root = ElementTree.fromstring(raw)
  except ElementTree.ParseError as e:
    raise ScoreReadError(f'{path}: not well-formed XML ({e})') from None
  if not score:
    return root
  if root.tag != 'score-partwise':
    raise ScoreReadError(f'{path}: a MusicXML <{root.tag}>; only <score-partwise> scores are read')
  measures = notes = 0
  for element in root.iter():
    tag = element.tag
    if tag == 'measure':
      measures += 1
      if measures > MAX_MEASURES:
        raise ScoreReadError(f'{path}: over {MAX_MEASURES:,} measures, the limit for a score')
    elif tag == 'note':
      notes += 1
      if notes > MAX_NOTES:
        raise ScoreReadError(f'{path}: over {MAX_NOTES:,} notes, the limit for a score')
    elif tag == 'time':
      for beats, beat_type in zip(element.iter('beats'), element.iter('beat-type')):
        _check_meter(beats.text or '', beat_type.text or '', path)
    elif tag == 'divisions':
      _check_number(element, path, 'divisions', 1, MAX_DIVISIONS)
    elif tag == 'duration':
      _check_number(element, path, 'a duration', 0, MAX_DIVISIONS * MAX_QUARTERS)
    elif tag in ('actual-notes', 'normal-notes'):
      _check_number(element, path, f'a tuplet\'s {tag}', 1, MAX_TUPLET)
  return root


def _check_number(element: ElementTree.Element, path: str, what: str, low: float, high: float):
  text = (element.text or '').strip()
  try:
    value = float(text) if text.isascii() else float('nan')
  except ValueError:
    value = float('nan')
  if not low <= value <= high:
    raise ScoreReadError(f'{path}: {what} of {text[:20]!r}; a number in [{low:,}, {high:,}] is read')
