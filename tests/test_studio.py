"""The studio's HTTP API over a small model: harmonize, regenerate a region with the rest fixed, mistakes, the queue."""

import base64
import io
import shutil
import threading

import jax
import numpy as np
import pytest

flask = pytest.importorskip('flask')

import biaxial_jax as bj  # pylint: disable=wrong-import-position
from biaxial_jax import model, render  # pylint: disable=wrong-import-position
from biaxial_jax.config import Config, DataConfig, ModelConfig  # pylint: disable=wrong-import-position
from biaxial_jax.studio import jobs as jobs_lib  # pylint: disable=wrong-import-position
from biaxial_jax.studio.app import create_app  # pylint: disable=wrong-import-position
from biaxial_jax.studio.service import MAX_UPLOAD_BYTES, Studio, request_of  # pylint: disable=wrong-import-position

CONFIG = Config(data=DataConfig(lowest=36, num_notes=40), model=ModelConfig(time_sizes=(12,), note_sizes=(8,)))
# Four bars of 4/4 in C, a tune as a user would paste it.
TUNE = 'X:1\nT:test\nM:4/4\nL:1/4\nK:C\nE D C D | E E E2 | D D E D | C4 |]\n'


@pytest.fixture(scope='module')
def client():
  composer = bj.Composer(CONFIG, model.init_params(jax.random.key(0), CONFIG.model), step=0)
  return create_app(Studio(composer)).test_client()


def _cells(result, first: int, last: int):
  """The (step, pitch, onset) cells of a result's notes outside steps [first, last); at `last` the onset is left
  out (a note held out of the region may be struck again there, its start having been drawn again)."""
  cells = set()
  for n in result['notes']:
    for t in range(n['start'], n['end']):
      if not first <= t < last:
        cells.add((t, n['pitch'], t == n['start'] and t != last))
  return cells


def test_harmonize_then_regenerate_two_bars_with_everything_else_kept(client):
  answer = client.post('/api/harmonize', data={'abc': TUNE, 'seed': '3', 'particles': '4'})
  assert answer.status_code == 200, answer.get_json()
  first = answer.get_json()
  assert first['musicxml'].startswith('<?xml') and base64.b64decode(first['midi'])[:4] == b'MThd'
  melody = sorted((n['start'], n['end'], n['pitch']) for n in first['notes'] if n['given'])
  assert [p for _, _, p in melody] == [64, 62, 60, 62, 64, 64, 64, 62, 62, 64, 62, 60]
  assert first['steps'] == 64 and first['bars'][:3] == [0, 0, 16]  # no pickup: bar 0 is empty
  again = client.post('/api/regenerate', data={'version': first['version'], 'first_bar': '2', 'last_bar': '3',
                                               'seed': '8', 'particles': '4'})
  assert again.status_code == 200, again.get_json()
  second = again.get_json()
  assert second['parent'] == first['version'] and second['version'] != first['version']
  assert _cells(second, 16, 48) == _cells(first, 16, 48)  # bars 1 and 4 as they were
  assert sorted((n['start'], n['end'], n['pitch']) for n in second['notes'] if n['given']) == melody
  download = client.get(f'/api/versions/{second["version"]}/music.mid')
  assert download.status_code == 200 and download.data[:4] == b'MThd'
  wav = client.get(f'/api/versions/{second["version"]}/music.wav')
  if shutil.which('fluidsynth') and render.find_soundfont():
    assert wav.status_code == 200 and wav.data[:4] == b'RIFF'
  else:  # said, not a crash
    assert wav.status_code == 503 and 'no WAV' in wav.get_json()['error']


