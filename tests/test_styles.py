"""Styles: pieces carry one, MIDI subfolders name it, batches draw styles evenly, the model and the sampler read the
style weights, a tiny model trained on two toy styles tells them apart, and every bad style is a clear error."""

import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biaxial_jax import model, train
from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.errors import ConfigError
from biaxial_jax.generation import GenerationError, load_checkpoint, plans, sampler
from biaxial_jax.generation import styles as styles_lib
from biaxial_jax.music.batches import piece_batches, training_batch
from biaxial_jax.music.midi_folders import load_midi_folder
from biaxial_jax.music.piece import Grid, Piece
from biaxial_jax.generation.request import Controls, Request
from tests.midi_util import STEP, make_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLES = ('high', 'low')


def _toy_piece(rng, low: bool) -> list:
  """A 'low' piece: one voice in MIDI 36..47; a 'high' one: two voices, a third apart, in MIDI 60..71."""
  notes, t = [], 0
  while t < 48:
    length = int(rng.choice([2, 4]))
    root = int(rng.integers(36, 48) if low else rng.integers(60, 69))
    notes.append((t * STEP, (t + length) * STEP, root))
    if not low:
      notes.append((t * STEP, (t + length) * STEP, root + 3))
    t += length
  return notes


@pytest.fixture(scope='module')
def styled_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp('styled')
  rng = np.random.default_rng(0)
  for style in STYLES:
    os.makedirs(folder / style)
    for i in range(12):
      make_midi(folder / style / f'{style}{i:02d}.mid', _toy_piece(rng, style == 'low'))
  return str(folder)


def test_piece_style_must_be_a_name():
  roll = np.zeros((4, 12, 2), np.uint8)
  assert Piece(roll, style='chorale-2').style == 'chorale-2'
  for bad in ('', 'a b', 'x:0.5', 'a,b', 3):
    with pytest.raises(ValueError, match='style must be a name'):
      Piece(roll, style=bad)


def test_midi_subfolders_are_styles(styled_folder, tmp_path):
  data = load_midi_folder(styled_folder, grid=Grid(36, 36))
  pieces = data.train + data.valid + data.test
  assert {p.style for p in pieces} == set(STYLES)
  assert all(p.style == os.path.basename(p.name)[:-len('00.mid')] or p.style in p.name for p in pieces)
  # A file at the top level: the subfolders are just folders, and no piece has a style.
  make_midi(tmp_path / 'top.mid', [(0, 4 * STEP, 60)])
  os.makedirs(tmp_path / 'sub')
  make_midi(tmp_path / 'sub' / 'inner.mid', [(0, 4 * STEP, 62)])
  loose = load_midi_folder(str(tmp_path), grid=Grid(36, 36))
  assert {p.style for p in loose.train + loose.valid + loose.test} == {None}


def test_batches_carry_one_hot_styles_drawn_evenly(styled_folder):
  data = load_midi_folder(styled_folder, grid=Grid(36, 36))
  # one 'low' piece among many 'high' ones: styles are still drawn evenly
  pieces = [p for p in data.train if p.style == 'high'] + [next(p for p in data.train if p.style == 'low')]
  rows = np.concatenate([training_batch(pieces, batch_size=16, seq_len=16, seed=0, step=s, styles=STYLES).style_BxY
                         for s in range(20)])
  assert rows.shape == (320, 2) and np.all(rows.sum(axis=1) == 1)
  assert 0.35 < rows[:, STYLES.index('low')].mean() < 0.65
  batch = training_batch(pieces, batch_size=8, seq_len=16, seed=0, step=0, styles=STYLES)
  for row, index in enumerate(batch.piece_B):
    assert batch.style_BxY[row, STYLES.index(pieces[index].style)] == 1
  assert training_batch(pieces, batch_size=4, seq_len=16, seed=0, step=0).style_BxY.shape == (4, 0)
  (whole,) = list(piece_batches(pieces[:2], batch_size=2, styles=STYLES))
  np.testing.assert_array_equal(whole.style_BxY, [[1, 0], [1, 0]])
  with pytest.raises(ValueError, match="its style 'high' is not one of low"):
    training_batch(pieces, batch_size=4, seq_len=16, seed=0, step=0, styles=('low',))


CONFIG = ModelConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0, chord_inputs=True, styles=STYLES)


def _notes(rng, b, t, n):
  play = rng.random((b, t, n)) < 0.2
  return jnp.asarray(np.stack([play, play & (rng.random((b, t, n)) < 0.5)], -1).astype(np.uint8))


