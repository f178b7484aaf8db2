"""The generation API and script: every mode keeps what it was given, the same seed gives the same bytes, and bad
arguments get one clear error."""

import dataclasses
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import model, render, train
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.music.midi import note_spans
from biaxial_jax.music.piece import TimeSignature
from biaxial_jax.generation.request import Controls, Request
from tests.midi_util import STEP, make_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(16, 12), note_sizes=(10, 6)))


@pytest.fixture(scope='module')
def composer():
  params = model.init_params(jax.random.key(0), CONFIG.model)
  # a bias toward playing so that samples are not silent
  params['out']['b'] = jnp.array([-1.0, 0.0])
  return bj.Composer(CONFIG, params, step=0)


def restruck(pieces) -> int:
  """Articulations of notes that were already sounding (repeated notes told apart from held ones)."""
  rolls = np.stack([p.roll for p in pieces])
  held_before = np.pad(rolls[:, :-1, :, 0], ((0, 0), (1, 0), (0, 0))) > 0
  return int((rolls[..., 1].astype(bool) & held_before).sum())


def test_a_play_only_model_articulates_at_onsets_only(composer):
  play_only = Config(data=CONFIG.data, model=CONFIG.model, train=TrainConfig(play_only=True))
  benchmark_composer = bj.Composer(play_only, composer.params, step=0)
  assert restruck(composer.generate(Request(num_steps=48), Controls(num_samples=2, seed=0)).pieces) > 0  # an articulation head that was trained
  assert restruck(benchmark_composer.generate(Request(num_steps=48), Controls(num_samples=2, seed=0)).pieces) == 0  # one that never was


def test_fixed_notes_through_the_api(composer):
  mask = np.zeros((30, 40), bool)
  mask[:, 5] = True  # note 5 held for the whole piece, struck every 4 steps
  mask[10:20] = True  # and steps 10..19 silent apart from it
  values = np.zeros((30, 40, 2), bool)
  values[:, 5, 0] = True
  values[::4, 5, 1] = True
  piece = composer.generate(Request(num_steps=40, fixed=(mask, values)), Controls(seed=2)).pieces[0]
  np.testing.assert_array_equal(piece.roll[:30, 5], values[:, 5])
  assert piece.roll[10:20, :, 0].sum() == 10
  with pytest.raises(bj.GenerationError, match=r'fixed: mask and values must both be \[T, 40, 2\]'):
    composer.generate(Request(num_steps=40, fixed=(mask[:, :30], values))).pieces


def test_primer_is_kept_verbatim_and_continued(composer):
  primer = bj.Piece(bj.canonical_roll(np.random.default_rng(1).random((20, 40, 2)) < 0.2), lowest=36,
                    time_signatures=(TimeSignature(0, 3, 4),))
  pieces = composer.generate(Request(num_steps=60, primer=primer), Controls(num_samples=2, seed=5)).pieces
  for piece in pieces:
    np.testing.assert_array_equal(piece.roll[:20], primer.roll)
    assert piece.num_steps == 60 and piece.time_signatures == primer.time_signatures
  assert not np.array_equal(pieces[0].roll[20:], pieces[1].roll[20:])


def test_same_seed_same_bytes_other_seed_differs(composer, tmp_path):
  paths = []
  for i, seed in enumerate((7, 7, 8)):
    paths.append(bj.write_midi(composer.generate(Request(num_steps=48), Controls(seed=seed)).pieces[0], tmp_path / f'{i}.mid'))
  data = [open(p, 'rb').read() for p in paths]
  assert data[0] == data[1] and data[0] != data[2]


