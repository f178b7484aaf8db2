"""MIDI <-> Piece: reading real-world quirks, exact round trips, clear errors on bad files."""

import os

import mido
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import biaxial_jax as bj
from biaxial_jax.music.piece import Tempo, TimeSignature
from tests.midi_util import STEP, TPQ, make_midi

C4, E4, G4 = 60, 64, 67


def col(piece, pitch):
  """(play, articulate) of one pitch over time, as two strings of 0/1."""
  cells = piece.roll[:, pitch - piece.lowest]
  return ''.join(map(str, cells[:, 0])), ''.join(map(str, cells[:, 1]))


def test_dotted_note_rest_and_repeated_notes(tmp_path):
  # dotted quarter C, eighth rest... then two quarter Es struck twice
  path = make_midi(tmp_path / 'a.mid', [(0, 6 * STEP, C4), (8 * STEP, 12 * STEP, E4), (12 * STEP, 16 * STEP, E4)])
  piece = bj.read_midi(path)
  assert piece.num_steps == 16
  assert col(piece, C4) == ('1111110000000000', '1000000000000000')
  assert col(piece, E4) == ('0000000011111111', '0000000010001000')


def test_chord_and_tie_across_bar_line(tmp_path):
  # a C major chord held from beat 4 of bar 1 into bar 2 (a tie in notation is one long MIDI note)
  notes = [(12 * STEP, 20 * STEP, p) for p in (C4, E4, G4)]
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', notes))
  for p in (C4, E4, G4):
    assert col(piece, p) == ('0' * 12 + '1' * 8, '0' * 12 + '1' + '0' * 7)
  assert piece.bar_position.tolist() == list(range(16)) + [0, 1, 2, 3]


@pytest.mark.parametrize('num, den, bar', [(3, 4, 12), (6, 8, 12), (2, 2, 16), (5, 4, 20)])
def test_bar_positions_follow_the_time_signature(tmp_path, num, den, bar):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(0, 2 * bar * STEP, C4)], meters=[(0, num, den)]))
  assert piece.time_signatures == (TimeSignature(0, num, den),)
  assert piece.bar_position.tolist() == list(range(bar)) * 2


def test_meter_change_mid_piece(tmp_path):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(0, 28 * STEP, C4)], meters=[(0, 4, 4), (16 * STEP, 3, 4)]))
  assert piece.bar_position.tolist() == list(range(16)) + list(range(12))


def test_pickup_bar_counts_as_the_end_of_a_bar(tmp_path):
  # one-beat pickup in 3/4, spelled as MIDI files do: a 1/4 bar, then 3/4
  notes = [(0, 4 * STEP, G4), (4 * STEP, 16 * STEP, C4)]
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', notes, meters=[(0, 1, 4), (4 * STEP, 3, 4)]))
  assert piece.bar_position.tolist() == [8, 9, 10, 11] + list(range(12))
  assert col(piece, G4)[1].startswith('1000')


def test_type0_and_type1_merge_channels_and_skip_drums(tmp_path):
  notes = [(0, 4 * STEP, C4, 0), (0, 4 * STEP, E4, 3), (0, 4 * STEP, G4, 9)]
  for file_type in (0, 1):
    piece, stats = bj.read_midi_with_stats(make_midi(tmp_path / f't{file_type}.mid', notes, file_type=file_type))
    assert col(piece, C4)[0] == col(piece, E4)[0] == '1111'
    assert col(piece, G4)[0] == '0000'
    assert stats.drum_notes == 1 and stats.notes == 2


def test_running_status_and_velocity_zero_note_off(tmp_path):
  # hand-assembled track: note-on C4, then (running status) note-on C4 velocity 0 after a quarter, then E4 likewise
  events = bytes([0x00, 0x90, 60, 64, 0x83, 0x60, 60, 0, 0x00, 64, 64, 0x83, 0x60, 64, 0, 0x00, 0xFF, 0x2F, 0x00])
  data = (b'MThd' + (6).to_bytes(4, 'big') + (0).to_bytes(2, 'big') + (1).to_bytes(2, 'big') + TPQ.to_bytes(2, 'big')
          + b'MTrk' + len(events).to_bytes(4, 'big') + events)
  path = tmp_path / 'running.mid'
  path.write_bytes(data)
  piece = bj.read_midi(path)
  assert col(piece, C4) == ('11110000', '10000000')
  assert col(piece, E4) == ('00001111', '00001000')


