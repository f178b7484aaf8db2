"""The studio's HTTP API and page (Flask), over one warm model.

  GET  /                          the page (its script and style ship in the package: it works offline)
  POST /api/harmonize             multipart: `melody` (a score or MIDI file) or `abc` (ABC text); optional fields
                                  named as sample.py's flags (seed, temperature, particles, key, phrases, ending ...)
  POST /api/compose               fields as sample.py's flags (num_bars, time_signature, key, style, seed ...)
  POST /api/regenerate            fields: version, first_bar, last_bar (bars from 1; 0 is a pickup), optional voice
                                  (0 soprano .. 3 bass), and the controls (seed, temperature, particles ...)
  GET  /api/jobs/<id>             a job's state: queued (with how many are ahead), running, done, failed, cancelled
  POST /api/jobs/<id>/cancel      cancels a queued job; a running one ends and its result is dropped
  GET  /api/versions/<id>/<file>  `score.musicxml`, `music.mid` or `music.wav` (rendered by FluidSynth, where it
                                  and a soundfont are installed; else HTTP 503 saying so) of a version

The POST routes answer when the music is ready: JSON with `version`, `parent`, `musicxml` (text), `midi` (base64),
`svg` (the engraved score, pages joined, where Verovio is installed), `notes` (start, end in steps, pitch, given),
`steps`, `bars` (where bar 0, a pickup, empty where there is none, then bars 1, 2, ... start) and `key`. With
`?wait=0` they answer at once with the job (`job`), whose result `GET /api/jobs/<id>` gives when done. A mistake is
HTTP 400 with `{"error": "<field>: <what is wrong>"}`; an upload over the limit 413, a full queue 503; the server
keeps serving.
"""

from __future__ import annotations

import base64
import importlib.resources

import flask

from biaxial_jax import values
from biaxial_jax.errors import BiaxialError
from biaxial_jax.generation.outline import downbeats
from biaxial_jax.studio import engrave
from biaxial_jax.studio.jobs import Busy, Jobs
from biaxial_jax.studio.service import MAX_UPLOAD_BYTES, Studio, Version, request_of

WAIT_SECONDS = 600  # a synchronous request waits this long for its job
_STATIC = ('studio.js', 'studio.css')