def test_harmonizing_a_folk_tune_in_3_4_with_a_pickup(composer, tmp_path):
  # pickup of one beat, then 3/4 bars; includes a repeated note (two Gs) and a dotted note
  tune = [(0, 4, 55), (4, 10, 60), (10, 12, 62), (12, 16, 64), (16, 20, 64), (20, 28, 67), (28, 32, 65),
          (32, 40, 64), (40, 44, 62), (44, 52, 60)]
  path = make_midi(tmp_path / 'tune.mid', [(s * STEP, e * STEP, p) for s, e, p in tune],
                   meters=[(0, 1, 4), (4 * STEP, 3, 4)], tempos=[(0, 90)])
  piece = composer.generate(Request(melody=str(path)), Controls(seed=1)).pieces[0]
  assert piece.num_steps == 52 and piece.bar_position[:5].tolist() == [8, 9, 10, 11, 0]
  assert round(piece.tempos[0].qpm) == 90
  out = bj.read_midi(bj.write_midi(piece, tmp_path / 'out.mid'), grid=bj.Grid(36, 40))
  spans = set(note_spans(out.roll))
  for start, end, pitch in tune:
    assert (start, end, pitch - 36) in spans  # pitch, onset, length and the repeat, exactly
    assert not out.roll[start:end, pitch - 36 + 1:, 0].any()  # nothing above the melody while it sounds
  assert out.roll[..., 0].sum() > sum(e - s for s, e, _ in tune)  # voices were added


def line(notes, num_steps=None, **kwargs) -> bj.Piece:
  """A piece of (start, end, midi pitch) notes in the test model's range."""
  roll = np.zeros((num_steps or max(e for _, e, _ in notes), 40, 2), np.uint8)
  for start, end, pitch in notes:
    roll[start:end, pitch - 36, 0] = 1
    roll[start, pitch - 36, 1] = 1
  return bj.Piece(roll, lowest=36, **kwargs)


def test_a_motif_returns_exactly_at_its_bars_transposed_where_asked(composer):
  motif = line([(0, 4, 60), (4, 6, 62), (6, 8, 62), (8, 16, 64), (16, 32, 67)])  # a repeated D, a long G
  generation = composer.generate(Request(num_steps=160, motif=motif, motif_at=(1, (5, -3), 8)), Controls(seed=4, num_samples=2))
  assert generation.particles == 32 and generation.ess.min() < 32  # the particles were weighed
  for piece in generation.pieces:
    for start, shift in ((0, 0), (64, -3), (112, 0)):
      region = piece.roll[start:start + 32]
      moved = np.roll(motif.roll, shift, axis=1)
      np.testing.assert_array_equal(region[moved[..., 0] > 0], moved[moved[..., 0] > 0])
      top = np.flatnonzero(moved[..., 0].any(axis=0)).max()
      assert not region[:, top + 1:, 0].any()  # nothing above the motif while it sounds
    assert piece.roll[32:64, :, 0].sum() > 0  # music between the entries


def test_a_bridge_keeps_both_fragments_and_puts_the_second_on_a_bar_line(composer):
  a = line([(0, 8, 48), (0, 8, 60), (8, 16, 52), (8, 16, 64), (16, 24, 55), (16, 24, 67)], 24)  # 1.5 bars
  b = line([(0, 4, 71), (4, 20, 72), (4, 20, 48)], 20,
           time_signatures=(TimeSignature(0, 1, 4), TimeSignature(4, 4, 4)))  # a one-beat pickup into a bar
  pieces = composer.generate(Request(primer=a, bridge_to=b, bridge_bars=2), Controls(seed=1, num_samples=2)).pieces
  for piece in pieces:
    # a's last bar ends at 32; two bars later, at 64, b's downbeat; its pickup starts a beat before
    assert piece.num_steps == 64 - 4 + 20
    np.testing.assert_array_equal(piece.roll[:24], a.roll)
    np.testing.assert_array_equal(piece.roll[60:], b.roll)
    assert piece.bar_position[64] == 0
  with pytest.raises(bj.GenerationError, match='bridge_bars: 0 bars leave no room'):
    composer.generate(Request(primer=a.with_roll(a.roll[:16]), bridge_to=b, bridge_bars=0)).pieces


