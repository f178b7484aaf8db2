"""What the sampler obeys (`Plan`) and where it starts (`Start`): arrays over `S` samples and `T` steps, built by
`Composer` from a request's constraints (`generation.constraints`), or by `free_plan` for benchmarks and tests."""

from __future__ import annotations

import typing

import jax.numpy as jnp
import numpy as np

from biaxial_jax.generation import cadences


class Plan(typing.NamedTuple):
  """What the sampler must obey over `T` steps, for `S` samples (arrays; see `generation.constraints`).

  bar_position_T: each step's position in its bar.
  mask_SxTxNx2, values_SxTxNx2: cells whose (play, articulate) are given; values are False where not given.
  force_SxTxN: a note played there must be struck anew (keeps a fixed note's length exact).
  require_SxTxN: where a step marks notes, at least one of them must sound (a final chord's third).
  cadence_SxT: the chord a step must sound (`cadences`: a root-position triad, or one on a given root, perhaps
    reached by a bass leap; -1 none).
  beat_T: whether each step starts a beat (where a chord arrives, for the cadences' bass leaps).
  context_SxTxC: each step's key and phrase position (`music.structure`), for a model with phrase and key inputs.
  style_SxY: each sample's weight per style of the model (`model.styles`; Y = 0 for a model without styles).
  lookahead_T: after step t, score the span starting at this step by look-ahead (-1: no look-ahead then).
  drop_T: after step t, drop the look-ahead weight (its span's cells have been weighted).
  voices_SxTxN: for a model with voices, the voices given notes are sung by (a melody: the soprano), 0 elsewhere.
  closed_SxT: for a model with voices, the voices generated notes may not take at each step (a melody's soprano).
  steps: how many of the `T` steps are the piece's (traced; None: all). The steps after them only pad the plan to a
    shape that plans of other lengths share (`windows.sample`), so that a new length does not compile again: the
    sampler skips them, drawing nothing and leaving every particle as it was.
  """
  bar_position_T: jnp.ndarray
  mask_SxTxNx2: jnp.ndarray
  values_SxTxNx2: jnp.ndarray
  force_SxTxN: jnp.ndarray
  require_SxTxN: jnp.ndarray
  cadence_SxT: jnp.ndarray
  context_SxTxC: jnp.ndarray
  style_SxY: jnp.ndarray
  lookahead_T: jnp.ndarray
  drop_T: jnp.ndarray
  beat_T: jnp.ndarray
  voices_SxTxN: jnp.ndarray
  closed_SxT: jnp.ndarray
  steps: jnp.ndarray | None = None


class Start(typing.NamedTuple):
  """What the sampler carries into the first step of a plan that begins after given music (`windows.replay`), per
  sample: the time axis's states (per layer, `[S * N, H]` each), the last step's notes `[S, N, 2]` and voices
  `[S, N]`, the notes of the last beat and the bass their chord arrived from (`cadences.arrival`), and the adaptive
  conservativity `[S]`. Not for a model with dynamics (their velocities are drawn, never given)."""
  time_states: list
  notes_SxNx2: jnp.ndarray
  voices_SxN: jnp.ndarray
  beat_play_SxN: jnp.ndarray
  arrival_S: jnp.ndarray
  conservativity_S: jnp.ndarray


def free_plan(num_samples: int, num_steps: int, num_notes: int, *, mask_SxTxNx2=None, values_SxTxNx2=None,
              style_SxY=None, context_channels: int = 3) -> Plan:
  """A plan of 4/4 bars of 16 steps (beats of 4) whose only constraints are the cells `mask_SxTxNx2` fixes to
  `values_SxTxNx2` (default none): no re-strikes, requirements, cadences, look-ahead, key or phrases, and no style
  unless `style_SxY` is given. What the benchmark and tests sample with; `Composer` builds the full plans."""
  s, t, n = num_samples, num_steps, num_notes
  cells = np.zeros((s, t, n, 2), bool)
  return Plan(jnp.arange(t) % 16, cells if mask_SxTxNx2 is None else mask_SxTxNx2,
              cells if values_SxTxNx2 is None else values_SxTxNx2, np.zeros((s, t, n), bool),
              np.zeros((s, t, n), bool), np.full((s, t), cadences.NONE, np.int32),
              np.full((s, t, context_channels), -1, np.int32),
              np.zeros((s, 0), np.float32) if style_SxY is None else style_SxY, np.full(t, -1, np.int32),
              np.zeros(t, bool), jnp.arange(t) % 4 == 0, np.zeros((s, t, n), np.uint8), np.zeros((s, t), np.int32))