def create_app(studio: Studio) -> flask.Flask:
  app = flask.Flask(__name__, static_folder=None)
  app.config['MAX_CONTENT_LENGTH'] = MAX_UPLOAD_BYTES + (64 << 10)  # the upload and its form fields
  jobs = Jobs(errors=(BiaxialError,))

  def error(message: str, status: int = 400):
    return flask.jsonify({'error': message}), status

  def result_of(version: Version) -> dict:
    files = studio.files(version)
    piece = version.piece
    bars = downbeats(piece.num_steps, piece.time_signatures, piece.steps_per_quarter)
    return {'version': version.id, 'parent': version.parent, 'label': version.label,
            'musicxml': files['musicxml'], 'midi': base64.b64encode(files['midi']).decode('ascii'),
            'svg': engrave.svg(files['musicxml']), 'notes': files['notes'], 'steps': piece.num_steps,
            'steps_per_quarter': piece.steps_per_quarter, 'qpm': piece.tempos[0].qpm,
            'bars': [0] + [int(b) for b in bars], 'key': str(version.key) if version.key else None,
            'voices': piece.voices is not None}

  def run(kind: str, work):
    """Queues `work` (a function giving a Version); answers with its result, or at once with the job."""
    try:
      job = jobs.submit(kind, lambda: result_of(work()))
    except Busy as e:
      return error(str(e), 503)
    if flask.request.args.get('wait', '1') == '0':
      return flask.jsonify({'job': job.summary()}), 202
    jobs.wait(job, WAIT_SECONDS)
    if job.state == 'done':
      return flask.jsonify(job.result)
    if job.state == 'failed':
      return error(job.error)
    return error(f'the job was {job.state}', 409 if job.state == 'cancelled' else 504)

  def fields() -> dict[str, str]:
    return {name: value for name, value in flask.request.form.items()}

  @app.errorhandler(413)
  def too_large(_):
    return error(f'the upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes', 413)

  @app.get('/')
  def page():
    return flask.Response(_resource('index.html'), mimetype='text/html')

  @app.get('/static/<name>')
  def static_file(name: str):
    if name not in _STATIC:  # nothing from a request names a path
      flask.abort(404)
    return flask.Response(_resource(name), mimetype='text/css' if name.endswith('.css') else 'text/javascript')

  @app.post('/api/harmonize')
  def harmonize():
    form = fields()
    abc_text = form.pop('abc', '')
    upload = flask.request.files.get('melody')
    try:
      if upload is not None and upload.filename:
        path = studio.save_upload(upload.read(MAX_UPLOAD_BYTES + 1), upload.filename)
      elif abc_text.strip():
        path = studio.save_upload(abc_text.encode('utf-8'), 'pasted.abc')
      else:
        return error('melody: upload a melody or score file, or paste ABC text')
      request, controls = request_of(form, melody=path)
    except BiaxialError as e:
      return error(str(e))
    return run('harmonize', lambda: studio.generate(request, controls, 'harmonized'))

  @app.post('/api/compose')
  def compose():
    try:
      request, controls = request_of(fields())
    except BiaxialError as e:
      return error(str(e))
    return run('compose', lambda: studio.generate(request, controls, 'composed'))

  @app.post('/api/regenerate')
  def regenerate():
    form = fields()
    try:
      version = form.pop('version', '')
      studio.version(version)
      first_bar, last_bar = (_whole(form.pop(name, ''), name) for name in ('first_bar', 'last_bar'))
      voice = form.pop('voice', '')
      voice = _whole(voice, 'voice') if voice.strip() else None
      _, controls = request_of(form)
    except BiaxialError as e:
      return error(str(e))
    return run('regenerate', lambda: studio.regenerate(version, first_bar, last_bar, controls, voice))

  @app.get('/api/jobs/<job_id>')
  def job_status(job_id: str):
    status = jobs.status(job_id)
    if status is None:
      return error(f'job: no job {job_id[:20]!r}', 404)
    job = jobs.get(job_id)
    if job.state == 'done':
      status['result'] = job.result
    return flask.jsonify(status)

  @app.post('/api/jobs/<job_id>/cancel')
  def cancel(job_id: str):
    job = jobs.cancel(job_id)
    if job is None:
      return error(f'job: no job {job_id[:20]!r}', 404)
    return flask.jsonify(jobs.status(job_id))

  @app.get('/api/versions/<version_id>/<name>')
  def version_file(version_id: str, name: str):
    try:
      version = studio.version(version_id)
    except BiaxialError as e:
      return error(str(e), 404)
    if name == 'score.musicxml':
      return flask.Response(studio.files(version)['musicxml'], mimetype='application/vnd.recordare.musicxml+xml',
                            headers={'Content-Disposition': f'attachment; filename=v{version.id}.musicxml'})
    if name == 'music.mid':
      return flask.Response(studio.files(version)['midi'], mimetype='audio/midi',
                            headers={'Content-Disposition': f'attachment; filename=v{version.id}.mid'})
    if name == 'music.wav':
      try:
        wav = studio.wav(version)
      except BiaxialError as e:
        return error(str(e), 503)
      return flask.Response(wav, mimetype='audio/wav',
                            headers={'Content-Disposition': f'attachment; filename=v{version.id}.wav'})
    return error(f'file: expected score.musicxml, music.mid or music.wav, got {name[:40]!r}', 404)

  app.extensions['biaxial_jobs'] = jobs
  return app


def _whole(text: str, field: str) -> int:
  return values.integer(field, text, 0, 100_000)


def _resource(name: str) -> bytes:
  return importlib.resources.files('biaxial_jax.studio').joinpath('static', name).read_bytes()

