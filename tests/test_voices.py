"""Four voices: read from scores, kept through the data pipeline, learned, sampled under voice-leading conditions,
and measured as a musician reads a score."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import loss, model, pretrained, voicing
from biaxial_jax.config import Config, DataConfig, ModelConfig
from biaxial_jax.generation import note_step, plans, sampler, voice_leading
from biaxial_jax.analysis import harmony
from biaxial_jax.music import batches, corpus, dataset, inputs, voices
from biaxial_jax.music.scores import score_to_piece
from biaxial_jax.generation.request import Controls, Request


def lines_piece(lines, lowest=24) -> bj.Piece:
  """A piece from lines of (start step, end step, MIDI pitch), soprano first."""
  roll = np.zeros((max(e for line in lines for _, e, _ in line), 78, 2), np.uint8)
  bits = np.zeros(roll.shape[:2], np.uint8)
  for v, line in enumerate(lines):
    for start, end, pitch in line:
      roll[start:end, pitch - lowest, 0] = 1
      roll[start, pitch - lowest, 1] = 1
      bits[start:end, pitch - lowest] |= 1 << v
  return bj.Piece(roll, lowest=lowest, voices=bits)


def chords(*sonorities, beat=4):
  """One chord per beat, soprano first: each voice struck on every beat."""
  return lines_piece([[(i * beat, (i + 1) * beat, chord[v]) for i, chord in enumerate(sonorities)]
                      for v in range(len(sonorities[0]))])


def test_voice_leading_counts_parallels_crossings_and_spacing():
  octaves = chords((72, 67, 64, 48), (74, 67, 62, 50))  # soprano and bass up a tone in octaves; the tenor down
  counts = voices.voice_leading(*voices.piece_lines(octaves))
  assert (counts['transitions'], counts['parallel_octaves'], counts['parallel_fifths']) == (1, 1, 0)
  fifths = chords((74, 67, 62, 50), (76, 69, 62, 48))  # soprano and alto up a tone a fifth apart; the bass down
  counts = voices.voice_leading(*voices.piece_lines(fifths))
  assert (counts['parallel_octaves'], counts['parallel_fifths']) == (0, 1)
  contrary = chords((72, 67, 64, 48), (71, 67, 62, 55))  # the outer voices apart: no parallel anywhere
  counts = voices.voice_leading(*voices.piece_lines(contrary))
  assert (counts['parallel_octaves'], counts['parallel_fifths']) == (0, 0)
  crossed = chords((67, 69, 60, 48), (67, 64, 60, 48))  # the alto above the soprano, then below it
  counted = voices.voice_leading(*voices.piece_lines(crossed))
  assert counted['crossed'] == 1 and counted['onsets'] == 2
  spread = chords((79, 64, 60, 48))  # soprano and alto fifteen semitones apart
  assert voices.voice_leading(*voices.piece_lines(spread))['spread'] == 1
  late = lines_piece([[(0, 4, 72), (4, 8, 74)], [(0, 4, 67)], [(0, 8, 64)], [(0, 8, 48)]])  # the alto drops out
  assert voices.combine([voices.voice_leading(*voices.piece_lines(late))])['every_voice_share'] == 0.5


def test_statistics_read_the_written_score_one_line_per_part():
  # soprano and bass in parallel octaves, C-C to D-D to E-E: counted from the score's parts, whatever the pitch order
  piece = chords((72, 67, 64, 48), (74, 65, 62, 50), (76, 67, 60, 52))
  stats = harmony.statistics([piece])
  assert stats['parallel_octaves_per_100'] == pytest.approx(100.0) and stats['every_voice_share'] == 1.0
  assert stats['four_voice_share'] == 1.0 and stats['chords_in_voice'] == 0
  assert stats['bass_range'] == (48, 52) and stats['soprano_range'] == (72, 76)


def test_a_four_part_score_gives_voices_and_leaves_instruments_out():
  from music21 import note, stream
  score = stream.Score()
  for name, pitches in (('Violin', (84, 86)), ('Soprano', (72, 74)), ('Alto', (67, 67)), ('Tenor', (64, 62)),
                        ('Bass', (48, 55))):
    part = stream.Part([note.Note(p, quarterLength=1) for p in pitches])
    part.partName = name
    score.insert(0, part)
  all_parts = score_to_piece(score, 'with violin')
  assert all_parts.voices is None and all_parts.roll[0, 84 - 24, 0]  # five parts: read as they are, no voices
  vocal = score_to_piece(score, 'with violin', vocal=True)
  assert not vocal.roll[:, 84 - 24, 0].any()  # the violin left out
  index, held = voices.pitches_of(vocal.voices)
  assert (index[:4] + 24).tolist() == [[72, 67, 64, 48]] * 4 and (held == 1).all()
  assert voices.vocal_parts([p for p in score.parts if p.partName != 'Alto']) is None


def test_voices_survive_the_cache_and_transposition(tmp_path, monkeypatch):
  monkeypatch.setenv('BIAXIAL_JAX_CACHE', str(tmp_path))
  piece = chords((72, 67, 64, 48), (74, 65, 62, 50))
  built = corpus.cached_corpus('t', lambda: ([('a', piece), ('b', piece.with_roll(piece.roll))], []), grid=bj.Grid(),
                                 out_of_range='fold')
  loaded = corpus.cached_corpus('t', lambda: pytest.fail('rebuilt'), grid=bj.Grid(), out_of_range='fold')
  for got, want in zip(sorted(p.name for s in dataset.SPLITS for p in loaded.split(s)), ('a', 'b')):
    assert got == want
  pieces = {p.name: p for s in dataset.SPLITS for p in loaded.split(s)}
  np.testing.assert_array_equal(pieces['a'].voices, piece.voices)
  assert pieces['b'].voices is None and built
  batch = batches.training_batch([piece], batch_size=8, seq_len=8, seed=0, step=0, max_transpose=5)
  for row in range(8):
    shift = int(np.flatnonzero(batch.notes_BxTxNx2[row, 0, :, 0])[0]) - (48 - 24)
    np.testing.assert_array_equal(batch.voices_BxTxN[row], np.roll(piece.voices, shift, axis=1))


CONFIG = Config(data=DataConfig(), model=ModelConfig(time_sizes=(12,), note_sizes=(8,), structure=True,
                                                     chord_inputs=True, voices=True))


@pytest.fixture(scope='module')
def params():
  p = model.init_params(jax.random.key(0), CONFIG.model)
  p['out']['b'] = jnp.array([-2.0, 0.0])
  return p


def test_the_sampler_and_teacher_forcing_compute_the_same_voices_model(params):
  """The note scan's voice carry and the teacher-forced voice inputs agree: the log-likelihood the sampler reports
  (play, articulation and voices) is the teacher-forced one of its output."""
  composer = bj.Composer(CONFIG, params, 0)
  generation = composer.generate(Request(num_steps=32, cadences=False), Controls(num_samples=2, seed=1, particles=4))
  for piece, log_lik in zip(generation.pieces, generation.log_likelihood):
    logits = model.teacher_forced_logits(params, piece.roll[None], piece.bar_position[None], CONFIG.model, lowest=24,
                                         context_BxTxC=np.asarray(bj.generation.composer.structure.context_of(piece))[None],
                                         voices_BxTxN=piece.voices[None])
    sums = loss.nll_sums(logits, piece.roll[None], np.ones((1, piece.num_steps)), None, piece.voices[None])
    assert sums['voiced'] == piece.roll[..., 0].sum()  # every played note has voices
    np.testing.assert_allclose(-log_lik, sums['play'] + sums['articulate'] + sums['voice'], rtol=2e-5)
  # particles by default where voice leading weighs them, one where nothing does (a primer: no first chord to require)
  primer = inputs.crop(generation.pieces[0], 0, 4)
  assert composer.generate(Request(num_steps=32, primer=primer, cadences=False)).particles == 32
  assert composer.generate(Request(num_steps=32, primer=primer, cadences=False, voice_leading='none')).particles == 1


def test_sampled_voices_sing_one_note_each_in_range_and_the_melody_is_the_soprano(params):
  composer = bj.Composer(CONFIG, params, 0)
  melody = lines_piece([[(0, 8, 72), (8, 12, 74), (12, 16, 76), (16, 32, 72)]])
  generation = composer.generate(Request(melody=melody.with_roll(melody.roll), cadences=False), Controls(num_samples=3, seed=2))
  ranges = np.array(voices.RANGES)
  for piece in generation.pieces:
    index, held = voices.pitches_of(piece.voices)
    assert (held <= 1).all()  # a voice sings at most one note at a time
    sounding = index >= 0
    assert set(sounding.sum(axis=1).tolist()) == {4}  # four voices throughout (the melody has no rest)
    assert ((piece.voices > 0) == (piece.roll[..., 0] > 0)).all()  # every note sung
    np.testing.assert_array_equal(index[:, 0] + 24, [72] * 8 + [74] * 4 + [76] * 4 + [72] * 16)
    generated = index[:, 1:][sounding[:, 1:]] + 24
    for v in range(1, 4):  # within the ranges' reach, never below C2
      sung = index[sounding[:, v], v] + 24
      reach = voice_leading.REACH
      assert ((max(ranges[v, 0] - reach, 36) <= sung) & (sung <= ranges[v, 1] + reach)).all()
    assert generated.size
    held_notes = (piece.roll[1:, :, 0] > 0) & (piece.roll[1:, :, 1] == 0)
    assert not (piece.voices[1:][held_notes] & ~piece.voices[:-1][held_notes]).any()  # held by who sang it


def test_voice_leading_conditions_weigh_parallels_and_can_be_turned_off():
  prev = jnp.array([[72 - 24, 67 - 24, 64 - 24, 48 - 24]])
  now = jnp.array([[74 - 24, 67 - 24, 64 - 24, 50 - 24]])  # soprano and bass up a tone in octaves
  struck = jnp.array([True])
  on = voice_leading.weigh(prev, now, struck, jnp.array([0]), voice_leading.VoiceLeading(), 24, -1e4)
  assert float(on[0]) == -voice_leading.VoiceLeading().octaves
  off = voice_leading.weigh(prev, now, struck, jnp.array([0]), voice_leading.parse('fifths,crossing'), 24, -1e4)
  assert float(off[0]) == 0.0
  missing = voice_leading.weigh(prev, now.at[0, 1].set(-1), struck, jnp.array([0]), voice_leading.parse('none'), 24,
                                -1e4)
  assert float(missing[0]) == -1e4  # the alto dropped out while the others sing
  closed = voice_leading.weigh(prev, now.at[0, 0].set(-1), struck, jnp.array([1]), voice_leading.parse('none'), 24,
                               -1e4)
  assert float(closed[0]) == 0.0  # the soprano is a given melody's, resting
  low = now.at[0, 1].set(51 - 24)  # the alto arrives four semitones under its range (55)
  assert float(voice_leading.weigh(prev, low, struck, jnp.array([0]), voice_leading.parse('range'), 24, -1e4)[0]) == (
      -4 * voice_leading.VoiceLeading().range)
  with pytest.raises(bj.GenerationError, match='voice_leading'):
    voice_leading.parse('fifths,sevenths')
  sung = np.zeros((3, 78), np.uint8)
  sung[0, [10, 20, 30, 40]] = [8, 4, 2, 1]
  sung[1, [10, 20, 40]] = [8, 4, 1]  # the alto missing
  sung[2, [10, 20, 30]] = [8, 4, 2]  # the soprano missing, but a given melody's, resting
  assert voice_leading.missing(sung, np.array([0, 0, 1])) == [1]


def test_corpus_ranges_hold_the_middle_of_what_each_voice_sings():
  pieces = [chords(*[(72 + i % 3, 64, 55, 43) for i in range(2000)]), chords((90, 64, 55, 30))]
  ranges = voices.corpus_ranges(pieces)
  assert ranges[0] == (72, 74) and ranges[1] == (64, 64) and ranges[3] == (43, 43)  # the outliers left out


def test_tempering_weighs_each_drawn_bit_by_its_normalizer(params):
  """A free draw at T < 1 carries the normalizers of its tempered bits: its weights target the whole piece
  tempered, q(x)^(1/T), not each note tempered along the note axis."""
  config = ModelConfig(time_sizes=(12,), note_sizes=(8,))
  plain = model.init_params(jax.random.key(0), config)
  plain['out']['b'] = jnp.array([-1.0, 0.0])
  t, temperature = 16, 0.7
  result = sampler.sample(plain, jax.random.key(4), plans.free_plan(1, t, 78), sampler.Controls(
      jnp.float32(temperature), jnp.float32(1), jnp.float32(0)), config=config, lowest=24)
  roll = np.asarray(result.rolls)
  logits = model.teacher_forced_logits(plain, roll, jnp.arange(t)[None] % 16, config, lowest=24)
  prev_play = np.pad(roll[:, :-1, :, 0], ((0, 0), (1, 0), (0, 0))) > 0
  drawn_art = (roll[..., 0] > 0) & prev_play
  expected = (note_step.tempered_log_normalizer(logits[..., 0], temperature).sum()
              + jnp.where(drawn_art, note_step.tempered_log_normalizer(logits[..., 1], temperature), 0).sum())
  np.testing.assert_allclose(result.log_weight[0], expected, rtol=1e-4)
  np.testing.assert_allclose(note_step.tempered_log_normalizer(jnp.array([-3.0, 0.0, 2.0]), 1.0), 0.0, atol=1e-6)
  assert float(expected) < 0


def test_previous_and_below_features_see_voices_relative_to_each_note():
  prev = jnp.array([[50, 45, 40, 30]])  # note indices
  feats = np.asarray(voicing.previous_features(prev, 78)).reshape(78, 4, voicing.PREVIOUS_BINS)
  assert feats[50, 0, voicing.NEAR] == 1 and feats[48, 0, voicing.NEAR + 2] == 1  # soprano 2 above note 48
  assert feats[20, 3, voicing.ABOVE_BIN] == 1 and feats[60, 3, voicing.BELOW_BIN] == 1
  assert voicing.previous_features(jnp.array([[-1, 0, 0, 0]]), 78)[0, 10, voicing.SILENT_BIN] == 1
  # the tenor a fifth over the bass (37 over 30), the bass placed a tone up (32): the tenor on 39 moves in fifths
  parallel = voicing.parallel_voices(jnp.array(39), jnp.array([-1, -1, -1, 32]), jnp.array([50, 45, 37, 30]))
  assert np.asarray(parallel).tolist() == [False, False, True, False]
  voices_BxTxN = np.zeros((1, 2, 78), np.uint8)
  voices_BxTxN[0, 0, [30, 37, 45, 50]] = [8, 4, 2, 1]
  voices_BxTxN[0, 1, [32, 39, 47, 52]] = [8, 4, 2, 1]
  below = np.asarray(voicing.teacher_forced_below(voices_BxTxN))
  assert below[0, 1, 39, 3] == 1 and below[0, 1, 39, 2] == 0  # the bass placed below 39, the tenor not yet
  assert below[0, 1, 39, 4 + 3] == pytest.approx(7 / 12) and below[0, 1, 39, 8 + 2] == 1


@pytest.mark.skipif(not pretrained.is_export(pretrained.SHIPPED['bach']), reason='no shipped model in this checkout')
def test_the_shipped_model_sings_four_voices_from_its_first_step_never_below_c2(shipped_bach):
  composer = shipped_bach
  assert composer.config.model.voices
  pieces = composer.generate(Request(num_bars=4), Controls(num_samples=2, seed=3, temperature=0.8)).pieces
  for piece in pieces:
    index, held = voices.pitches_of(piece.voices)
    assert (index[0] >= 0).all()  # all four voices sing the first chord
    assert (held <= 1).all() and set((index >= 0).sum(axis=1).tolist()) <= {0, 4}
    assert piece.lowest + np.flatnonzero(piece.roll[..., 0].any(axis=0))[0] >= 36  # nothing below C2
    counts = voices.voice_leading(*voices.piece_lines(piece))
    assert counts['parallel_octaves'] == 0 and counts['chords_in_voice'] == 0