@pytest.mark.parametrize('path, data, status, message', [
    ('/api/harmonize', {'abc': TUNE, 'seed': '-1'}, 400, 'seed: must be an integer'),
    ('/api/harmonize', {'abc': TUNE, 'colour': 'red'}, 400, 'colour: not a field the studio reads'),
    ('/api/harmonize', {'seed': '1'}, 400, 'melody: upload a melody'),
    ('/api/harmonize', {'melody': (io.BytesIO(b'x'), '../../etc/passwd')}, 400, 'melody: expected a score'),
    ('/api/harmonize', {'melody': (io.BytesIO(b'not a score'), 'song.musicxml')}, 400, 'melody: .*not well-formed'),
    ('/api/harmonize', {'melody': (io.BytesIO(b'x' * (MAX_UPLOAD_BYTES + 100)), 'a.mid')}, 400, 'over the limit'),
    ('/api/harmonize', {'melody': (io.BytesIO(b'x' * (2 * MAX_UPLOAD_BYTES)), 'a.mid')}, 413, 'over the limit'),
    ('/api/compose', {'num_bars': '100000000'}, 400, 'num_bars: must be an integer'),
    ('/api/regenerate', {'version': '999', 'first_bar': '1', 'last_bar': '2'}, 400, 'version: no version'),
])
def test_a_mistake_is_one_message_naming_the_field_and_the_server_keeps_serving(client, path, data, status,
                                                                                   message):
  answer = client.post(path, data=data)
  assert answer.status_code == status
  assert answer.get_json()['error'] and __import__('re').search(message, answer.get_json()['error'])
  assert client.get('/').status_code == 200


def test_a_region_drawn_again_leaves_every_fixed_note_with_the_voice_that_sang_it(shipped_bach):
  studio = Studio(shipped_bach)
  melody = 'X:1\nM:4/4\nL:1/4\nK:G\nB A G A | B B B2 | A A B A | G4 |]\n'
  request, controls = request_of({'seed': '1', 'particles': '8'}, melody=studio.save_upload(melody.encode(), 'm.abc'))
  first = studio.generate(request, controls, 'harmonized')
  again = studio.regenerate(first.id, 2, 2, controls)
  start, end = 16, 32  # bar 2
  outside = np.ones(first.piece.num_steps, bool)
  outside[start:end] = False
  np.testing.assert_array_equal(again.piece.roll[outside], first.piece.roll[outside])
  np.testing.assert_array_equal(again.piece.voices[outside], first.piece.voices[outside])


def test_warming_up_compiles_what_a_first_request_runs_and_keeps_no_version():
  composer = bj.Composer(CONFIG, model.init_params(jax.random.key(0), CONFIG.model), step=0)
  studio = Studio(composer)
  studio.warm_up()
  compiled = bj.generation.sampler.sample._cache_size()  # pylint: disable=protected-access
  first = studio.generate(*request_of({}, melody=studio.save_upload(TUNE.encode(), 't.abc')), 'harmonized')
  studio.regenerate(first.id, 2, 3, request_of({'seed': '2'})[1])
  assert bj.generation.sampler.sample._cache_size() == compiled  # pylint: disable=protected-access
  assert first.id == '1'  # the warm-up left nothing behind


def test_the_page_and_its_script_ship_in_the_package(client):
  page = client.get('/').get_data(as_text=True)
  assert '/static/studio.js' in page and 'id="regenerate"' in page
  assert client.get('/static/studio.js').status_code == 200
  assert client.get('/static/..%2Fapp.py').status_code == 404  # nothing from a request names a path


def test_one_job_at_a_time_queued_in_order_and_cancelled_while_queued():
  jobs = jobs_lib.Jobs(errors=(ValueError,), max_queued=2)
  release = threading.Event()
  order = []
  first = jobs.submit('a', lambda: (release.wait(10), order.append('a'))[1])
  while jobs.status(first.id)['state'] == 'queued':
    release.wait(0.01)
  second = jobs.submit('b', lambda: order.append('b'))
  third = jobs.submit('c', lambda: order.append('c'))
  with pytest.raises(jobs_lib.Busy):
    jobs.submit('d', lambda: None)
  assert jobs.status(third.id) == {'id': third.id, 'kind': 'c', 'state': 'queued', 'ahead': 1}
  assert jobs.cancel(second.id).state == 'cancelled'
  failing = jobs.submit('e', lambda: (_ for _ in ()).throw(ValueError('e: wrong')))
  release.set()
  for job in (first, third, failing):
    jobs.wait(job, 10)
  assert order == ['a', 'c'] and first.state == third.state == 'done'
  assert failing.state == 'failed' and failing.error == 'e: wrong'
