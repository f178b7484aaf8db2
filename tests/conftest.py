"""Fixtures shared by the test modules."""

import pytest

import biaxial_jax as bj


@pytest.fixture(scope='session')
def shipped_bach() -> bj.Composer:
  """The model shipped in the package (`load_checkpoint('bach')`), loaded once per test process."""
  return bj.load_checkpoint('bach')