def test_style_weights_reach_both_axes_and_keep_causality():
  params = model.init_params(jax.random.key(0), CONFIG)
  assert params['time'][0]['w_in'].shape[0] == 80 + 2
  rng = np.random.default_rng(0)
  notes = _notes(rng, 2, 10, 24)
  bar = jnp.tile(jnp.arange(10) % 16, (2, 1))

  def logits(style, notes=notes):
    return model.teacher_forced_logits(params, notes, bar, CONFIG, lowest=36, style_BxY=jnp.asarray(style))

  high, low = logits([[1., 0.]] * 2), logits([[0., 1.]] * 2)
  assert not np.allclose(high, low)
  # the note axis reads the style too: with the time axis's share of it removed, the output still changes
  no_time = jax.tree.map(lambda x: x, params)
  no_time['time'][0]['w_in'] = params['time'][0]['w_in'].at[80:].set(0)
  tf = lambda p, s: model.teacher_forced_logits(p, notes, bar, CONFIG, lowest=36, style_BxY=jnp.asarray(s))
  assert not np.allclose(tf(no_time, [[1., 0.]] * 2), tf(no_time, [[0., 1.]] * 2))
  # causality: changing step 6 changes nothing before it, under any style mixture
  changed = notes.at[:, 6].set(1 - notes[:, 6])
  changed = changed.at[..., 1].set(changed[..., 1] & changed[..., 0])
  mixture = [[0.3, 0.7]] * 2
  np.testing.assert_array_equal(logits(mixture)[:, :6], logits(mixture, changed)[:, :6])


def test_sampler_scores_its_samples_as_teacher_forcing_does_under_a_style():
  params = model.init_params(jax.random.key(1), CONFIG)
  params['out']['b'] = jnp.array([-1.0, 0.0])
  s, t, n = 2, 12, 24
  style = np.array([[1, 0], [0.25, 0.75]], np.float32)
  plan = plans.free_plan(s, t, n, style_SxY=style)
  controls = sampler.Controls(jnp.float32(1), jnp.float32(1), jnp.float32(0))
  result = sampler.sample(params, jax.random.key(0), plan, controls, config=CONFIG, lowest=36)
  rolls = jnp.asarray(result.rolls)
  logits = model.teacher_forced_logits(params, rolls, jnp.tile(jnp.arange(t) % 16, (s, 1)), CONFIG, lowest=36,
                                       style_BxY=jnp.asarray(style))
  from biaxial_jax.loss import nll_terms
  play, articulate = nll_terms(logits, rolls)
  np.testing.assert_allclose(result.log_likelihood, -(play + articulate).sum(axis=(1, 2)), rtol=1e-4)
  other = sampler.sample(params, jax.random.key(0), plan._replace(style_SxY=style[::-1]), controls, config=CONFIG,
                         lowest=36)
  assert not np.array_equal(result.rolls, other.rolls)


def test_parse_style():
  known = ('chorale', 'classical', 'medieval')
  assert styles_lib.parse('classical', known) == {'classical': 1.0}
  assert styles_lib.parse('chorale:3, medieval:1', known) == {'chorale': 0.75, 'medieval': 0.25}
  assert styles_lib.parse({'medieval': 2, 'chorale': 2}, known) == {'chorale': 0.5, 'medieval': 0.5}
  np.testing.assert_array_equal(styles_lib.weights_of({'chorale': 0.75, 'medieval': 0.25}, known), [.75, 0, .25])
  assert styles_lib.describe({'chorale': 0.75, 'medieval': 0.25}) == 'chorale 75%, medieval 25%'
  for bad, message in (('ragtime', "'ragtime' is not a style of this model \\(it knows chorale, classical, "
                                    'medieval\\)'),
                       ('chorale:x', 'the weight of chorale: a finite number'), ('chorale:-1', r'in \[0, 1e\+06\]'),
                       ('chorale:0', 'the weights sum to 0'), ('chorale:nan', 'the weight of chorale: a finite number'),
                       ('chorale:1e308,classical:1e308', 'the weight of chorale'),
                       ('chorale,chorale', 'named twice'), (3, 'expected a style name')):
    with pytest.raises(GenerationError, match=message) as e:
      styles_lib.parse(bad, known)
    assert e.value.field == 'style'
  with pytest.raises(GenerationError, match='trained without styles'):
    styles_lib.parse('chorale', ())


def styled_config(folder, **train_overrides) -> Config:
  train_config = dict(batch_size=8, num_steps=300, warmup_steps=10, learning_rate=2e-2, log_every=100,
                      eval_every=0, eval_batch_size=8, checkpoint_every=300)
  return Config(data=DataConfig(dataset=folder, lowest=36, num_notes=36, seq_len=16),
                model=ModelConfig(time_sizes=(16,), note_sizes=(8,), dropout=0.0, styles=STYLES),
                train=TrainConfig(**{**train_config, **train_overrides}))