def test_overlapping_notes_of_one_pitch_are_restruck(tmp_path):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(0, 4 * STEP, C4), (2 * STEP, 8 * STEP, C4)]))
  assert col(piece, C4) == ('11111111', '10100000')


def test_note_shorter_than_a_step_keeps_one_step(tmp_path):
  piece, stats = bj.read_midi_with_stats(make_midi(tmp_path / 'a.mid', [(0, 10, C4), (STEP, 2 * STEP, E4)]))
  assert col(piece, C4) == ('10', '10')
  assert stats.lengthened == 1


def test_onsets_and_offsets_round_to_the_nearest_step(tmp_path):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(STEP - 20, 3 * STEP + 70, C4)]))
  assert col(piece, C4) == ('0111', '0100')


def test_tempo_changes_are_kept(tmp_path):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(0, 32 * STEP, C4)], tempos=[(0, 90), (16 * STEP, 60)]))
  assert [t.step for t in piece.tempos] == [0, 16]
  assert [round(t.qpm) for t in piece.tempos] == [90, 60]


def test_out_of_range_policies(tmp_path):
  path = make_midi(tmp_path / 'a.mid', [(0, STEP, 12), (0, STEP, 110), (0, STEP, C4)])
  piece, stats = bj.read_midi_with_stats(path)  # fold: 12 -> 24 (C1), 110 -> 98
  assert (stats.folded, stats.dropped, stats.notes) == (2, 0, 3)
  assert piece.roll[0, [0, 98 - 24, C4 - 24], 0].tolist() == [1, 1, 1]
  with pytest.warns(UserWarning, match='2 notes folded'):
    bj.read_midi(path)
  _, stats = bj.read_midi_with_stats(path, out_of_range='drop')
  assert (stats.folded, stats.dropped, stats.notes) == (0, 2, 1)
  with pytest.raises(bj.MidiReadError, match='a.mid.*outside'):
    bj.read_midi(path, out_of_range='error')


def test_piano_range_works(tmp_path):
  piece = bj.read_midi(make_midi(tmp_path / 'a.mid', [(0, STEP, 21), (0, STEP, 108)]), grid=bj.Grid(21, 88))
  assert piece.roll[0, [0, 87], 0].tolist() == [1, 1]


def test_written_file_is_complete(tmp_path):
  roll = np.zeros((8, 78, 2), np.uint8)
  roll[:, C4 - 24] = [1, 0]  # sounds to the very end: must still get a note-off
  roll[0, C4 - 24, 1] = 1
  piece = bj.Piece(roll, tempos=(Tempo(0, 75.0),), time_signatures=(TimeSignature(0, 3, 4),))
  path = bj.write_midi(piece, tmp_path / 'sub' / 'out.mid', velocity=55, program=19)
  mid = mido.MidiFile(path)
  assert mid.ticks_per_beat == 480
  msgs = list(mido.merge_tracks(mid.tracks))
  ons = [m for m in msgs if m.type == 'note_on' and m.velocity > 0]
  offs = [m for m in msgs if m.type == 'note_off' or (m.type == 'note_on' and m.velocity == 0)]
  assert len(ons) == len(offs) == 1 and ons[0].velocity == 55
  assert [m.program for m in msgs if m.type == 'program_change'] == [19]
  assert [round(mido.tempo2bpm(m.tempo)) for m in msgs if m.type == 'set_tempo'] == [75]
  assert [(m.numerator, m.denominator) for m in msgs if m.type == 'time_signature'] == [(3, 4)]
  assert sum(m.time for m in msgs) == 8 * STEP
  assert [f for f in os.listdir(tmp_path / 'sub')] == ['out.mid']  # no temporary file left behind