def test_an_ending_on_a_key_ends_on_its_tonic_triad_over_the_tonic(composer):
  pieces = composer.generate(Request(num_steps=64, ending='G major'), Controls(seed=3, num_samples=4)).pieces
  for piece in pieces:
    final = piece.roll[-8:, :, 0] > 0
    bass = np.flatnonzero(final[0])[0] + 36
    assert bass % 12 == 7 and 40 <= bass < 52 and final[:, bass - 36].all()  # G struck in the bass and held
    pitch_classes = {(n + 36) % 12 for n in np.flatnonzero(final.any(axis=0))}
    assert pitch_classes <= {7, 11, 2} and 11 in pitch_classes  # only G B D, the third among them
  ending = line([(0, 8, 43), (0, 8, 62)], 8)
  for piece in composer.generate(Request(num_steps=48, ending=ending), Controls(seed=0, num_samples=2)).pieces:
    np.testing.assert_array_equal(piece.roll[-8:], ending.roll)


def test_constraints_that_contradict_each_other_are_refused_naming_both(composer):
  melody = line([(0, 16, 60)])
  mask = np.zeros((16, 40), bool)
  mask[4, 60 - 36] = True  # the melody's own note, said to be silent
  with pytest.raises(bj.GenerationError, match='fixed: the fixed notes contradicts the melody at step 4, MIDI note 60'):
    composer.generate(Request(melody=melody, fixed=(mask, np.zeros((16, 40, 2), bool)))).pieces


def test_every_mode_gives_the_same_bytes_for_the_same_seed(composer):
  motif = line([(0, 8, 60), (8, 16, 62)])
  for request, controls in ((Request(melody=line([(0, 8, 60), (8, 24, 59)])), Controls()),
                            (Request(num_steps=48, motif=motif, motif_at=(2,)), Controls()),
                            (Request(num_steps=32, ending='D minor'), Controls()),
                            (Request(num_steps=32), Controls(search='beam', particles=8))):
    a, b = (composer.generate(request, dataclasses.replace(controls, seed=11)) for _ in range(2))
    assert all(np.array_equal(x.roll, y.roll) for x, y in zip(a.pieces, b.pieces))
    np.testing.assert_array_equal(a.log_likelihood, b.log_likelihood)
    assert not np.array_equal(a.pieces[0].roll,
                              composer.generate(request, dataclasses.replace(controls, seed=12)).pieces[0].roll)


def test_the_adaptive_mode_ends_a_silence_at_once(composer):
  # an exponent of 8 silences this model; the original's rule resets it to 1 after the first quiet step
  silent = composer.generate(Request(num_steps=32), Controls(conservativity=8.0, seed=0, num_samples=2)).pieces
  adaptive = composer.generate(Request(num_steps=32), Controls(conservativity=8.0, adaptive=True, seed=0, num_samples=2)).pieces
  assert sum(p.roll[..., 0].sum() for p in silent) == 0
  for piece in adaptive:
    assert piece.roll[4:, :, 0].sum(axis=1).min() >= 1  # sounding again within a few steps


def test_top_voice_of_a_chord_sequence():
  roll = np.zeros((4, 40, 2), np.uint8)
  roll[0:2, [10, 14, 17]] = np.array([[1, 1], [1, 0]])[:, None]
  roll[2:4, [10, 12]] = np.array([[1, 1], [1, 0]])[:, None]
  voice = bj.top_voice(bj.Piece(roll))
  assert [np.flatnonzero(v[:, 0]).tolist() for v in voice.roll] == [[17], [17], [12], [12]]
  assert voice.roll[2, 12].tolist() == [1, 1]


CONTROL_FIELDS = {f.name for f in dataclasses.fields(Controls)}


