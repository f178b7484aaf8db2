"""Tiny MIDI files built in code for the tests (no binary fixtures)."""

import os

import mido

TPQ = 480
STEP = TPQ // 4  # one sixteenth note


def make_midi(path, notes, *, meters=((0, 4, 4),), tempos=((0, 120),), file_type=1, tpq=TPQ, program=0, last_tick=None):
  """Writes `notes` = [(start_tick, end_tick, pitch[, channel])] as a MIDI file; type 1 puts meta and notes on
  separate tracks and each channel on its own track; `last_tick` ends the tracks there (trailing silence)."""
  meta = [(t, mido.MetaMessage('time_signature', numerator=n, denominator=d)) for t, n, d in meters]
  meta += [(t, mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(bpm))) for t, bpm in tempos]
  by_channel = {}
  for note in notes:
    start, end, pitch = note[:3]
    channel = note[3] if len(note) > 3 else 0
    by_channel.setdefault(channel, []).extend([
        (start, 1, mido.Message('note_on', note=pitch, velocity=64, channel=channel)),
        (end, 0, mido.Message('note_off', note=pitch, velocity=0, channel=channel))])
  tracks = [[(t, 0, m) for t, m in meta]] + [events for _, events in sorted(by_channel.items())]
  if file_type == 0:
    tracks = [sum(tracks, [])]
  mid = mido.MidiFile(type=file_type, ticks_per_beat=tpq)
  for events in tracks:
    track = mido.MidiTrack()
    now = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
      track.append(msg.copy(time=t - now))
      now = t
    if last_tick is not None:
      track.append(mido.MetaMessage('end_of_track', time=last_tick - now))
    mid.tracks.append(track)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  mid.save(path)
  return path
