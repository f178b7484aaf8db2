"""Score files read safely: no music21 file cache, notes finer than the grid placed or reported, sizes within budget."""

import os
import time
import zipfile

import numpy as np
import pytest
from music21 import meter, note, stream

import biaxial_jax as bj
from biaxial_jax.music import score_files


def _write(tmp_path, elements, name='tune.musicxml', time_signature='4/4'):
  part = stream.Part([meter.TimeSignature(time_signature)] + elements)
  return stream.Score([part]).write('musicxml', fp=str(tmp_path / name))


def _onsets(piece):
  return [(int(t), int(n) + piece.lowest) for t, n in zip(*np.nonzero(piece.roll[..., 1]))]


def test_a_replaced_score_is_read_afresh_not_from_a_cache(tmp_path):
  path = _write(tmp_path, [note.Note('C4', quarterLength=4) for _ in range(2)])
  assert bj.read_piece(path).num_steps == 32
  older = os.path.getmtime(path) - 3600
  _write(tmp_path, [note.Note('D4', quarterLength=3.5) for _ in range(2)], time_signature='7/8')
  os.utime(path, (older, older))  # older than anything a cache wrote for the first file
  piece = bj.read_piece(path)
  assert piece.num_steps == 28 and piece.time_signatures[0].numerator == 7
  assert _onsets(piece) == [(0, 62), (14, 62)]


def test_tuplets_keep_their_notes_where_the_grid_has_room(tmp_path):
  fives = [note.Note(p, quarterLength=0.4) for p in ('C4', 'D4', 'E4', 'F4', 'G4')]  # a quintuplet of eighths
  piece = bj.read_piece(_write(tmp_path, fives + [note.Note('C5', quarterLength=2)]))
  assert [p for _, p in _onsets(piece)] == [60, 62, 64, 65, 67, 72]


def test_a_tuplet_finer_than_the_grid_loses_notes_with_a_word(tmp_path):
  fives = [note.Note(p, quarterLength=0.2) for p in ('C4', 'D4', 'E4', 'F4', 'G4')]  # sixteenths, five to a beat
  path = _write(tmp_path, fives + [note.Note('C5', quarterLength=3)])
  with pytest.warns(UserWarning, match='1 note shorter than the grid'):
    piece = bj.read_piece(path)
  assert len(_onsets(piece)) == 5 and _onsets(piece)[-1] == (4, 72)


def test_a_grace_note_takes_its_time_from_the_note_before(tmp_path):
  grace = note.Note('B3').getGrace()
  piece = bj.read_piece(_write(tmp_path, [note.Note('G4', quarterLength=2), grace, note.Note('C4', quarterLength=2)]))
  assert _onsets(piece) == [(0, 67), (7, 59), (8, 60)]  # the main note on its beat; the grace in the G's last step
  assert piece.roll[7, 67 - piece.lowest, 0] == 0
  with pytest.warns(UserWarning, match='found no room'):
    bj.read_piece(_write(tmp_path, [note.Note('B3').getGrace(), note.Note('C4', quarterLength=4)], 'first.musicxml'))


def test_a_melody_that_loses_notes_says_so_among_the_changes(tmp_path):
  fives = [note.Note(p, quarterLength=0.2) for p in ('C5', 'D5', 'E5', 'F5', 'G5')]
  path = _write(tmp_path, fives + [note.Note('C5', quarterLength=3), note.Note('C5', quarterLength=4)])
  constraints = bj.load_checkpoint('bach').constraints(bj.Request(melody=path))
  assert any('the melody' in change and 'left out' in change for change in constraints.changes)


def _edited(tmp_path, old: str, new: str, name='edited.musicxml'):
  path = _write(tmp_path, [note.Note('C4', quarterLength=4)])
  text = open(path, encoding='utf-8').read()
  assert old in text
  edited = tmp_path / name
  edited.write_text(text.replace(old, new, 1), encoding='utf-8')
  return edited


@pytest.mark.parametrize('old, new, message', [
    ('<beats>4</beats>', '<beats>99999</beats>', 'a meter of'),
    ('<beat-type>4</beat-type>', '<beat-type>3</beat-type>', 'a beat value of 1/3'),
    ('<divisions>', '<divisions>1e300', 'divisions of'),
    ('<score-partwise', '<!DOCTYPE x [<!ENTITY a "aaaa">]><score-partwise', 'declares XML entities'),
])
def test_a_score_outside_the_budget_is_one_line_naming_the_file(tmp_path, old, new, message):
  path = _edited(tmp_path, old, new)
  start = time.monotonic()
  with pytest.raises(bj.BiaxialError, match=message) as raised:
    bj.read_piece(path)
  assert str(path) in str(raised.value) and '\n' not in str(raised.value)
  assert time.monotonic() - start < 5


def test_compressed_scores_inflate_within_the_budget(tmp_path, monkeypatch):
  xml = _write(tmp_path, [note.Note('E4', quarterLength=4)])
  mxl = tmp_path / 'tune.mxl'
  with zipfile.ZipFile(mxl, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('META-INF/container.xml', '<container><rootfiles><rootfile full-path="score.xml"/></rootfiles>'
               '</container>')
    z.write(xml, 'score.xml')
  assert _onsets(bj.read_piece(mxl)) == [(0, 64)]
  monkeypatch.setattr(score_files, 'MAX_XML_BYTES', 1000)
  with pytest.raises(bj.BiaxialError, match='score.xml inflates to over 1,000 bytes'):
    bj.read_piece(mxl)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
  fifo = tmp_path / 'pipe.musicxml'
  os.mkfifo(fifo)
  with pytest.raises(bj.BiaxialError, match='not a regular file'):
    bj.read_piece(fifo)  # opening a FIFO with no writer would block