@st.composite
def pieces(draw):
  spq = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
  num_steps = draw(st.integers(1, 40))
  num_notes = draw(st.integers(1, 30))
  lowest = draw(st.integers(0, 127 - num_notes + 1))
  seed = draw(st.integers(0, 2**32 - 1))
  rng = np.random.default_rng(seed)
  roll = rng.random((num_steps, num_notes, 2)) < [0.4, 0.3]
  roll[rng.integers(num_steps), rng.integers(num_notes), 0] = 1  # a file without notes is an error by design
  roll = bj.canonical_roll(roll)
  meters = [TimeSignature(0, *draw(st.sampled_from([(4, 4), (3, 4), (6, 8), (2, 2)])))]
  if draw(st.booleans()) and num_steps > 4:
    meters.append(TimeSignature(draw(st.integers(1, num_steps - 1)), 3, 4))
  tempos = [Tempo(0, float(draw(st.integers(20, 300))))]
  return bj.Piece(roll, lowest=lowest, steps_per_quarter=spq, time_signatures=tuple(meters), tempos=tuple(tempos))


@settings(max_examples=60, deadline=None)
@given(pieces())
def test_read_of_write_is_exact(tmp_path_factory, piece):
  path = tmp_path_factory.mktemp('rt') / 'p.mid'
  bj.write_midi(piece, path)
  back = bj.read_midi(path, grid=bj.Grid.of(piece), out_of_range='error')
  assert np.array_equal(back.roll, piece.roll)
  assert back == piece


def _bytes_file(name, data):
  def make(folder):
    (folder / name).write_bytes(data)
    return folder / name
  return make


def _truncated(tmp_path):
  good = make_midi(tmp_path / 'good.mid', [(0, STEP, C4), (STEP, 2 * STEP, E4)])
  path = tmp_path / 'truncated.mid'
  path.write_bytes(good.read_bytes()[:30])
  return path


@pytest.mark.parametrize('make, message', [
    (_bytes_file('empty.mid', b''), 'empty'),
    (_bytes_file('random.mid', np.random.default_rng(0).bytes(300)), 'not a readable MIDI file'),
    (_truncated, 'not a readable MIDI file'),
    (lambda d: make_midi(d / 'drums.mid', [(0, STEP, 36, 9)]), 'only drum'),
    (lambda d: make_midi(d / 'silent.mid', []), 'no notes'),
    (lambda d: d / 'missing.mid', 'no such file'),
])
def test_bad_files_give_one_clear_error(tmp_path, make, message):
  path = make(tmp_path)
  with pytest.raises(bj.MidiReadError, match=message) as info:
    bj.read_midi(path)
  assert str(path) in str(info.value) and '\n' not in str(info.value)
  assert isinstance(info.value, ValueError)


def test_no_note_in_range_is_an_error(tmp_path):
  path = make_midi(tmp_path / 'high.mid', [(0, STEP, 120)])
  with pytest.raises(bj.MidiReadError, match='high.mid: none of its 1 notes'):
    bj.read_midi(path, out_of_range='drop')


def test_a_key_signature_event_gives_the_piece_its_key(tmp_path):
  import mido
  path = make_midi(tmp_path / 'k.mid', [(0, 4 * STEP, 62)])
  mid = mido.MidiFile(path)
  mid.tracks[0].insert(0, mido.MetaMessage('key_signature', key='F#m'))
  mid.save(path)
  assert bj.read_midi(path).key == bj.Key(6, False)
  assert bj.read_midi(make_midi(tmp_path / 'none.mid', [(0, 4 * STEP, 62)])).key is None


