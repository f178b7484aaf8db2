"""Where jax will run, known before jax starts a backend: one small place for the platform questions the package asks
(the allocator setting, the cuDNN path)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil


def accelerator_plugin_installed() -> bool:
  """Whether jax will find a GPU or TPU backend to run on: a plugin (entry point or `jax_plugins` module), or libtpu."""
  if os.environ.get('JAX_PLATFORMS', '').strip().lower() == 'cpu':
    return False
  if importlib.metadata.entry_points(group='jax_plugins') or importlib.util.find_spec('libtpu'):
    return True
  namespace = importlib.util.find_spec('jax_plugins')
  return bool(namespace and any(pkgutil.iter_modules(namespace.submodule_search_locations)))
