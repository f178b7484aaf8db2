"""Fixtures shared by the test modules, and jax's persistent compilation cache for the whole run."""

import os
import tempfile

# Set before jax is imported: the test processes and the scripts the tests start compile the same functions many
# times over (the trainer of a tiny config, the sampler of a test model); each is compiled once per machine instead.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(tempfile.gettempdir(), 'biaxial_jax_test_compilations'))

import pytest  # pylint: disable=wrong-import-position

import biaxial_jax as bj  # pylint: disable=wrong-import-position


@pytest.fixture(scope='session')
def shipped_bach() -> bj.Composer:
  """The model shipped in the package (`load_checkpoint('bach')`), loaded once per test process."""
  return bj.load_checkpoint('bach')