@pytest.fixture(scope='module')
def trained(styled_folder, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('styled_run'))
  train.train_and_evaluate(styled_config(styled_folder), workdir)
  return workdir


def test_a_model_trained_on_two_styles_tells_them_apart(trained):
  composer = load_checkpoint(trained)
  assert composer.config.model.styles == STYLES
  mean_pitch = {}
  for style in STYLES:
    generation = composer.generate(Request(num_steps=64, style=style), Controls(num_samples=4, seed=0))
    assert generation.style == {style: 1.0} and all(p.style == style for p in generation.pieces)
    play = np.stack([p.roll[..., 0] for p in generation.pieces])
    mean_pitch[style] = 36 + (play * np.arange(36)).sum() / max(play.sum(), 1)
  assert mean_pitch['low'] < 50 < 58 < mean_pitch['high']
  mixed = composer.generate(Request(num_steps=64, style='high:0.5,low:0.5'), Controls(num_samples=4, seed=0))
  assert mixed.style == {'high': 0.5, 'low': 0.5} and mixed.pieces[0].style is None
  assert composer.generate(Request(num_steps=16), Controls(seed=0)).style == {'high': 1.0}  # the model's first style by default


def test_training_refuses_data_whose_styles_the_model_lacks(styled_folder, tmp_path):
  config = styled_config(styled_folder, num_steps=1)
  config = dataclasses.replace(config, model=dataclasses.replace(config.model, styles=('low', 'mid')))
  with pytest.raises(ConfigError, match='model.styles: the data set\'s pieces have the styles high, low; '
                                                'the model has low, mid'):
    train.train_and_evaluate(config, str(tmp_path))


def test_sample_script_names_the_style_flag(trained, tmp_path):
  def run(*flags):
    return subprocess.run([sys.executable, 'experiments/sample.py', f'--checkpoint={trained}',
                           f'--output_dir={tmp_path}', '--num_steps=16', '--nowav', '--noengrave', *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  bad = run('--style=ragtime')
  assert bad.returncode == 1
  assert bad.stderr.strip().splitlines()[-1] == ("error: --style: 'ragtime' is not a style of this model "
                                                 '(it knows high, low)')
  good = run('--style=low:1,high:3')
  assert good.returncode == 0, good.stderr
  assert 'style high 75%, low 25%' in good.stdout


def test_style_study_classifies_generated_pieces_by_the_style_asked(trained, styled_folder):
  from biaxial_jax.analysis.style_classifier import style_study
  composer = load_checkpoint(trained)
  data = load_midi_folder(styled_folder, grid=Grid(36, 36))
  result = style_study(composer, data, 'train', num_samples=4, num_steps=32, seed=0, windows_per_piece=2)
  assert result['styles'] == list(STYLES) and result['chance'] == 0.5
  assert set(result['real']) == set(STYLES) and min(result['real'].values()) >= 0.75
  assert set(result['generated']) == set(STYLES) and min(result['generated'].values()) >= 0.75
  assert all(sum(row.values()) == 4 for row in result['confusion'].values())
  for style in STYLES:
    assert result['confusion'][style][style] / 4 == result['generated'][style]


def test_styles_work_with_the_constraint_modes(trained, tmp_path):
  composer = load_checkpoint(trained)
  melody = tmp_path / 'melody.mid'
  make_midi(melody, [(t * STEP, (t + 4) * STEP, 67 - (t // 4) % 3) for t in range(0, 32, 4)])
  for style in STYLES:
    generation = composer.generate(Request(melody=str(melody), style=style), Controls(seed=0, particles=4))
    roll = generation.pieces[0].roll
    given = generation.given
    np.testing.assert_array_equal(roll[..., 0][given], 1)  # the melody kept under either style
    primer = generation.pieces[0].with_roll(roll[:16])
    continued = composer.generate(Request(num_steps=32, primer=primer, style=style, motif=primer, motif_at=[2]), Controls(seed=1))
    np.testing.assert_array_equal(continued.pieces[0].roll[:16], primer.roll)


def test_the_shipped_styles_model_loads_and_samples_each_style():
  composer = load_checkpoint('styles')
  assert composer.config.model.styles == ('chorale', 'classical', 'medieval', 'renaissance')
  for style in composer.config.model.styles:
    (piece,) = composer.generate(Request(num_steps=16, style=style), Controls(seed=0)).pieces
    assert piece.style == style and piece.num_steps == 16