@pytest.mark.parametrize('kwargs, message', [
    (dict(temperature=0), r'temperature: must be a finite number in \(0, '),
    (dict(temperature=float('nan')), 'temperature'),
    (dict(conservativity=-1), 'conservativity'),
    (dict(num_steps=0), 'num_steps: must be an integer in'),
    (dict(num_steps=10, primer=bj.Piece(np.zeros((20, 40, 2)), lowest=36)), 'primer: 20 steps long'),
    (dict(num_steps=20, primer=bj.Piece(np.zeros((20, 40, 2)), lowest=36)), 'as long as or longer than the 20 steps'),
    (dict(motif=bj.Piece(np.zeros((4, 40, 2)), lowest=36)), 'motif_at: a motif needs the bars'),
    (dict(num_steps=32, motif=bj.Piece(np.zeros((4, 40, 2)), lowest=36), motif_at=(3,)), 'motif_at: the motif at '
     'bar 3 does not fit'),
    (dict(motif=bj.Piece(np.zeros((4, 40, 2)), lowest=36), motif_at=('x',)), 'motif_at: expected bars'),
    (dict(ending='H major'), "ending: expected a key such as 'D minor'"),
    (dict(particles=0), 'particles: must be an integer in'),
    (dict(search='greedy'), 'search: must be one of sample, best, beam'),
    (dict(seed=2**64), 'seed: must be an integer in'),
    (dict(num_steps=100_000, num_samples=4096), 'num_samples: 100000 steps x 4096 samples'),
    (dict(primer=bj.Piece(np.zeros((4, 78, 2)))), 'primer: a piece of 78 notes from MIDI 24'),
    (dict(time_signature=(5, 32)), 'time_signature'),
    (dict(num_samples=0), 'num_samples'),
    # values of the wrong kind are refused, never read as something else
    (dict(num_samples=True), 'num_samples: must be an integer'),
    (dict(adaptive='yes'), 'adaptive: must be True or False'),
    (dict(cadences='no'), 'cadences: must be True or False'),
    (dict(tempo=1), r'tempo: must be a number of quarter notes per minute in \[4, 1000\]'),
    (dict(num_samples=np.float64(2)), 'num_samples: must be an integer'),
    (dict(phrases='\u00b2'), 'phrases: must be a phrase length in whole bars'),
    (dict(phrases=[2.0]), 'phrases: must be a phrase length in whole bars'),
    (dict(time_signature=(7.9, 8)), 'time_signature: expected a meter'),
    (dict(key=bj.Key(99, True)), 'key: a Key needs a tonic pitch class'),
    (dict(melody=bj.Piece(np.zeros((4, 40, 2)), lowest=36), pickup='1e1000000000'), 'pickup: expected a number'),
    (dict(motif=bj.Piece(np.zeros((4, 40, 2)), lowest=36), motif_at=('1:+99999999999999999999',)), 'motif_at'),
])
def test_bad_arguments_give_clear_errors(composer, kwargs, message):
  controls = {name: kwargs.pop(name) for name in list(kwargs) if name in CONTROL_FIELDS}
  with pytest.raises(bj.GenerationError, match=message):
    composer.generate(Request(**kwargs), Controls(**controls))


def test_numpy_numbers_are_taken_as_python_numbers():
  controls = Controls(num_samples=np.int8(100), seed=np.uint64(3), temperature=np.float32(0.8))
  assert type(controls.num_samples) is int and controls.num_samples * 1000 == 100_000  # no int8 overflow
  assert type(controls.temperature) is float
  request = Request(num_bars=np.int64(2), phrases=np.array([1, 1]), tempo=np.float32(90))
  assert request.num_bars == 2 and request.phrases == (1, 1) and type(request.tempo) is float


def test_missing_or_foreign_checkpoints_give_clear_errors(tmp_path):
  with pytest.raises(bj.BiaxialError, match='nope: no such checkpoint folder'):
    bj.load_checkpoint(tmp_path / 'nope')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(bj.BiaxialError, match='empty: holds no checkpoint'):
    bj.load_checkpoint(tmp_path / 'empty')


def test_a_melody_outside_the_range_is_refused(composer, tmp_path):
  path = make_midi(tmp_path / 'high.mid', [(0, 4 * STEP, 100)])
  with pytest.raises(bj.GenerationError, match='melody: .*high.mid: note 100 .* outside MIDI 36..75'):
    composer.generate(Request(melody=str(path))).pieces


