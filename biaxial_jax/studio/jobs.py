"""One model's work, one job at a time: requests queue behind each other, off the request threads.

A job is a function run on the worker thread. Its states go queued, running, then done, failed or cancelled. A queued
job can be cancelled at once; a running one is one compiled sampler call that cannot be stopped midway, so it is
marked to be discarded and its result is dropped when it ends. The queue is bounded: past `max_queued` waiting
jobs, `submit` refuses with `Busy`.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
import time
from typing import Any, Callable

MAX_QUEUED = 16
MAX_KEPT = 64  # finished jobs kept for their results, oldest dropped first


class Busy(Exception):
  """The queue is full."""


@dataclasses.dataclass
class Job:
  id: str
  kind: str
  state: str = 'queued'  # queued, running, done, failed, cancelled
  submitted: float = dataclasses.field(default_factory=time.monotonic)
  started: float | None = None
  finished: float | None = None
  result: Any = None
  error: str | None = None
  cancel_requested: bool = False

  def summary(self, queued_before: int = 0) -> dict:
    out = {'id': self.id, 'kind': self.kind, 'state': self.state}
    if self.state == 'queued':
      out['ahead'] = queued_before
    if self.started is not None:
      out['seconds'] = round((self.finished or time.monotonic()) - self.started, 2)
    if self.error:
      out['error'] = self.error
    return out


class Jobs:
  """A worker thread running submitted functions in order; `errors` are the exception types whose message is the
  job's error (a user's mistake); anything else fails the job with its type named and is logged."""

  def __init__(self, errors: tuple[type[BaseException], ...], max_queued: int = MAX_QUEUED):
    self._errors = errors
    self._max_queued = max_queued
    self._lock = threading.Condition()
    self._queue: collections.deque[tuple[Job, Callable[[], Any]]] = collections.deque()
    self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
    self._ids = itertools.count(1)
    self._thread = threading.Thread(target=self._work, name='studio-jobs', daemon=True)
    self._thread.start()

  def submit(self, kind: str, fn: Callable[[], Any]) -> Job:
    with self._lock:
      if len(self._queue) >= self._max_queued:
        raise Busy(f'{len(self._queue)} jobs are waiting; try again when one is done')
      job = Job(f'{next(self._ids)}', kind)
      self._jobs[job.id] = job
      while len(self._jobs) > MAX_KEPT:
        oldest = next(iter(self._jobs.values()))
        if oldest.state in ('queued', 'running'):
          break
        self._jobs.popitem(last=False)
      self._queue.append((job, fn))
      self._lock.notify_all()
      return job

  def get(self, job_id: str) -> Job | None:
    with self._lock:
      return self._jobs.get(job_id)

  def status(self, job_id: str) -> dict | None:
    with self._lock:
      job = self._jobs.get(job_id)
      if job is None:
        return None
      ahead = next((i for i, (queued, _) in enumerate(self._queue) if queued is job), 0)
      return job.summary(ahead)

  def cancel(self, job_id: str) -> Job | None:
    with self._lock:
      job = self._jobs.get(job_id)
      if job is None:
        return None
      if job.state == 'queued':
        self._queue = collections.deque(item for item in self._queue if item[0] is not job)
        job.state, job.finished = 'cancelled', time.monotonic()
      elif job.state == 'running':
        job.cancel_requested = True
      self._lock.notify_all()
      return job

  def wait(self, job: Job, timeout: float | None = None) -> Job:
    """Blocks until `job` has ended (or `timeout` seconds have passed)."""
    with self._lock:
      self._lock.wait_for(lambda: job.state in ('done', 'failed', 'cancelled'), timeout)
      return job

  def _work(self):
    while True:
      with self._lock:
        self._lock.wait_for(lambda: self._queue)
        job, fn = self._queue.popleft()
        job.state, job.started = 'running', time.monotonic()
      try:
        result, error, state = fn(), None, 'done'
      except self._errors as e:
        result, error, state = None, str(e), 'failed'
      except Exception as e:  # pylint: disable=broad-except  # the server keeps serving; the job says what broke
        result, error, state = None, f'internal error ({type(e).__name__}: {str(e)[:200]})', 'failed'
      with self._lock:
        if job.cancel_requested:
          result, error, state = None, None, 'cancelled'
        job.result, job.error, job.state, job.finished = result, error, state, time.monotonic()
        self._lock.notify_all()
