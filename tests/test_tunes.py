"""Tunes as a musician brings them: an ABC tunebook (which tune, its lines as phrases, a K: without a mode), phrases
heard in a melody that marks none, the key from whatever is given, and the final chord under a melody."""

import dataclasses

import numpy as np
import pytest
from music21 import corpus, meter, note, spanner, stream

import biaxial_jax as bj
from biaxial_jax.analysis import harmony, phrases
from biaxial_jax.errors import GenerationError
from biaxial_jax.generation import outline
from biaxial_jax.generation.request import Controls, Request
from biaxial_jax.music import abc, melodies, scores
from biaxial_jax.music.piece import Key, TimeSignature

# Two tunes: the first a D-dorian tune written as Essen writes it (K: names the final; F and C natural), two phrases
# of two bars each, one per line, each starting with its quarter pickup.
BOOK = """%a tunebook
L:1/8
M:4/4

X:7
T:Dorian Song
K:D
A2 | d2 e2 =f2 e2 | d4 =c2
A2 | =F2 G2 A2 E2 | D6 |]

X:8
T:Second Song
K:G
D2 | G2 A2 B2 c2 | d6 |]
"""


@pytest.fixture
def book(tmp_path):
  path = tmp_path / 'book.abc'
  path.write_text(BOOK)
  return path


def test_a_tunebook_lists_its_tunes_and_a_tune_is_chosen_by_number_or_title(book):
  tunes = abc.tunes(BOOK)
  assert [(t.number, t.title) for t in tunes] == [(7, 'Dorian Song'), (8, 'Second Song')]
  assert 'L:1/8' in tunes[1].text  # the file header's fields apply to every tune
  assert abc.choose(tunes, 8, 'b').title == 'Second Song'
  assert abc.choose(tunes, 'dorian', 'b').number == 7
  with pytest.raises(abc.TuneError, match=r'holds 2 tunes.*7: Dorian Song, 8: Second Song'):
    abc.choose(tunes, None, 'b')
  with pytest.raises(abc.TuneError, match=r"2 tunes match 'song'"):
    abc.choose(tunes, 'song', 'b')
  with pytest.raises(abc.TuneError, match='no tune numbered 9'):
    abc.choose(tunes, 9, 'b')
  assert len(abc.tunes('K:C\nCDEF|\n')) == 1  # no X: at all: one tune


def test_an_abc_tune_reads_its_lines_as_phrases_ending_before_the_next_pickup_and_its_mode_by_analysis(book):
  piece = scores.read_score(book, tune=7)
  # steps of a sixteenth: the pickup is 4 steps, a bar 16; line 1 ends after bar 2's c, where the next pickup begins
  assert piece.phrase_ends == (4 + 16 + 12,)
  assert piece.key == Key(2, False)  # K:D with F and C natural: D minor, not the D major a bare K:D names
  second = scores.read_score(book, tune='second')
  assert second.key == Key(7, True) and second.phrase_ends is None


def test_the_tune_field_names_its_flag_and_lists_the_tunes(book, shipped_bach):
  with pytest.raises(GenerationError, match='holds 2 tunes') as e:
    shipped_bach.constraints(Request(melody=str(book)))
  assert e.value.field == 'tune'
  c = shipped_bach.constraints(Request(melody=str(book), tune=7))
  assert c.key == Key(2, False) and c.phrase_ends == (32, c.num_steps)
  assert any('phrases: as the melody marks them' in note for note in c.changes)
  with pytest.raises(GenerationError, match='tune'):
    Request(melody=str(book), tune=True)


def melody_piece(pitches_and_lengths, pickup: int, key=None) -> bj.Piece:
  """A one-voice piece in 4/4 (4 steps a quarter, the shipped model's grid) from (MIDI, steps) pairs; None is a
  rest."""
  total = sum(length for _, length in pitches_and_lengths)
  roll = np.zeros((total, 78, 2), np.uint8)
  t = 0
  for pitch, length in pitches_and_lengths:
    if pitch is not None:
      roll[t:t + length, pitch - 24, 0] = 1
      roll[t, pitch - 24, 1] = 1
    t += length
  meters = (TimeSignature(0, 1, 4), TimeSignature(pickup, 4, 4)) if pickup else (TimeSignature(0, 4, 4),)
  return bj.Piece(roll, lowest=24, time_signatures=meters, key=key)


