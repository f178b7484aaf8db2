r"""Times the studio over HTTP against 127.0.0.1 and loads it: the figures of BUILD_NOTES.md ("The studio").

  python experiments/studio_benchmark.py --checkpoint=bach

Serves the studio in this process, then: a harmonization of --melody (default: an Essen tune of 16 bars of 4/4)
twice (the first compiles), two bars of it drawn again twice, and --requests small compositions sent --concurrency at a time,
with the server's resident memory before them (after as many to compile their shapes), halfway and after.
"""

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

from absl import app, flags
from music21 import corpus
from werkzeug.serving import make_server

from biaxial_jax import cli
from biaxial_jax.generation import load_checkpoint
from biaxial_jax.music import abc
from biaxial_jax.studio.app import create_app
from biaxial_jax.studio.service import Studio

_CHECKPOINT = flags.DEFINE_string('checkpoint', 'bach', 'The model to serve.')
_BOOK = flags.DEFINE_string('book', 'erk20', 'Without --melody: the Essen book (in music21\'s corpus) of the tune.')
_TUNE = flags.DEFINE_integer('tune', 32, 'Without --melody: the tune of --book to harmonize.')
_MELODY = flags.DEFINE_string('melody', None, 'A melody file to harmonize instead.')
_REQUESTS = flags.DEFINE_integer('requests', 50, 'Compositions sent in the load test.', lower_bound=0)
_CONCURRENCY = flags.DEFINE_integer('concurrency', 4, 'Requests in flight at once in the load test.', lower_bound=1)


def _post(url: str, fields: dict, upload: tuple[str, bytes] | None = None) -> tuple[int, dict, float]:
  boundary = uuid.uuid4().hex
  parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
           for k, v in fields.items()]
  if upload:
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="melody"; filename="{upload[0]}"\r\n'
                 'Content-Type: application/octet-stream\r\n\r\n'.encode() + upload[1] + b'\r\n')
  body = b''.join(parts) + f'--{boundary}--\r\n'.encode()
  request = urllib.request.Request(url, body, {'Content-Type': f'multipart/form-data; boundary={boundary}'})
  start = time.perf_counter()
  try:
    with urllib.request.urlopen(request, timeout=900) as response:
      status, answer = response.status, json.loads(response.read())
  except urllib.error.HTTPError as e:
    status, answer = e.code, json.loads(e.read() or b'{}')
  return status, answer, time.perf_counter() - start


def _resident_mb() -> float:
  with open('/proc/self/status', encoding='ascii') as f:
    return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:')) / 1024


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.quiet_library_logs()
  cli.compile_once_per_machine()
  cli.sample_on_every_core()
  if _MELODY.value:
    with open(_MELODY.value, 'rb') as f:
      upload = (_MELODY.value.rsplit('/', 1)[-1], f.read())
  else:
    with open(corpus.getWork(f'essenFolksong/{_BOOK.value}'), encoding='latin-1') as f:
      book = abc.tunes(f.read())
    upload = ('tune.abc', abc.choose(book, _TUNE.value, _BOOK.value).text.encode('utf-8'))
  server = make_server('127.0.0.1', 0, create_app(Studio(load_checkpoint(_CHECKPOINT.value))), threaded=True)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  base = f'http://127.0.0.1:{server.server_port}/api'
  rows = []
  for label in ('harmonize (first: compiles)', 'harmonize (warm)'):
    status, answer, seconds = _post(f'{base}/harmonize', {'seed': str(len(rows))}, upload)
    rows.append((label, status, seconds))
  version = answer.get('version')
  print(f'the melody: {len(answer.get("bars", [0])) - 1} bars, {answer.get("steps")} steps')
  for label in ('two bars again (first: compiles)', 'two bars again (warm)'):
    status, _, seconds = _post(f'{base}/regenerate', {'version': version, 'first_bar': '2', 'last_bar': '3',
                                                      'seed': str(len(rows))})
    rows.append((label, status, seconds))
  def compose(i):
    return _post(f'{base}/compose', {'num_bars': '2', 'seed': str(i)})

  half = _REQUESTS.value // 2
  with concurrent.futures.ThreadPoolExecutor(_CONCURRENCY.value) as pool:
    list(pool.map(compose, range(-_CONCURRENCY.value, 0)))  # compiles the composition's shapes first
    before = _resident_mb()
    answers = list(pool.map(compose, range(half)))
    halfway = _resident_mb()  # the allocator's pools fill in the first requests; a leak grows on after them
    answers += list(pool.map(compose, range(half, _REQUESTS.value)))
  after = _resident_mb()
  server.shutdown()
  for label, status, seconds in rows:
    print(f'{label:34s} HTTP {status}  {seconds:6.2f} s')
  statuses = sorted({a[0] for a in answers})
  music = sum(a[0] == 200 for a in answers)
  seconds = sorted(a[2] for a in answers) or [0.0]
  print(f'load: {_REQUESTS.value} compositions of 2 bars, {_CONCURRENCY.value} at a time: HTTP {statuses}, {music} '
        f'answered with music, median {seconds[len(seconds) // 2]:.1f} s, slowest {seconds[-1]:.1f} s (queued '
        f'behind the others); resident memory {before:.0f} MB before, {halfway:.0f} MB halfway, {after:.0f} MB '
        'after')


if __name__ == '__main__':
  app.run(cli.full_disk_is_one_line(main), flags_parser=cli.parse_flags)