def test_conservativity_thins_the_texture(composer):
  thick = composer.generate(Request(num_steps=64), Controls(num_samples=4, conservativity=0.5, seed=0)).pieces
  thin = composer.generate(Request(num_steps=64), Controls(num_samples=4, conservativity=3.0, seed=0)).pieces
  assert sum(p.roll[..., 0].sum() for p in thin) < sum(p.roll[..., 0].sum() for p in thick)


# Runs a script (argv[1]) whose MusicXML writer finds the disk full.
FULL_DISK = """
import errno, runpy, sys
from biaxial_jax.music import notation
def full(piece, path, *args, **kwargs):
  raise OSError(errno.ENOSPC, 'No space left on device', str(path))
notation.write_musicxml = full
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def test_sample_script_writes_midi_png_and_an_index_of_every_sample(tmp_path):
  config = Config(data=DataConfig(dataset=str(tmp_path / 'midi'), lowest=36, num_notes=40, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(6,)),
                  train=TrainConfig(batch_size=2, num_steps=2, eval_every=2, checkpoint_every=2))
  for i in range(4):
    make_midi(tmp_path / 'midi' / f'{i}.mid', [(0, 8 * STEP, 48 + i), (8 * STEP, 16 * STEP, 52 + i)])
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert os.listdir(tmp_path / 'run' / 'samples') == ['step_0000002.mid']  # a few bars at each evaluation
  out = tmp_path / 'out'
  env = dict(os.environ, PYTHONPATH=ROOT, PATH=os.path.dirname(sys.executable))  # no fluidsynth on this PATH
  args = [sys.executable, os.path.join(ROOT, 'experiments', 'sample.py'), f'--checkpoint={tmp_path / "run"}',
          f'--output_dir={out}', '--num_samples=3', '--num_bars=2', '--seed=4']
  result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'no WAV: fluidsynth not found' in result.stdout
  page = open(out / 'index.html').read()
  for i in range(3):
    name = f'sample_4_{i}'
    assert bj.read_midi(out / f'{name}.mid', grid=bj.Grid(36, 40)).num_steps == 32
    assert open(out / f'{name}.png', 'rb').read(4) == b'\x89PNG'
    assert f'src="{name}.png"' in page and f'href="{name}.mid"' in page and f'href="{name}.musicxml"' in page
    score = bj.read_piece(out / f'{name}.musicxml', grid=bj.Grid(36, 40))
    assert score.roll.shape == (32, 40, 2)  # the score holds the sample's notes on their steps
    np.testing.assert_array_equal(score.roll[..., 0],
                                  bj.read_midi(out / f'{name}.mid', grid=bj.Grid(36, 40)).roll[..., 0])
  assert '<th>--seed</th><td>4</td>' in page and '<th>--temperature</th><td>1.0</td>' in page
  assert 'no audio: no WAV: fluidsynth not found' in page
  nowav = subprocess.run(args + ['--overwrite', '--nowav', '--num_samples=1'], capture_output=True, text=True,
                         env=env, timeout=300)
  assert nowav.returncode == 0 and 'no audio: not rendered (--nowav)' in open(out / 'index.html').read()
  again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert again.returncode == 2 and 'pass --overwrite' in again.stderr  # a user's files are never replaced silently
  os.symlink(tmp_path / 'nowhere', out / 'sample_5_0.mid')  # a dangling link is a file of that name too
  dangling = subprocess.run(args[:-1] + ['--seed=5'], capture_output=True, text=True, env=env, timeout=300)
  assert dangling.returncode == 2 and 'sample_5_0.mid exists' in dangling.stderr
  full = subprocess.run([sys.executable, '-c', FULL_DISK] + args[1:] + ['--overwrite'], capture_output=True,
                        text=True, env=env, timeout=300)
  assert full.returncode == 1 and full.stderr.strip().splitlines() == [
      f'error: --output_dir: cannot write {out / "sample_4_0.musicxml"} (No space left on device); the files '
      'written before it are whole']
  motif = make_midi(tmp_path / 'motif.mid', [(0, 4 * STEP, 60), (4 * STEP, 8 * STEP, 62)])
  modes = args[:3] + [f'--output_dir={tmp_path / "modes"}', '--num_bars=4', f'--motif={motif}', '--motif_at=2,3:+2',
                      '--ending=C major', '--particles=4']
  result = subprocess.run(modes, capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  piece = bj.read_midi(tmp_path / 'modes' / 'sample_0_0.mid', grid=bj.Grid(36, 40))
  assert piece.roll[16:20, 60 - 36, 0].all() and piece.roll[36:40, 64 - 36, 0].all()  # the motif, moved up a tone
  assert '4 particles (sample)' in result.stdout and '4 particles' in open(tmp_path / 'modes' / 'index.html').read()
  motif_piece = bj.read_midi(motif, grid=bj.Grid(36, 40))
  generation = bj.load_checkpoint(tmp_path / 'run').generate(Request(num_steps=64, motif=motif_piece, motif_at=(2,)))
  assert generation.given[16:20, 60 - 36].all() and generation.given.sum() == 8  # what the piano roll marks
  for flags, flag in ((modes + ['--ending=H minor'], '--ending'), (modes + ['--motif_at=9'], '--motif_at'),
                      (args[:3] + ['--num_steps=8', f'--primer={motif}'], '--primer')):
    bad = subprocess.run(flags + ['--overwrite'], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and bad.stderr.startswith(f'error: {flag}: '), bad.stderr[-3000:]
    assert len(bad.stderr.strip().splitlines()) == 1
  if render.find_soundfont() and shutil.which('fluidsynth'):  # where FluidSynth is installed, WAVs are rendered
    with_wav = subprocess.run(args + ['--overwrite', '--num_samples=1'], capture_output=True, text=True,
                              env=dict(env, PATH=os.environ['PATH']), timeout=300)
    assert with_wav.returncode == 0, with_wav.stderr[-3000:]
    assert open(out / 'sample_4_0.wav', 'rb').read(4) == b'RIFF'
    assert 'src="sample_4_0.wav"' in open(out / 'index.html').read()


def test_an_exported_model_loads_samples_and_detects_damage(composer, tmp_path):
  from biaxial_jax import pretrained
  run = tmp_path / 'run'
  for i in range(4):
    make_midi(tmp_path / 'midi' / f'{i}.mid', [(0, 8 * STEP, 48 + i), (8 * STEP, 16 * STEP, 52 + i)])
  config = Config(data=DataConfig(dataset=str(tmp_path / 'midi'), lowest=36, num_notes=40, seq_len=16),
                  model=ModelConfig(time_sizes=(8,), note_sizes=(6,)),
                  train=TrainConfig(batch_size=2, num_steps=2, eval_every=2, checkpoint_every=2))
  train.train_and_evaluate(config, str(run))
  pretrained.export_params(str(run), str(tmp_path / 'export'), {'command': 'test'})
  from_workdir, from_export = bj.load_checkpoint(run), bj.load_checkpoint(tmp_path / 'export')
  assert from_export.config == from_workdir.config and from_export.step == 2
  a, b = from_workdir.generate(Request(num_steps=24), Controls(seed=3)).pieces[0], from_export.generate(Request(num_steps=24), Controls(seed=3)).pieces[0]
  np.testing.assert_array_equal(a.roll, b.roll)
  data = dict(np.load(tmp_path / 'export' / 'params.npz'))
  key = sorted(data)[0]
  data[key] = data[key] + 1e-3
  np.savez(tmp_path / 'export' / 'params.npz', **data)
  with pytest.raises(bj.BiaxialError, match='do not match their digest'):
    bj.load_checkpoint(tmp_path / 'export')


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, 'biaxial_jax', 'pretrained', 'bach')),
                    reason='no shipped model in this checkout')
def test_the_shipped_bach_model_samples_chorale_like_textures(shipped_bach):
  composer = shipped_bach
  assert (composer.lowest, composer.num_notes, composer.steps_per_quarter) == (24, 78, 4)
  piece = composer.generate(Request(num_steps=64), Controls(seed=0)).pieces[0]
  assert 2 <= piece.roll[..., 0].sum(axis=1).mean() <= 6  # about four voices


def test_melodies_come_from_scores_with_their_pickup_key_and_fermatas(composer, tmp_path):
  from music21 import corpus
  soprano = corpus.parse('bach/bwv269').parts[0]
  path = soprano.write('musicxml', tmp_path / 'soprano.musicxml')
  for melody in (soprano, str(path)):  # a music21 stream, or a MusicXML file
    piece = composer.generate(Request(melody=melody), Controls(seed=0)).pieces[0]
    assert piece.bar_position[:5].tolist() == [8, 9, 10, 11, 0]  # the pickup
    assert piece.key == bj.Key(7, True) and piece.phrase_ends[0] == 48  # G major; the first fermata ends a phrase
  midi_named_xml = make_midi(tmp_path / 'disguised.xml', [(0, 8 * STEP, 60)])
  assert composer.generate(Request(melody=str(midi_named_xml)), Controls(seed=0)).pieces[0].roll[:8, 60 - 36, 0].all()  # MIDI by content
  (tmp_path / 'notes.txt').write_text('C D E')
  with pytest.raises(bj.GenerationError, match='melody: .*notes.txt: neither a MIDI file nor a score'):
    composer.generate(Request(melody=str(tmp_path / 'notes.txt'))).pieces


def test_a_form_repeats_each_samples_own_phrases(composer):
  generation = composer.generate(Request(phrases=[1, 1, 1, 1], form='ABAB'), Controls(num_samples=2, seed=3, particles=4))
  for piece in generation.pieces:
    assert piece.num_steps == 64 and piece.phrase_ends == (16, 32, 48, 64)
    melody = bj.top_voice(piece).roll
    np.testing.assert_array_equal(melody[32:48], melody[0:16])  # A's melody again
    np.testing.assert_array_equal(melody[48:64], melody[16:32])  # and B's
    assert not np.array_equal(piece.roll[32:48], piece.roll[0:16])  # the voices under it are new
  a, b = generation.pieces
  assert not np.array_equal(a.roll[:16], b.roll[:16])  # each sample repeats its own phrase
  whole = composer.generate(Request(phrases=[1, 1, 1], form='AAB', form_harmony=True), Controls(seed=4, particles=4)).pieces[0]
  np.testing.assert_array_equal(whole.roll[16:32], whole.roll[0:16])
  with pytest.raises(bj.GenerationError, match='form: AB has 2 letters for 4 phrases'):
    composer.generate(Request(phrases=[1, 1, 1, 1], form='AB')).pieces
  with pytest.raises(bj.GenerationError, match='form: phrase 2 \\(A\\) does not fit the bars of phrase 1'):
    composer.generate(Request(phrases=[2, 1], form='AA')).pieces


def test_max_notes_limits_the_texture_as_a_condition(composer):
  free = composer.generate(Request(num_steps=48), Controls(num_samples=2, seed=6))
  assert free.pieces[0].roll[..., 0].sum(axis=1).max() > 2  # this model plays thicker textures unasked
  limited = composer.generate(Request(num_steps=48, max_notes=2), Controls(num_samples=2, seed=6))
  assert limited.particles == 32  # a condition: particles weigh it
  for piece in limited.pieces:
    assert piece.roll[..., 0].sum(axis=1).max() <= 2
  tune = line([(0, 8, 60), (8, 16, 62), (16, 24, 64)], 24)
  harmonized = composer.generate(Request(melody=tune, max_notes=3), Controls(seed=2)).pieces[0]
  assert all(harmonized.roll[start:start + 8, pitch - 36, 0].all() for start, pitch in ((0, 60), (8, 62), (16, 64)))
  assert harmonized.roll[..., 0].sum(axis=1).max() <= 3  # given notes count toward the limit
  with pytest.raises(bj.GenerationError, match='max_notes: must be an integer >= 1'):
    Request(num_steps=16, max_notes=0)
  with pytest.raises(bj.GenerationError, match='max_notes: must be in \\[1, 40\\]'):  # this model's notes
    composer.generate(Request(num_steps=16, max_notes=41))