def test_phrases_are_heard_at_long_notes_on_the_tonic_before_the_pickup_returns():
  q, h = 4, 8
  phrase = [(67, q), (72, q), (74, q), (76, q), (74, q), (72, h), (None, q)]
  piece = melody_piece(phrase * 3 + [(67, q), (72, h + q)], pickup=q, key=Key(0, True))
  # each phrase: the pickup G, a bar of quarters, a half-note C and a rest: it closes where the C ends, and the
  # next begins with the pickup on beat 4
  length = sum(n for _, n in phrase)
  assert phrases.heard_phrase_ends(piece) == (length - q, 2 * length - q, 3 * length - q, piece.num_steps)


def test_the_key_comes_from_what_is_given_and_the_log_says_where(shipped_bach):
  assert shipped_bach.constraints(Request(ending='D minor')).key == Key(2, False)
  c = shipped_bach.constraints(Request(ending='D minor', key='F major'))
  assert c.key == Key(5, True) and 'key: F major, as asked' in c.changes
  motif = melody_piece([(62, 4), (65, 4), (69, 4), (74, 4), (73, 4), (74, 12)], pickup=0)
  c = shipped_bach.constraints(Request(motif=motif, motif_at=(1, '3:+2')))
  assert c.key == analysis_key(motif).transposed(0)
  assert any(note.startswith(f'key: {c.key}, by analysis of the motif') for note in c.changes)
  free = shipped_bach.constraints(Request(num_bars=2))
  assert free.key is None and any('drawn at random' in note for note in free.changes)


def analysis_key(piece):
  return harmony.analyzed_key(piece)


def test_an_ending_in_d_minor_always_ends_in_d_minor_on_its_root_position_triad(shipped_bach):
  generation = shipped_bach.generate(Request(num_bars=4, ending='D minor'), Controls(num_samples=4, seed=3))
  assert generation.keys == [Key(2, False)] * 4
  for piece in generation.pieces:
    final = harmony.sonority(piece, int(np.flatnonzero(piece.roll[..., 0].any(axis=1))[-1]))
    assert harmony.is_tonic_triad(final, Key(2, False)), final


def test_a_melody_ending_on_the_tonic_gets_the_tonic_triad_in_root_position_under_its_last_note(shipped_bach):
  q = 4
  melody = melody_piece([(67, q), (72, q), (71, q), (74, q), (72, q), (76, q), (74, q), (71, q), (72, 4 * q)],
                        pickup=0, key=Key(0, True))
  generation = shipped_bach.generate(Request(melody=melody), Controls(seed=1))
  piece = generation.pieces[0]
  assert generation.unmet == [[]]
  assert harmony.is_tonic_triad(harmony.sonority(piece, piece.num_steps - 1), Key(0, True))
  with pytest.raises(GenerationError, match='not in the tonic triad of D minor') as e:
    shipped_bach.constraints(Request(melody=melody, ending='D minor'))
  assert e.value.field == 'ending'


def test_bars_and_beats_count_from_bar_1_and_a_pickup_is_bar_0():
  meters = (TimeSignature(0, 1, 4), TimeSignature(4, 3, 4))
  assert outline.bar_and_beat(0, meters, 4) == 'bar 0 beat 3'
  assert outline.bar_and_beat(4, meters, 4) == 'bar 1 beat 1'
  assert outline.bar_and_beat(10, meters, 4) == 'bar 1 beat 2.5'
  assert outline.bar_and_beat(16, meters, 4) == 'bar 2 beat 1'


def test_phrases_heard_in_essen_songs_mostly_fall_where_the_collection_wrote_them():
  agreement = phrases.essen_agreement(('erk10',), tunes_per_book=12)
  assert agreement['tunes'] >= 10 and agreement['recall'] > 0.8 and agreement['precision'] > 0.7, agreement


def test_the_tonic_triad_in_root_position_counts_a_picardy_third_in_minor():
  assert harmony.is_tonic_triad([50, 57, 62, 65], Key(2, False))  # D minor
  assert harmony.is_tonic_triad([50, 57, 62, 66], Key(2, False))  # D major ending a D-minor piece
  assert not harmony.is_tonic_triad([50, 57, 62, 65], Key(2, True))  # D minor is no tonic of D major
  assert not harmony.is_tonic_triad([53, 57, 62], Key(2, False))  # first inversion


