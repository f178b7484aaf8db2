"""The device mesh and global batches: one data-parallel axis over every device of every process."""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding

from biaxial_jax.music.batches import Batch


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A one-axis ('data') mesh over `devices` (default: every device of every process); auto axis types keep plain
  scan carries legal."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ('data',), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def to_global(batch: Batch, sharding: NamedSharding) -> Batch:
  """This process's rows of a global batch, placed on its devices as one global array per field."""
  n, i = jax.process_count(), jax.process_index()
  def put(x):
    rows = x.shape[0] // n
    return jax.make_array_from_process_local_data(sharding, x[i * rows:(i + 1) * rows], x.shape)
  return Batch(*(put(x) for x in batch))
