"""Music out of a checkpoint: `load_checkpoint(path).generate(Request(...), Controls(...))`, free or under
constraints (`sample`, `harmonize` and `continue_from` for the common cases).

Everything is validated before the compiled sampler (`sampler.sample`) runs: the request and controls on their own
(`request`), what needs the model here; errors are `GenerationError`s whose `field` names the field.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
import warnings

import jax
import numpy as np

from biaxial_jax import checkpoint, pretrained
from biaxial_jax.config import Config
from biaxial_jax.generation import cadences as cadences_lib
from biaxial_jax.generation import constraints as constraints_lib
from biaxial_jax.generation import form as form_lib
from biaxial_jax.generation import outline
from biaxial_jax.generation import plans, redraws, sampler
from biaxial_jax.generation import styles as styles_lib
from biaxial_jax.generation import voice_leading as voice_leading_lib
from biaxial_jax.generation import windows
from biaxial_jax.errors import GenerationError
from biaxial_jax.generation.constraints import Constraints, Prepared
from biaxial_jax.generation.request import Controls, Request
from biaxial_jax.music.melodies import top_voice
from biaxial_jax.music import abc, inputs, scores, structure
from biaxial_jax.analysis.harmony import beat_onsets
from biaxial_jax.music.piece import PLAY, BiaxialError, Grid, Key, Piece, ReadNote

DEFAULT_PARTICLES = 32  # per sample, wherever constraints weigh the particles (or best-of / beam search asks)
# Look-ahead steps for fixed notes (an infilling, a studio region): two bars drawn again under a melody joined the
# music after them as well with 8 as with 16 (BUILD_NOTES.md, "The studio"), in three quarters of the time.
FIXED_LOOKAHEAD_STEPS = 8
# steps x samples x particles x notes: the sampler holds about 12 bytes a cell at its peak (4,096 particles x 6,000
# steps x 78 notes took 24 GB), so the bound keeps a request within about 3 GB of memory.
MAX_CELLS = 2**28


@dataclasses.dataclass(frozen=True)
class Generation:
  """Sampled pieces and, per piece, what the sampler knows of it.

  log_likelihood: the model's log-probability of the piece (nats; temperature 1, scored as in training).
  log_weight: the chosen particle's log-weight (the sampling process's log-probability of the given cells).
  log_evidence: the sampler's estimate of log P(given cells) under the sampling process, over all particles.
  ess: `[samples, steps]` effective number of particles after each step (K where nothing weighs them).
    For a piece drawn in parts (a `form`'s repeats, a phrase drawn again: `Controls.redraws`), these three are the
    last part's, whose given cells include the music around it.
  particles: particles per sample (K).
  unmet: per piece, the requirements no particle met, even where their phrase was drawn again (`Unmet`: an
    ending's third, a phrase's closing chord, four voices), in order of their steps; normally empty.
  keys: per piece, the key the model was told (meaningful for a model with phrase and key inputs).
  given: `bool[steps, notes]`, the notes that were given (melody, primer, motif, fragments, fixed notes).
  changes: what reading the given material changed, in words (silence dropped, a meter or pickup applied).
  style: the style weights the model was told (`generation.styles`; empty for a model without styles).
  """
  pieces: list[Piece]
  log_likelihood: np.ndarray
  log_weight: np.ndarray
  log_evidence: np.ndarray
  ess: np.ndarray
  particles: int
  unmet: list[list[Unmet]]
  keys: list[Key]
  given: np.ndarray
  changes: tuple[str, ...] = ()
  style: dict[str, float] = dataclasses.field(default_factory=dict)


class Unmet(typing.NamedTuple):
  """A requirement no particle met: its step, where that is ('bar 8 beat 2') and what it asked."""
  step: int
  where: str
  requirement: str

  def __str__(self):
    return f'{self.where}: {self.requirement}'


def _unmet(c: Constraints, piece: Piece, close: np.ndarray, lowest: int, beat_T: np.ndarray,
           voiced: bool) -> list[Unmet]:
  """The requirements of `c` and of the cadence targets `close` that `piece` misses, in order."""
  found = [(t, 'the first chord (every voice)' if t == 0 and voiced else "the final chord's third")
           for t in c.unmet(piece.roll)]
  closes = [t for t in np.flatnonzero(close != cadences_lib.NONE) if not close[t] & (cadences_lib.APPROACH |
                                                                                          cadences_lib.PREPARE)]
  for t in cadences_lib.unmet(piece.roll, close, lowest, beat_T):
    if t not in closes:
      found.append((t, 'the approach to a cadence (a bass a fourth or fifth from its close)'))
    elif t == closes[-1] and c.key is not None:
      found.append((t, f'the final chord (the tonic of {c.key} in root position{_leap(close[t])})'))
    else:
      found.append((t, f'the close of phrase {closes.index(t) + 1} (a root-position triad{_leap(close[t])})'))
  if voiced:
    found += [(t, 'four voices') for t in voice_leading_lib.missing(piece.voices, c.closed)]
  return [Unmet(int(t), outline.bar_and_beat(int(t), c.time_signatures, c.steps_per_quarter), what)
          for t, what in sorted(set(found))]


def _leap(target: int) -> str:
  required = target & cadences_lib.LEAP and not target & cadences_lib.SOFT
  return ', reached by a bass leap of a fourth or fifth' if required else ''


@dataclasses.dataclass(frozen=True)
class Composer:
  """A trained model ready to sample: its config (with the representation), parameters and training step."""
  config: Config
  params: dict
  step: int
  source: str = ''

  @property
  def grid(self) -> Grid:
    return self.config.data.grid

  @property
  def lowest(self) -> int:
    return self.config.data.lowest

  @property
  def num_notes(self) -> int:
    return self.config.data.num_notes

  @property
  def steps_per_quarter(self) -> int:
    return self.config.data.steps_per_quarter

  def _piece(self, field: str, given, out_of_range: str, tune=None) -> Piece:
    """A primer, melody, motif or fragment as a `Piece` in this model's representation: a `Piece`, a music21
    stream, or a MIDI or score file (MusicXML, ABC, Humdrum: `music.scores.read_piece`)."""
    if isinstance(given, Piece):
      if Grid.of(given) != self.grid:
        raise GenerationError(field, f'a piece of {Grid.of(given)}; this model uses {self.grid}')
      return given
    try:
      if isinstance(given, (str, os.PathLike)):
        return scores.read_piece(given, grid=self.grid, out_of_range=out_of_range, tune=tune)
      if type(given).__module__.startswith('music21.'):
        return scores.stream_to_piece(given, grid=self.grid, out_of_range=out_of_range)
    except abc.TuneError as e:
      raise GenerationError('tune', str(e)) from None
    except BiaxialError as e:
      raise GenerationError(field, str(e)) from None
    raise GenerationError(field, f'expected a Piece, a music21 stream or a MIDI or score file path, got '
                          f'{type(given).__name__}')

  def _fixed(self, fixed) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """User-given fixed notes as `[T, N, 2]` mask and values (a `[T, N]` mask fixes play and articulate together),
    and for a model with voices optionally `[T, N]` voice bits of the fixed notes (soprano 1 .. bass 8)."""
    try:
      mask, values, *rest = fixed
      mask, values = np.asarray(mask), np.asarray(values)
    except (TypeError, ValueError):
      raise GenerationError('fixed', 'expected (mask, values) or (mask, values, voices) arrays') from None
    if len(rest) > 1:
      raise GenerationError('fixed', 'expected (mask, values) or (mask, values, voices) arrays')
    voices = np.asarray(rest[0]) if rest and rest[0] is not None else None
    if voices is not None and (voices.shape != mask.shape[:2] or not np.isin(voices, np.arange(16)).all()):
      raise GenerationError('fixed', f'voices must be [T, {self.num_notes}] voice bits in 0..15, got '
                            f'{voices.shape}')
    if mask.ndim == 2:
      mask = np.repeat(mask[..., None], 2, axis=-1)
    if mask.ndim != 3 or mask.shape[1:] != (self.num_notes, 2) or values.shape != mask.shape:
      raise GenerationError('fixed', f'mask and values must both be [T, {self.num_notes}, 2] (or a [T, '
                            f'{self.num_notes}] mask), got {mask.shape} and {values.shape}')
    if not (np.isin(mask, (0, 1)).all() and np.isin(values, (0, 1)).all()):
      raise GenerationError('fixed', 'mask and values must hold 0/1 or booleans')
    return mask.astype(bool), values.astype(bool), None if voices is None else voices.astype(np.uint8)

  def _given(self, field: str, given, what: str, out_of_range: str, *, meter_source: bool = False, meter=None,
             pickup=None, tune=None, changes: list[str]) -> Piece:
    """A given piece (`_piece`; of a tunebook, the `tune` where it sets the meter) cut to its notes, with the asked
    meter and pickup where it sets the meter (`inputs.prepare`); what was changed goes to `changes`, with what
    reading it warned of (notes folded into range, grace notes with no room)."""
    with warnings.catch_warnings(record=True) as warned:
      warnings.simplefilter('always', ReadNote)
      piece = self._piece(field, given, out_of_range, tune if meter_source else None)
    for w in warned:
      if issubclass(w.category, ReadNote):
        changes.append(f'{what}: {w.message}')
      else:  # another library's warning, shown as it would have been
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    try:
      piece, changed = inputs.prepare(piece, what, trim_start=meter_source, meter=meter if meter_source else None,
                                      pickup=pickup if meter_source else None)
    except GenerationError as e:
      raise GenerationError(e.field, f'{e.message} ({what})') from None
    changes.extend(changed)
    return piece

  def constraints(self, request: Request = Request()) -> Constraints:
    """What `generate` will obey for `request`, as masks."""
    meter = None
    if request.time_signature is not None:
      meter = inputs.parse_meter(request.time_signature, self.steps_per_quarter)
    pickup = request.pickup
    data = self.config.data
    ending = request.ending
    if isinstance(ending, str) and not os.path.exists(ending):
      ending = constraints_lib.parse_key(ending)
    changes = []
    given = functools.partial(self._given, meter=meter, pickup=pickup, tune=request.tune, changes=changes)
    if ending is not None and not isinstance(ending, Key):
      ending = given('ending', ending, 'the ending', data.out_of_range)
    prepared = Prepared(
        num_steps=request.num_steps, num_bars=request.num_bars,
        primer=None if request.primer is None else given('primer', request.primer, 'the primer', data.out_of_range,
                                                         meter_source=True),
        melody=None if request.melody is None else top_voice(given('melody', request.melody, 'the melody', 'error',
                                                                   meter_source=True)),
        motif=None if request.motif is None else given('motif', request.motif, 'the motif', 'error'),
        motif_at=request.motif_at,
        bridge_to=None if request.bridge_to is None else given('bridge_to', request.bridge_to, 'the fragment',
                                                               data.out_of_range),
        bridge_bars=request.bridge_bars, ending=ending,
        fixed=None if request.fixed is None else self._fixed(request.fixed),
        forbid_above_melody=not request.allow_above_melody, time_signature=meter or (4, 4), tempo=request.tempo,
        key=request.key, phrases=request.phrases, changes=tuple(changes),
        final_chord=self.config.model.structure if request.cadences is None else request.cadences)
    return constraints_lib.assemble(prepared, self.lowest, self.num_notes, self.steps_per_quarter)

  def generate(self, request: Request = Request(), controls: Controls = Controls()) -> Generation:
    """Generates `controls.num_samples` independent pieces of `request` (free, or under constraints, which
    combine), with what the sampler knows of each (`Generation`). Errors are `GenerationError`s naming the field.

    Given material (primer, melody, motif, fragment, ending) ends with its last note: silence after it is dropped
    (`Generation.changes` says so). A model with dynamics gives the pieces velocities where the style has weight on
    a style whose data had them (`model.dynamics_styles`); the others are left without (`Piece.velocity` None).
    """
    if not isinstance(request, Request):
      raise GenerationError('request', f'expected a Request, got {type(request).__name__}')
    if not isinstance(controls, Controls):
      raise GenerationError('controls', f'expected Controls, got {type(controls).__name__}')
    seed, num_samples, search = controls.seed, controls.num_samples, controls.search
    max_notes, cadences, form = request.max_notes, request.cadences, request.form
    if max_notes is not None and max_notes > self.num_notes:
      raise GenerationError('max_notes', f'must be in [1, {self.num_notes}], got {max_notes!r}')
    known = self.config.model.styles
    style = request.style
    style = {} if style is None and not known else styles_lib.parse(known[0] if style is None else style, known)
    leading = voice_leading_lib.parse(request.voice_leading)
    c = self.constraints(request)
    voiced = self.config.model.voices
    if voiced and not c.mask[0].any():  # a chorale begins with its first chord, not with a bar of rest
      c = dataclasses.replace(c, require=np.concatenate([np.ones_like(c.require[:1]), c.require[1:]]))
    if cadences is None:
      cadences = self.config.model.structure
    spans = list(zip((0,) + c.phrase_ends[:-1], c.phrase_ends))
    repeats = [] if form is None else form_lib.parse(form, spans, c.bar_position)
    particles = controls.particles
    if particles is None:
      weighs_voices = voiced and any(getattr(leading, name) for name in voice_leading_lib.CONDITIONS)
      particles = (DEFAULT_PARTICLES if c.weighs or weighs_voices or search != 'sample' or repeats or max_notes or
                   cadences else 1)
    cells = c.num_steps * num_samples * particles * self.num_notes
    if cells > MAX_CELLS:  # named as the particles where they were asked for, else as the samples
      raise GenerationError('num_samples' if controls.particles is None else 'particles',
                            f'{c.num_steps} steps x {num_samples} samples x {particles} particles x '
                            f'{self.num_notes} notes is {cells:,} cells, over the limit of {MAX_CELLS:,}: ask for '
                            'fewer samples, particles or steps')
    search_settings = sampler.Search(particles=int(particles), mode=search,
                                     proposals=controls.proposals if particles > 1 else 1,
                                     lookahead_steps=sampler.Search.lookahead_steps if repeats else
                                     c.lookahead_steps(FIXED_LOOKAHEAD_STEPS if request.fixed is not None else
                                                       sampler.Search.lookahead_steps))
    lookahead, drop = c.lookahead_schedule(search_settings.lookahead_steps)

    def batched(x):
      return np.broadcast_to(x, (num_samples, *x.shape))

    keys = [c.key] * num_samples
    if c.key is None:
      rng = np.random.default_rng([int(seed), 0x6b6579])  # 'key': its own stream of the seed
      keys = [Key(int(t), bool(m)) for t, m in zip(rng.integers(12, size=num_samples), rng.random(num_samples) < .5)]
    contexts = np.stack([structure.context(c.num_steps, k, c.phrase_ends) for k in keys])
    # Which phrases close by a leap of the bass, at Bach's rates; under a melody, which already fixes the top of every
    # close, a leap is preferred, not required: asking the bass too leaves the particles too little room
    # (docs/design.md, "Cadences that cadence").
    leap_rng = np.random.default_rng([int(seed), 0x636164])  # 'cad'
    closes = np.stack([cadences_lib.targets(c.phrase_ends, c.bar_position, c.time_signatures, c.steps_per_quarter,
                                            c.mask, c.values, self.lowest, k,
                                            cadences_lib.draw_leaps(len(c.phrase_ends), leap_rng),
                                            soft=request.melody is not None) if cadences else
                       np.full(c.num_steps, cadences_lib.NONE, np.int32) for k in keys])
    beat_T = np.zeros(c.num_steps, bool)
    beat_T[beat_onsets(c.bar_position, c.time_signatures, c.steps_per_quarter)] = True
    # host arrays: the compiled sampler takes them as they are (no eager op to compile for each)
    plan = plans.Plan(np.asarray(c.bar_position), batched(c.mask), batched(c.values), batched(c.force_articulate),
                      batched(c.require), closes, contexts, batched(styles_lib.weights_of(style, known)), lookahead,
                      drop, beat_T, batched(c.voices), batched(c.closed))
    sampler_controls = sampler.Controls(np.float32(controls.temperature), np.float32(controls.conservativity),
                                        np.float32(controls.adaptive),
                                        np.int32(sampler.NO_LIMIT if max_notes is None else max_notes), leading)

    def run(plan, round_index, search=search_settings):
      key = jax.random.key(int(seed))
      return windows.sample(self.params, jax.random.fold_in(key, round_index) if round_index else key, plan,
                            sampler_controls, config=self.config.model, lowest=self.lowest,
                            learned_articulation=not self.config.train.play_only, search=search)

    result = run(plan, 0)
    for round_index, (prefix, batch) in enumerate(form_lib.rounds(repeats, spans), start=1):
      rolls = np.asarray(result.rolls).astype(bool)
      mask, values = np.zeros_like(rolls), np.zeros_like(rolls)
      mask[:, :prefix], values[:, :prefix] = True, rolls[:, :prefix]
      for target, source in batch:
        start, end = spans[target]
        mask[:, start:end], values[:, start:end] = form_lib.copy_cells(rolls, spans[source], request.form_harmony)
      lookahead, drop = c.lookahead_schedule_with((spans[t][0] for t, _ in batch), search_settings.lookahead_steps)
      plan = plan._replace(mask_SxTxNx2=c.mask | mask, values_SxTxNx2=np.where(c.mask, c.values, values),
                           lookahead_T=lookahead, drop_T=drop)
      result = run(plan, round_index)
    dynamic = self.config.model.dynamics and styles_lib.plays_dynamics(style, self.config.model.dynamics_styles)

    def pieces_of(result):
      return [Piece(roll, lowest=self.lowest, steps_per_quarter=self.steps_per_quarter,
                    time_signatures=c.time_signatures, tempos=c.tempos, name=f'sample_{i}', key=k,
                    phrase_ends=c.phrase_ends, style=next(iter(style)) if len(style) == 1 else None,
                    velocity=velocity if dynamic else None, voices=voices if voiced else None)
              for i, (roll, k, velocity, voices) in enumerate(zip(np.asarray(result.rolls), keys,
                                                                  np.asarray(result.velocities),
                                                                  np.asarray(result.voices)))]

    def unmet_of(result):
      return [_unmet(c, piece, close, self.lowest, beat_T, voiced) for piece, close in zip(pieces_of(result), closes)]

    def redrawn(result, free_SxT, attempt):
      starts = {int(t) for t in np.flatnonzero(np.diff(free_SxT.any(axis=0).astype(int), append=0) < 0) + 1}
      schedule = c.lookahead_schedule_with(starts, FIXED_LOOKAHEAD_STEPS)
      return run(redraws.fixed_plan(plan, result, free_SxT, *schedule), len(repeats) + attempt,
                 dataclasses.replace(search_settings, lookahead_steps=c.lookahead_steps(FIXED_LOOKAHEAD_STEPS)))

    result, unmet = redraws.redraw(result, unmet_of, redrawn, spans, {i for pair in repeats for i in pair},
                                   controls.redraws)
    return Generation(pieces_of(result), np.asarray(result.log_likelihood), np.asarray(result.log_weight),
                      np.asarray(result.log_evidence), np.asarray(result.ess_SxT), int(particles), unmet, keys,
                      c.mask[..., PLAY] & c.values[..., PLAY], c.changes, style)

  def sample(self, num_bars: int | None = None, *, key=None, phrases=None, time_signature=None, style=None,
             ending=None, num_samples: int = 1, seed: int = 0, temperature: float = 1.0) -> list[Piece]:
    """Pieces composed from scratch: `generate` for the common case (fields as in `Request` and `Controls`)."""
    return self.generate(Request(num_bars=num_bars, key=key, phrases=phrases, time_signature=time_signature,
                                 style=style, ending=ending),
                         Controls(num_samples=num_samples, seed=seed, temperature=temperature)).pieces

  def harmonize(self, melody, *, key=None, phrases=None, ending=None, style=None, num_samples: int = 1,
                seed: int = 0, temperature: float = 1.0) -> list[Piece]:
    """Pieces harmonizing `melody` (a `Piece`, a music21 stream, or a MIDI or score file), which is kept exactly as
    their top voice: `generate` for the common case (fields as in `Request` and `Controls`)."""
    return self.generate(Request(melody=melody, key=key, phrases=phrases, ending=ending, style=style),
                         Controls(num_samples=num_samples, seed=seed, temperature=temperature)).pieces

  def continue_from(self, primer, num_bars: int | None = None, *, key=None, style=None, num_samples: int = 1,
                    seed: int = 0, temperature: float = 1.0) -> list[Piece]:
    """Pieces that continue `primer` (kept verbatim at their start) to `num_bars` bars: `generate` for the common
    case (fields as in `Request` and `Controls`)."""
    return self.generate(Request(primer=primer, num_bars=num_bars, key=key, style=style),
                         Controls(num_samples=num_samples, seed=seed, temperature=temperature)).pieces


def load_checkpoint(path: str | os.PathLike, best: bool = False) -> Composer:
  """A `Composer` from a training workdir (its newest readable checkpoint, or with `best` the one with the lowest
  valid NLL), an exported model folder, or the name of a model shipped in the package (`'bach'`); config and
  representation come with it. An export holds one model, so `best` changes nothing there."""
  path = os.fspath(path)
  if path in pretrained.SHIPPED and not os.path.exists(path):
    path = pretrained.SHIPPED[path]
  if pretrained.is_export(path):
    config, params, step, _ = pretrained.load_export(path)
  else:
    config, params, step = checkpoint.restore_params(path, best)
  return Composer(config, params, step, path)