def test_a_phrase_whose_close_no_particle_met_is_drawn_again_with_everything_else_kept(shipped_bach):
  # Erk's song 1 closes its phrases on eighth notes; with two particles and no proposals its closes are missed
  song = scores.read_score(corpus.getWork(melodies.FOLK_BOOK), tune=1, grid=shipped_bach.grid, out_of_range='error')
  request = Request(melody=song)
  controls = Controls(num_samples=4, particles=2, proposals=1, seed=0)
  before = shipped_bach.generate(request, dataclasses.replace(controls, redraws=0))
  after = shipped_bach.generate(request, controls)  # default redraws
  missed = sum(map(len, before.unmet))
  assert missed > 0 and sum(map(len, after.unmet)) < missed
  ends = before.pieces[0].phrase_ends
  spans = list(zip((0,) + ends[:-1], ends))
  for b, a, unmet_before, unmet_after in zip(before.pieces, after.pieces, before.unmet, after.unmet):
    assert len(unmet_after) <= len(unmet_before)
    free = np.zeros(b.num_steps, bool)
    for requirement in unmet_before + unmet_after:  # the phrases that held an unmet requirement
      free[slice(*next(span for span in spans if span[0] <= requirement.step < span[1]))] = True
    np.testing.assert_array_equal(a.roll[~free, :, 0], b.roll[~free, :, 0])
    # a note held into the kept music is struck anew where what held it was drawn again; nothing else changes
    struck = np.flatnonzero((a.roll[..., 1] != b.roll[..., 1]).any(axis=1) & ~free)
    assert all(t > 0 and free[t - 1] for t in struck)
    np.testing.assert_array_equal(a.voices[~free], b.voices[~free])
    np.testing.assert_array_equal(a.roll[after.given], b.roll[after.given])  # the melody, as given
  np.testing.assert_array_equal(after.given, before.given)


def test_musicxml_phrase_slurs_and_humdrum_phrase_ends_mark_phrases(tmp_path):
  # 4 bars of 2/4 in eighths: phrase slurs over bars 1-2 and 3-4, and a legato slur over two notes, which marks nothing
  notes = [note.Note(pitch, quarterLength=0.5) for pitch in 'G4 A4 B4 C5 D5 C5 B4 A4 G4 A4 B4 G4 D5 B4 G4 G4'.split()]
  part = stream.Part([meter.TimeSignature('2/4')] + notes)
  for spanned in (notes[:8], notes[8:], notes[2:4]):
    part.insert(0, spanner.Slur(spanned))
  path = stream.Score([part]).write('musicxml', fp=str(tmp_path / 'slurs.musicxml'))
  assert bj.read_piece(path).phrase_ends == (16, 32)
  # Humdrum: `{` starts and `}` ends a phrase (music21 drops them); the second phrase ends on a half note
  kern = '**kern\n*M2/4\n{8g\n8a\n8b\n8cc}\n=\n{4dd\n4b\n=\n2g}\n*-\n'
  (tmp_path / 'tune.krn').write_text(kern)
  assert bj.read_piece(tmp_path / 'tune.krn').phrase_ends == (8, 24)


def test_a_tunebook_gives_its_first_tunes_of_8_to_16_bars_within_the_notes(tmp_path):
  bar = 'C2E2 G2c2|'
  book = tmp_path / 'book.abc'
  book.write_text('\n'.join([
      'X:1\nT:too short\nM:4/4\nL:1/8\nK:C\n' + bar * 4,
      'X:2\nT:eight bars\nM:4/4\nL:1/8\nK:C\n' + bar * 8,
      'X:3\nT:too high\nM:4/4\nL:1/8\nK:C\n' + 'c\'\'\'\'8|' * 8,
      'X:4\nT:sixteen bars\nM:4/4\nL:1/8\nK:C\n' + bar * 16,
      'X:5\nT:nine bars\nM:4/4\nL:1/8\nK:C\n' + bar * 9]) + '\n')
  songs = melodies.tunebook_songs(str(book), grid=bj.Grid(), count=2)
  assert [s.name for s in songs] == ['book.abc#2', 'book.abc#4']
  with pytest.raises(GenerationError, match='neither an ABC file nor a tunebook') as e:
    melodies.tunebook_songs(str(tmp_path / 'missing.abc'))
  assert e.value.field == 'tunebook'
