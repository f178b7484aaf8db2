"""Music out of a checkpoint: `load_checkpoint(path).sample(...)`, free or under constraints.

Everything is validated here, at the edge, before the compiled sampler (`sampler.sample`) runs; errors are
`GenerationError`s whose `field` names the argument.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np

from biaxial_jax import checkpoint, pretrained
from biaxial_jax.config import Config
from biaxial_jax.generation import cadences as cadences_lib
from biaxial_jax.generation import constraints as constraints_lib
from biaxial_jax.generation import form as form_lib
from biaxial_jax.generation import sampler
from biaxial_jax.generation import styles as styles_lib
from biaxial_jax.generation import voice_leading as voice_leading_lib
from biaxial_jax.generation.constraints import Constraints, GenerationError, Request
from biaxial_jax.music.melodies import top_voice
from biaxial_jax.music import inputs, scores, structure
from biaxial_jax.music.harmony import beat_onsets
from biaxial_jax.music.piece import PLAY, BiaxialError, Grid, Key, Piece

DEFAULT_PARTICLES = 32  # per sample, wherever constraints weigh the particles (or best-of / beam search asks)
MAX_SAMPLES = 4096
MAX_PARTICLES = 4096
MAX_SEED = 2**63 - 1
MAX_CELLS = 2**31  # steps x samples x particles x notes: the sampler's outputs stay within a few GB


@dataclasses.dataclass(frozen=True)
class Generation:
  """Sampled pieces and, per piece, what the sampler knows of it.

  log_likelihood: the model's log-probability of the piece (nats; temperature 1, scored as in training).
  log_weight: the chosen particle's log-weight (the sampling process's log-probability of the given cells).
  log_evidence: the sampler's estimate of log P(given cells) under the sampling process, over all particles.
  ess: `[samples, steps]` effective number of particles after each step (K where nothing weighs them).
  particles: particles per sample (K).
  unmet: per piece, the steps where no particle met a requirement (an ending's third, a phrase's closing chord, four
    voices);
    normally empty.
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
  unmet: list[list[int]]
  keys: list[Key]
  given: np.ndarray
  changes: tuple[str, ...] = ()
  style: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Composer:
  """A trained model ready to sample: its config (with the representation), parameters and training step."""
  config: Config
  params: dict
  step: int
  source: str = ''

  @property
  def grid(self) -> Grid:
    data = self.config.data
    return Grid(data.lowest, data.num_notes, data.steps_per_quarter)

  @property
  def lowest(self) -> int:
    return self.config.data.lowest

  @property
  def num_notes(self) -> int:
    return self.config.data.num_notes

  @property
  def steps_per_quarter(self) -> int:
    return self.config.data.steps_per_quarter

  def _piece(self, field: str, given, out_of_range: str) -> Piece:
    """A primer, melody, motif or fragment as a `Piece` in this model's representation: a `Piece`, a music21
    stream, or a MIDI or score file (MusicXML, ABC, Humdrum: `music.scores.read_piece`)."""
    if isinstance(given, Piece):
      if Grid.of(given) != self.grid:
        raise GenerationError(field, f'a piece of {Grid.of(given)}; this model uses {self.grid}')
      return given
    grid = self.grid._asdict()
    try:
      if isinstance(given, (str, os.PathLike)):
        return scores.read_piece(given, out_of_range=out_of_range, **grid)
      if type(given).__module__.startswith('music21.'):
        return scores.stream_to_piece(given, out_of_range=out_of_range, **grid)
    except BiaxialError as e:
      raise GenerationError(field, str(e)) from None
    raise GenerationError(field, f'expected a Piece, a music21 stream or a MIDI or score file path, got '
                          f'{type(given).__name__}')

  def _fixed(self, fixed) -> tuple[np.ndarray, np.ndarray]:
    """User-given fixed notes as `[T, N, 2]` mask and values; a `[T, N]` mask fixes play and articulate together."""
    try:
      mask, values = (np.asarray(a) for a in fixed)
    except (TypeError, ValueError):
      raise GenerationError('fixed', 'expected a pair (mask, values) of arrays') from None
    if mask.ndim == 2:
      mask = np.repeat(mask[..., None], 2, axis=-1)
    if mask.ndim != 3 or mask.shape[1:] != (self.num_notes, 2) or values.shape != mask.shape:
      raise GenerationError('fixed', f'mask and values must both be [T, {self.num_notes}, 2] (or a [T, '
                            f'{self.num_notes}] mask), got {mask.shape} and {values.shape}')
    if not (np.isin(mask, (0, 1)).all() and np.isin(values, (0, 1)).all()):
      raise GenerationError('fixed', 'mask and values must hold 0/1 or booleans')
    return mask.astype(bool), values.astype(bool)

  @staticmethod
  def _motif_at(motif_at) -> tuple[tuple[int, int], ...]:
    """Bars (from 1) as ints, or (bar, semitones) pairs."""
    out = []
    for item in motif_at:
      bar, transpose = item if isinstance(item, (tuple, list)) and len(item) == 2 else (item, 0)
      if not (isinstance(bar, numbers.Integral) and bar >= 1 and isinstance(transpose, numbers.Integral)):
        raise GenerationError('motif_at', f'expected bars from 1, or (bar, semitones) pairs, got {item!r}')
      out.append((int(bar), int(transpose)))
    return tuple(out)

  def _given(self, field: str, given, what: str, out_of_range: str, *, meter_source: bool = False, meter=None,
             pickup=None, changes: list[str]) -> Piece:
    """A given piece (`_piece`) cut to its notes, with the asked meter and pickup where it sets the meter
    (`inputs.prepare`); what was changed goes to `changes`."""
    piece = self._piece(field, given, out_of_range)
    try:
      piece, changed = inputs.prepare(piece, what, trim_start=meter_source, meter=meter if meter_source else None,
                                      pickup=pickup if meter_source else None)
    except inputs.MeterError as e:
      raise GenerationError(e.field, f'{e.message} ({what})') from None
    changes.extend(changed)
    return piece

  def constraints(self, num_steps: int | None = None, *, num_bars: int | None = None, primer=None, melody=None,
                  fixed=None, motif=None, motif_at=(), bridge_to=None, bridge_bars: int = 4, ending=None,
                  forbid_above_melody: bool = True, time_signature=None, pickup=None, tempo: float | None = None,
                  key=None, phrases=None) -> Constraints:
    """What `sample` will obey, as masks (see `sample` for the arguments)."""
    for name, value in (('num_steps', num_steps), ('num_bars', num_bars)):
      if value is not None and not (isinstance(value, numbers.Integral) and 1 <= value <= constraints_lib.MAX_STEPS):
        raise GenerationError(name, f'must be in [1, {constraints_lib.MAX_STEPS}], got {value!r}')
    if num_steps is not None and num_bars is not None:
      raise GenerationError('num_bars', 'give num_steps or num_bars, not both')
    meter = None
    if time_signature is not None:
      try:
        meter = inputs.parse_meter(time_signature, self.steps_per_quarter)
      except inputs.MeterError as e:
        raise GenerationError(e.field, e.message) from None
    if pickup is not None:
      try:
        pickup = Fraction(str(pickup)) if isinstance(pickup, float) else Fraction(pickup)
      except (TypeError, ValueError):
        raise GenerationError('pickup', f'expected a number of quarter notes, got {pickup!r}') from None
      if primer is None and melody is None:
        raise GenerationError('pickup', 'a pickup applies to a primer or melody; there is none')
    if tempo is not None and not (isinstance(tempo, (int, float)) and 0 < tempo <= 1000):
      raise GenerationError('tempo', f'must be in (0, 1000] quarter notes per minute, got {tempo}')
    if (motif is None) != (not motif_at):
      raise GenerationError('motif_at' if motif is not None else 'motif', 'a motif needs the bars where it recurs '
                            '(motif_at), and motif_at needs a motif')
    if not (isinstance(bridge_bars, numbers.Integral) and 0 <= bridge_bars <= 1000):
      raise GenerationError('bridge_bars', f'must be an integer in [0, 1000], got {bridge_bars!r}')
    data = self.config.data
    if isinstance(ending, str) and not os.path.exists(ending):
      ending = constraints_lib.parse_key(ending)
    changes = []
    given = functools.partial(self._given, meter=meter, pickup=pickup, changes=changes)
    if ending is not None and not isinstance(ending, Key):
      ending = given('ending', ending, 'the ending', data.out_of_range)
    request = Request(
        num_steps=None if num_steps is None else int(num_steps),
        num_bars=None if num_bars is None else int(num_bars),
        primer=None if primer is None else given('primer', primer, 'the primer', data.out_of_range,
                                                 meter_source=True),
        melody=None if melody is None else top_voice(given('melody', melody, 'the melody', 'error',
                                                           meter_source=True)),
        motif=None if motif is None else given('motif', motif, 'the motif', 'error'),
        motif_at=self._motif_at(motif_at),
        bridge_to=None if bridge_to is None else given('bridge_to', bridge_to, 'the fragment', data.out_of_range),
        bridge_bars=int(bridge_bars), ending=ending, fixed=None if fixed is None else self._fixed(fixed),
        forbid_above_melody=bool(forbid_above_melody), time_signature=meter or (4, 4), tempo=tempo,
        key=self._key(key), phrases=None if phrases is None else tuple(phrases), changes=tuple(changes))
    return constraints_lib.assemble(request, self.lowest, self.num_notes, self.steps_per_quarter)

  @staticmethod
  def _key(key) -> Key | None:
    if key is None or isinstance(key, Key):
      return key
    try:
      return Key.parse(key)
    except ValueError as e:
      raise GenerationError('key', str(e)) from None

  def generate(self, num_steps: int | None = None, *, num_samples: int = 1, seed: int = 0, temperature: float = 1.0,
               conservativity: float = 1.0, adaptive: bool = False, particles: int | None = None,
               search: str = 'sample', primer=None, melody=None, motif=None, motif_at=(), bridge_to=None,
               bridge_bars: int = 4, ending=None, fixed=None, forbid_above_melody: bool = True, num_bars=None,
               time_signature=None, pickup=None, tempo: float | None = None, key=None,
               phrases=None, form: str | None = None, form_harmony: bool = False,
               max_notes: int | None = None, cadences: bool | None = None, style=None,
               voice_leading=None) -> Generation:
    """Generates `num_samples` independent pieces, free or under constraints (which combine), with what the sampler
    knows of each (`Generation`); `sample` returns the pieces alone.

    Args:
      num_steps: length in grid steps (default 256 = 16 bars of 4/4; with a melody, its length; bridging sets it).
      num_bars: length in bars of the meter in force (the primer's or melody's, else `time_signature`'s), counted
        from the first downbeat (a pickup comes before bar 1); instead of num_steps.
      num_samples: pieces sampled together, in one call.
      seed: the same seed and arguments give the same pieces on the same machine.
      temperature: divides the logits (> 0): below 1 safer, above 1 wilder.
      conservativity: exponent on P(play) (> 0; the original's): above 1 fewer notes.
      adaptive: the original's anti-silence mode (lowers the exponent while fewer than 2 notes sound).
      particles: sequential Monte Carlo particles per piece (default 32 where constraints beyond a primer weigh
        them or `search` is not 'sample', else 1; 1 is the plain masked sampler).
      search: 'sample' (a draw from the model given the constraints), 'best' (the most likely of the particles:
        best-of-N), 'beam' (bar-wise beam search by likelihood).
      primer: a `Piece`, a music21 stream or a MIDI or score path, kept verbatim at the start; the model continues
        it. Given material (primer, melody, motif, fragment, ending) ends with its last note: silence after it is
        dropped (`Generation.changes` says so); a primer or melody also starts at its first note (bar lines kept).
      melody: the same kinds; its top voice is kept exactly (pitch, onset, length, repeats) and voices are generated
        under it, knowing the melody note they sound against.
      motif: a `Piece` or MIDI path (a melody or a few voices) that recurs exactly at `motif_at`.
      motif_at: bars (from 1) where the motif's first downbeat falls, or `(bar, semitones)` pairs to transpose it.
      bridge_to: a fragment (`Piece` or path) that the piece reaches `bridge_bars` bars after the primer's last bar
        (a smooth transition between two fragments: the primer, generated bars, this fragment).
      bridge_bars: bars generated between the primer and `bridge_to`.
      ending: a key ('D minor': the tonic in the bass and only tonic-triad notes above it, held for the last half
        bar) or a final passage (`Piece` or path) that the piece ends with, reached by look-ahead.
      fixed: `(mask, values)`, `[T, N, 2]` arrays (T <= num_steps; a `[T, N]` mask fixes both bits): the sampler
        obeys `values` wherever `mask` is set, and fills the rest (infilling).
      forbid_above_melody: nothing generated above the melody (or motif) while it sounds.
      time_signature: (numerator, denominator) or '3/4': the meter of a free piece (default 4/4), or replacing the
        primer's or melody's (a MIDI file without one reads as 4/4); a pickup the file spells is kept.
      pickup: quarter notes (1, 0.5, '3/2') before the primer's or melody's first downbeat, replacing the file's
        own (a pickup written as a full first bar, as music21's MIDI files spell it); 0 removes one.
      tempo: quarter notes per minute for the output (default: the primer's or melody's, else 100).
      key: a `Key` or 'D minor' that a model with phrase and key inputs is told (default: the primer's or
        melody's key, else one drawn per sample: tonic uniform, major or minor alike).
      phrases: phrase lengths in bars from bar 1 (`[2, 2, 2, 2]`) for a model with phrase inputs; without num_steps
        the piece ends with its last phrase (default: the melody's fermatas, else phrases of 2 bars of 4/4).
      form: one capital letter per phrase ('AABC'): a repeated letter repeats that phrase's melody (its top voice),
        sampled in rounds (`generation.form`); given constraints win where they cover the same cells.
      form_harmony: a repeat repeats every voice, not only the melody.
      max_notes: at most this many notes sound at once, given ones included (4: a four-voice texture); sampled as a
        condition on the model (`sampler.Controls`), with particles (default 32) to weigh it.
      cadences: each phrase ends on a root-position major or minor triad on a degree of the key the model is told,
        the last on its tonic, most of them reached by a bass fourth or fifth (drawn per phrase at Bach's rates;
        not under a melody; `generation.cadences`), sampled as a condition with particles (default 32). Default:
        on for a model with phrase and key inputs (it is told where its phrases end), off otherwise.
      style: for a model with styles, 'chorale', a mixture 'chorale:0.7,classical:0.3' or a mapping of weights
        (`generation.styles`); default: the model's first style. A model with dynamics gives the pieces
        velocities where the style has weight on a style whose data had them (`model.dynamics_styles`); the
        others are left without (`Piece.velocity` None: written flat).
      voice_leading: for a model with voices, which voice-leading conditions the particles weigh
        (`generation.voice_leading`): 'all' (the default), 'none', names among 'fifths', 'octaves', 'crossing',
        'spacing', 'range', 'clash' (a comma-separated string or a list), or a `VoiceLeading` of weights. A model with voices always
        sings in four voices, each in its range, the melody as the soprano.
    """
    for name, value in (('temperature', temperature), ('conservativity', conservativity)):
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise GenerationError(name, f'must be a finite number > 0, got {value!r}')
    if not (isinstance(num_samples, numbers.Integral) and 1 <= num_samples <= MAX_SAMPLES):
      raise GenerationError('num_samples', f'must be in [1, {MAX_SAMPLES}], got {num_samples!r}')
    if not (isinstance(seed, numbers.Integral) and 0 <= seed <= MAX_SEED):
      raise GenerationError('seed', f'must be an integer in [0, 2^63), got {seed!r}')
    if search not in sampler.MODES:
      raise GenerationError('search', f'must be one of {", ".join(sampler.MODES)}, got {search!r}')
    if particles is not None and not (isinstance(particles, numbers.Integral) and 1 <= particles <= MAX_PARTICLES):
      raise GenerationError('particles', f'must be in [1, {MAX_PARTICLES}], got {particles!r}')
    if max_notes is not None and not (isinstance(max_notes, numbers.Integral) and 1 <= max_notes <= self.num_notes):
      raise GenerationError('max_notes', f'must be in [1, {self.num_notes}], got {max_notes!r}')
    known = self.config.model.styles
    style = {} if style is None and not known else styles_lib.parse(known[0] if style is None else style, known)
    leading = voice_leading_lib.parse(voice_leading)
    c = self.constraints(num_steps, primer=primer, melody=melody, motif=motif, motif_at=motif_at,
                         bridge_to=bridge_to, bridge_bars=bridge_bars, ending=ending, fixed=fixed,
                         forbid_above_melody=forbid_above_melody, num_bars=num_bars, time_signature=time_signature,
                         pickup=pickup, tempo=tempo, key=key, phrases=phrases)
    voiced = self.config.model.voices
    if voiced and not c.mask[0].any():  # a chorale begins with its first chord, not with a bar of rest
      c = dataclasses.replace(c, require=np.concatenate([np.ones_like(c.require[:1]), c.require[1:]]))
    if cadences is None:
      cadences = self.config.model.structure
    spans = list(zip((0,) + c.phrase_ends[:-1], c.phrase_ends))
    repeats = [] if form is None else form_lib.parse(form, spans, c.bar_position)
    if particles is None:
      weighs_voices = voiced and any(getattr(leading, name) for name in voice_leading_lib.CONDITIONS)
      particles = (DEFAULT_PARTICLES if c.weighs or weighs_voices or search != 'sample' or repeats or max_notes or
                   cadences else 1)
    cells = c.num_steps * num_samples * particles * self.num_notes
    if cells > MAX_CELLS:
      raise GenerationError('num_samples', f'{c.num_steps} steps x {num_samples} samples x {particles} particles x '
                            f'{self.num_notes} notes is {cells:,} cells, over the limit of {MAX_CELLS:,}: ask for '
                            'fewer samples, particles or steps')
    search_settings = sampler.Search(particles=int(particles), mode=search)
    lookahead, drop = c.lookahead_schedule(search_settings.lookahead_steps)

    def batched(x):
      return jnp.broadcast_to(x, (num_samples, *x.shape))

    keys = [c.key] * num_samples
    if c.key is None:
      rng = np.random.default_rng([int(seed), 0x6b6579])  # 'key': its own stream of the seed
      keys = [Key(int(t), bool(m)) for t, m in zip(rng.integers(12, size=num_samples), rng.random(num_samples) < .5)]
    contexts = np.stack([structure.context(c.num_steps, k, c.phrase_ends) for k in keys])
    # Which phrases close by a leap of the bass, at Bach's rates; not under a melody, which already fixes the top of
    # every close: asking the bass too leaves the particles too little room (BUILD_NOTES.md, "Cadences that cadence").
    leap_rng = np.random.default_rng([int(seed), 0x636164])  # 'cad'
    closes = np.stack([cadences_lib.targets(c.phrase_ends, c.bar_position, c.time_signatures, c.steps_per_quarter,
                                            c.mask, c.values, self.lowest, k,
                                            () if melody is not None else
                                            cadences_lib.draw_leaps(len(c.phrase_ends), leap_rng)) if cadences else
                       np.full(c.num_steps, cadences_lib.NONE, np.int32) for k in keys])
    beat_T = np.zeros(c.num_steps, bool)
    beat_T[beat_onsets(c.bar_position, c.time_signatures, c.steps_per_quarter)] = True
    plan = sampler.Plan(jnp.asarray(c.bar_position), batched(c.mask), batched(c.values),
                        batched(c.force_articulate), batched(c.require), jnp.asarray(closes), jnp.asarray(contexts),
                        batched(styles_lib.weights_of(style, known)), jnp.asarray(lookahead), jnp.asarray(drop),
                        jnp.asarray(beat_T), batched(c.voices), batched(c.closed))
    controls = sampler.Controls(jnp.float32(temperature), jnp.float32(conservativity), jnp.float32(adaptive),
                                jnp.int32(sampler.NO_LIMIT if max_notes is None else max_notes), leading)

    def run(plan, round_index):
      key = jax.random.key(int(seed))
      return jax.device_get(sampler.sample(self.params, jax.random.fold_in(key, round_index) if round_index else key,
                                           plan, controls, config=self.config.model, lowest=self.lowest,
                                           learned_articulation=not self.config.train.play_only,
                                           search=search_settings))

    result = run(plan, 0)
    for round_index, (prefix, batch) in enumerate(form_lib.rounds(repeats, spans), start=1):
      rolls = np.asarray(result.rolls).astype(bool)
      mask, values = np.zeros_like(rolls), np.zeros_like(rolls)
      mask[:, :prefix], values[:, :prefix] = True, rolls[:, :prefix]
      for target, source in batch:
        start, end = spans[target]
        mask[:, start:end], values[:, start:end] = form_lib.copy_cells(rolls, spans[source], form_harmony)
      lookahead, drop = dataclasses.replace(c, spans=tuple(sorted({*c.spans, *(spans[t][0] for t, _ in batch)}))
                                            ).lookahead_schedule(search_settings.lookahead_steps)
      plan = plan._replace(mask_SxTxNx2=jnp.asarray(c.mask | mask),
                           values_SxTxNx2=jnp.asarray(np.where(c.mask, c.values, values)),
                           lookahead_T=jnp.asarray(lookahead), drop_T=jnp.asarray(drop))
      result = run(plan, round_index)
    dynamic = self.config.model.dynamics and styles_lib.plays_dynamics(style, self.config.model.dynamics_styles)
    pieces = [Piece(roll, lowest=self.lowest, steps_per_quarter=self.steps_per_quarter,
                    time_signatures=c.time_signatures, tempos=c.tempos, name=f'sample_{i}', key=k,
                    phrase_ends=c.phrase_ends, style=next(iter(style)) if len(style) == 1 else None,
                    velocity=velocity if dynamic else None, voices=voices if voiced else None)
              for i, (roll, k, velocity, voices) in enumerate(zip(np.asarray(result.rolls), keys,
                                                                  np.asarray(result.velocities),
                                                                  np.asarray(result.voices)))]
    return Generation(pieces, np.asarray(result.log_likelihood), np.asarray(result.log_weight),
                      np.asarray(result.log_evidence), np.asarray(result.ess_SxT), int(particles),
                      [sorted(c.unmet(piece.roll) + cadences_lib.unmet(piece.roll, close, self.lowest, beat_T)
                              + (voice_leading_lib.missing(piece.voices, c.closed) if voiced else []))
                       for piece, close in zip(pieces, closes)], keys, c.mask[..., PLAY] & c.values[..., PLAY],
                      c.changes, style)

  def sample(self, num_steps: int | None = None, **kwargs) -> list[Piece]:
    """The pieces of `generate(num_steps, **kwargs)` (see it for every argument)."""
    return self.generate(num_steps, **kwargs).pieces


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
