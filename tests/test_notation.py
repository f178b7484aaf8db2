"""Scores out: a sample as MusicXML that music21 reads back note for note, in voices, with its bar lines, key and
fermatas; given material on a part (and a MIDI track) of its own."""

import mido
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax.music import notation
from biaxial_jax.music.scores import score_to_piece


@pytest.fixture(scope='module')
def chorale():
  from music21 import corpus
  return score_to_piece(corpus.parse('bach/bwv269'), 'bwv269')  # 3/4 with a pickup, G major, six fermatas


def parts_of(path):
  from music21 import converter
  return converter.parse(str(path)).parts


def test_a_chorale_becomes_four_voices_that_read_back_note_for_note(chorale, tmp_path):
  path = bj.write_musicxml(chorale, tmp_path / 'c.musicxml')
  back = bj.read_piece(path)
  np.testing.assert_array_equal(back.roll, chorale.roll)  # ties across bar lines and repeated notes kept
  assert back.time_signatures == chorale.time_signatures and back.bar_position[:5].tolist() == [8, 9, 10, 11, 0]
  assert back.key == bj.Key(7, True) and back.phrase_ends == chorale.phrase_ends  # key signature, fermatas
  parts = parts_of(path)
  assert [p.partName for p in parts] == ['Soprano', 'Alto', 'Tenor', 'Bass']
  assert parts[0].getElementsByClass('Measure')[0].paddingLeft == 2  # a real pickup bar, not a bar of 1/4
  for part in parts:
    assert all(len(n.pitches) == 1 for n in part.flatten().notes)  # one note at a time per voice
  means = [np.mean([n.pitch.midi for n in p.flatten().notes]) for p in parts]
  assert means == sorted(means, reverse=True)


def voiced_piece(lines) -> bj.Piece:
  """A piece from four lines of (start step, end step, MIDI pitch), soprano first."""
  roll = np.zeros((max(e for line in lines for _, e, _ in line), 78, 2), np.uint8)
  voices = np.zeros(roll.shape[:2], np.uint8)
  for v, line in enumerate(lines):
    for start, end, pitch in line:
      roll[start:end, pitch - 24, 0] = 1
      roll[start, pitch - 24, 1] = 1
      voices[start:end, pitch - 24] |= 1 << v
  return bj.Piece(roll, key=bj.Key(0, True), voices=voices)


def test_a_piece_with_voices_is_written_as_its_voices_sang_it(tmp_path):
  # the alto climbs above the soprano on the third beat (pitch order would swap their parts there) and sings a
  # unison with it on the fourth; the tenor holds a half note across the beat
  piece = voiced_piece([[(0, 4, 72), (4, 8, 71), (8, 12, 67), (12, 16, 72)],
                        [(0, 4, 67), (4, 8, 67), (8, 12, 69), (12, 16, 72)],
                        [(0, 8, 64), (8, 16, 64)],
                        [(0, 4, 48), (4, 8, 43), (8, 12, 41), (12, 16, 48)]])
  path = bj.write_musicxml(piece, tmp_path / 'v.musicxml')
  parts = parts_of(path)
  assert [p.partName for p in parts] == ['Soprano', 'Alto', 'Tenor', 'Bass']
  assert [type(p.getElementsByClass('Measure')[0].clef).__name__ for p in parts] == list(notation.VOICE_CLEFS)
  assert [n.pitch.midi for n in parts[1].flatten().notes] == [67, 67, 69, 72]
  assert [n.quarterLength for n in parts[2].flatten().notes] == [2, 2]
  back = bj.read_piece(path)
  np.testing.assert_array_equal(back.voices, piece.voices)  # the crossing and the unison kept, voice by voice
  assert back == piece