def test_an_unreadable_file_is_the_packages_error_naming_it(tmp_path, monkeypatch):
  path = make_midi(tmp_path / 'locked.mid', [(0, 480, 60)])
  real_open = open

  def no_permission(file, *args, **kwargs):
    if os.fspath(file) == os.fspath(path):
      raise PermissionError(13, 'Permission denied')
    return real_open(file, *args, **kwargs)

  monkeypatch.setattr('builtins.open', no_permission)
  with pytest.raises(bj.MidiReadError, match=r'locked.mid: cannot be read \(Permission denied\)'):
    bj.read_midi(path)
  make_midi(tmp_path / 'ok.mid', [(0, 480, 62)])
  dataset = bj.load_dataset(str(tmp_path))  # a folder skips the file and says so
  assert [p for p, _ in dataset.skipped] == [os.fspath(path)]


def test_notes_never_turned_off_are_counted_and_held_to_the_end(tmp_path):
  mid = mido.MidiFile(type=0, ticks_per_beat=480)
  mid.tracks.append(mido.MidiTrack([mido.Message('note_on', note=60, velocity=64, time=0),
                                    mido.Message('note_on', note=64, velocity=64, time=0),
                                    mido.Message('note_off', note=64, velocity=0, time=480),
                                    mido.MetaMessage('end_of_track', time=960)]))
  mid.save(tmp_path / 'stuck.mid')
  piece, stats = bj.read_midi_with_stats(tmp_path / 'stuck.mid')
  assert stats.unterminated == 1 and piece.roll[:, 60 - 24, 0].sum() == 12
  with pytest.warns(UserWarning, match='1 notes are never turned off'):
    bj.read_midi(tmp_path / 'stuck.mid')


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(tmp_path):
  path = make_midi(tmp_path / 'big.mid', [(i * 120, i * 120 + 60, 60 + i % 12) for i in range(3000)])
  size = os.path.getsize(path)
  with pytest.raises(bj.MidiReadError, match=r'big.mid: .* MB, over the .* MB limit for a MIDI file \(max_bytes'):
    bj.read_midi(path, max_bytes=size - 1)
  assert bj.read_midi(path, max_bytes=size).num_steps > 0
  dataset = bj.load_dataset(str(tmp_path))  # the default limit is far above a file like this
  assert len(dataset.train + dataset.valid + dataset.test) == 1


NOTE_EVENTS = b'\x00\x90\x3c\x40\x83\x60\x80\x3c\x00\x00\xff\x2f\x00'  # C4 for a quarter, then end of track
HEADER = b'MThd' + (6).to_bytes(4, 'big') + (0).to_bytes(2, 'big') + (1).to_bytes(2, 'big') + (480).to_bytes(2, 'big')


def chunk(kind: bytes, data: bytes, byteorder='big') -> bytes:
  return kind + len(data).to_bytes(4, byteorder) + data


@pytest.mark.parametrize('data', [
    HEADER + chunk(b'XFIH', b'abcd') + chunk(b'MTrk', NOTE_EVENTS),  # a chunk of an unknown type: skipped
    b'RIFF' + (4 + 8 + 22 + 21).to_bytes(4, 'little') + b'RMID'
    + chunk(b'data', HEADER + chunk(b'MTrk', NOTE_EVENTS), 'little'),  # RIFF-wrapped (.rmi)
    HEADER + chunk(b'MTrk', b'\x00\xff\x59\x02\x09\x00' + NOTE_EVENTS),  # a key signature of 9 sharps
])
def test_valid_or_common_midi_variants_are_read(tmp_path, data):
  path = tmp_path / 'variant.mid'
  path.write_bytes(data)
  piece = bj.read_midi(path)
  assert piece.roll[:4, 60 - 24, 0].all() and piece.roll[..., 0].sum() == 4 and piece.key is None


def test_a_silent_piece_survives_a_round_trip_and_a_folder_skips_it(tmp_path):
  silent = bj.Piece(np.zeros((16, 78, 2), np.uint8))
  assert bj.read_midi(bj.write_midi(silent, tmp_path / 'silent.mid')) == silent
  make_midi(tmp_path / 'music.mid', [(0, 480, 60)])
  assert [p for p, _ in bj.load_dataset(str(tmp_path)).skipped] == [str(tmp_path / 'silent.mid')]