def test_given_notes_get_a_part_and_a_midi_track_of_their_own(chorale, tmp_path):
  chorale = chorale.with_roll(chorale.roll)  # no voices: parts by pitch order, the given melody apart
  melody = bj.top_voice(chorale)
  given = melody.roll[..., 0].astype(bool)
  parts = parts_of(bj.write_musicxml(chorale, tmp_path / 'h.musicxml', given))
  assert [p.partName for p in parts] == ['Melody', 'Alto', 'Tenor', 'Bass']
  sung = [(n.offset, n.pitch.midi) for n in parts[0].stripTies().flatten().notes]
  assert sung == [(n.offset, n.pitch.midi) for n in parts_of(bj.write_musicxml(melody, tmp_path / 'm.musicxml'))[0]
                  .stripTies().flatten().notes]
  midi = bj.write_midi(chorale, tmp_path / 'h.mid', given=given)
  mid = mido.MidiFile(midi)
  channels = [{m.channel for m in t if m.type == 'note_on'} for t in mid.tracks]
  assert mid.type == 1 and channels == [{0}, {1}]
  melody_pitches = [m.note for m in mid.tracks[1] if m.type == 'note_on']
  assert len(melody_pitches) == len(np.flatnonzero(melody.roll[..., 1]))
  assert bj.read_midi(midi) == chorale  # the two tracks together are the piece


def test_a_dense_texture_goes_on_a_grand_staff(tmp_path):
  roll = np.zeros((16, 78, 2), np.uint8)
  for pitch in (48, 52, 55, 60, 64, 67):  # six notes at once
    roll[:, pitch - 24, 0] = 1
    roll[0, pitch - 24, 1] = roll[8, pitch - 24, 1] = 1
  piece = bj.Piece(roll, key=bj.Key(0, True))
  path = bj.write_musicxml(piece, tmp_path / 'd.musicxml')
  assert [p.partName for p in parts_of(path)] == ['Upper', 'Lower']
  np.testing.assert_array_equal(bj.read_piece(path).roll, roll)


def test_voices_keep_each_note_whole_and_move_little():
  roll = np.zeros((8, 10, 2), np.uint8)
  roll[0:8, 7] = [1, 0]  # a held upper note
  roll[0, 7, 1] = 1
  for t, n in ((0, 2), (4, 3)):  # a lower line moving by step
    roll[t:t + 4, n, 0] = 1
    roll[t, n, 1] = 1
  voices = notation.assign_voices(roll, 2)
  assert set(voices[:, 7]) == {0} and set(voices[:, 2][:4]) == {1} and set(voices[4:, 3]) == {1}


def test_a_chord_that_holds_one_note_and_strikes_another_reads_back(tmp_path):
  roll = np.zeros((8, 78, 2), np.uint8)
  for pitch, start, end in ((63, 0, 4), (66, 0, 8), (65, 4, 8), (72, 0, 8), (44, 0, 8)):
    roll[start:end, pitch - 24, 0] = 1
    roll[start, pitch - 24, 1] = 1
  piece = bj.Piece(roll, key=bj.Key(5, False))  # F minor: 63 is E-flat, 66 G-flat... spelled by the key
  path = bj.write_musicxml(piece, tmp_path / 'held.musicxml')
  np.testing.assert_array_equal(bj.read_piece(path).roll, roll)
  names = {p.name for part in parts_of(path) for n in part.flatten().notes for p in n.pitches}
  assert names == {'A-', 'E-', 'F', 'G-', 'C'}  # flats in a flat key, never G-sharp for A-flat


@pytest.mark.parametrize('key, pitches, names', [
    (bj.Key(2, False), (61, 66, 71, 68, 63, 70), {'C#', 'F#', 'B', 'G#', 'E-', 'B-'}),  # D minor: raised 7, 3, 6, 4
    (bj.Key(0, True), (70, 66, 68, 63, 61), {'B-', 'F#', 'G#', 'D#', 'C#'}),  # C major: b7 and the leading tones
    (bj.Key(6, True), (65, 70), {'E#', 'A#'}),  # F-sharp major: its own leading tone is E-sharp
])
def test_notes_outside_the_key_are_spelled_as_tonal_music_spells_them(key, pitches, names, tmp_path):
  roll = np.zeros((4 * len(pitches), 78, 2), np.uint8)
  for i, pitch in enumerate(pitches):
    roll[4 * i:4 * i + 4, pitch - 24, 0] = 1
    roll[4 * i, pitch - 24, 1] = 1
  path = bj.write_musicxml(bj.Piece(roll, key=key), tmp_path / 'spelled.musicxml')
  assert {p.name for part in parts_of(path) for n in part.flatten().notes for p in n.pitches} == names
