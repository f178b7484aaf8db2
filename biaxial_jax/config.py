"""The one configuration object: frozen, typed, validated, and saved in every checkpoint.

Config files (`biaxial_jax/configs/*.py`) define `get_config() -> Config`. Command lines override any field with
`--config.<section>.<field>=<value>` (tuples as comma-separated values), parsed and validated by `override`.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import math
import os
import typing

from biaxial_jax.errors import ConfigError, brief
from biaxial_jax.music.piece import STYLE_NAME, Grid

OPTIMIZERS = ('adam', 'adadelta')
MAX_SEQ_LEN = 16_384  # steps per training segment: 17 minutes of music at 16ths and 60 qpm
MAX_LEARNING_RATE = 10.0  # above it no optimizer here trains; inf and 1e30 diverge at once
# Sizes that decide allocations, bounded before anything is allocated (a config read from a file is data).
MAX_STEPS_PER_QUARTER = 96  # finer than any score's note values (a 128th-note triplet is 1/24 quarter)
MAX_LAYERS = 16  # LSTM layers per axis
MAX_LAYER_SIZE = 8192  # units per LSTM layer: 1 GB of float32 weights for one square layer
MAX_STYLES = 256
MAX_BATCH = 65_536  # segments or pieces per batch


def _check(condition: bool, field: str, message: str):
  if not condition:
    raise ConfigError(field, message)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  dataset: str = 'bach_chorales'  # 'bach_chorales', a folder of MIDI files, or a benchmark .pickle/.json file
  lowest: int = 24  # MIDI note number of the roll's first note
  num_notes: int = 78  # notes in the roll (78 from MIDI 24, as the original; 88 from 21 for the piano)
  steps_per_quarter: int = 4  # grid steps per quarter note (4: sixteenth notes); for benchmark files, frames/quarter
  out_of_range: str = 'fold'  # notes outside the range: 'fold' by octaves, 'drop', or 'error'
  seq_len: int = 128  # steps per training segment (128 = 8 bars of 4/4)
  max_transpose: int = 0  # random transposition of training segments, in semitones either way (0: off)
  # For a model with voices: the share of training segments read with their voices hidden (unknown), so that the
  # model also predicts pieces whose voices are unknown (a chorale of five parts, MIDI files, benchmark data).
  hide_voices: float = 0.1

  @property
  def grid(self) -> Grid:
    return Grid(self.lowest, self.num_notes, self.steps_per_quarter)

  def validate(self):
    _check(0 <= self.lowest <= 127, 'data.lowest', f'must be a MIDI note number in [0, 127], got {self.lowest}')
    _check(1 <= self.num_notes <= 128 - self.lowest, 'data.num_notes',
           f'must be in [1, {128 - self.lowest}] from MIDI {self.lowest} (notes {self.lowest}..'
           f'{self.lowest + self.num_notes - 1} fall outside MIDI 0..127)')
    _check(1 <= self.steps_per_quarter <= MAX_STEPS_PER_QUARTER, 'data.steps_per_quarter',
           f'must be in [1, {MAX_STEPS_PER_QUARTER}], got {self.steps_per_quarter}')
    _check(self.out_of_range in ('fold', 'drop', 'error'), 'data.out_of_range',
           f"must be 'fold', 'drop' or 'error', got {self.out_of_range!r}")
    _check(2 <= self.seq_len <= MAX_SEQ_LEN, 'data.seq_len', f'must be in [2, {MAX_SEQ_LEN}], got {self.seq_len}')
    _check(0 <= self.max_transpose <= 24, 'data.max_transpose', f'must be in [0, 24], got {self.max_transpose}')
    _check(0 <= self.hide_voices < 1, 'data.hide_voices', f'must be in [0, 1), got {self.hide_voices}')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  time_sizes: tuple[int, ...] = (300, 300)  # LSTM sizes of the time axis (recurrent over steps), bottom first
  note_sizes: tuple[int, ...] = (100, 50)  # LSTM sizes of the note axis (recurrent over notes, low to high)
  dropout: float = 0.5  # inverted dropout on every LSTM layer's output, one mask per scan
  hoist_input_projection: bool = False  # compute x @ W_in for all steps before each scan (faster on some backends)
  matmul_dtype: str = 'float32'  # matmul operands: 'float32' or 'bfloat16' (accumulation, state and loss stay float32)
  structure: bool = False  # phrase and key inputs (features.py): 100 features per note instead of 80
  chord_inputs: bool = False  # the note axis also reads the chord drawn below each note (features.below_features)
  scan_unroll: int = 1  # LSTM steps per loop iteration of each training scan (lax.scan's unroll; same function)
  # On a GPU, the time axis's layers through cuDNN's LSTM (jax.experimental.rnn; float32 weights, TF32 matmuls where
  # jax allows them); on other backends the scans, the same function. Training refuses it without a GPU.
  time_axis_cudnn: bool = False
  styles: tuple[str, ...] = ()  # styles the model is conditioned on (both axes read a weight per style); () none
  dynamics: bool = False  # a velocity per struck note: an output (8 bins) and the previous velocities as inputs
  # Four voices (soprano, alto, tenor, bass): which voices sing each played note, an output (15 voice sets), with
  # each voice's previous position and the voices placed below as inputs (`voicing`); data without voices is masked.
  voices: bool = False
  # With styles and dynamics: the styles whose training pieces carry velocities (most of them), which generation
  # plays with the model's dynamics and the others flat. Training fills it in from the data; one set by hand must
  # match what the data has.
  dynamics_styles: tuple[str, ...] = ()

  def validate(self):
    for name in ('time_sizes', 'note_sizes'):
      sizes = getattr(self, name)
      _check(1 <= len(sizes) <= MAX_LAYERS and all(1 <= s <= MAX_LAYER_SIZE for s in sizes), f'model.{name}',
             f'need 1 to {MAX_LAYERS} sizes in [1, {MAX_LAYER_SIZE}], got {sizes}')
    _check(0 <= self.dropout < 1, 'model.dropout', f'must be in [0, 1), got {self.dropout}')
    _check(1 <= self.scan_unroll <= 64, 'model.scan_unroll', f'must be in [1, 64], got {self.scan_unroll}')
    _check(self.matmul_dtype in ('float32', 'bfloat16'), 'model.matmul_dtype',
           f"must be 'float32' or 'bfloat16', got {self.matmul_dtype!r}")
    _check(not self.time_axis_cudnn or self.matmul_dtype == 'float32', 'model.time_axis_cudnn',
           "needs model.matmul_dtype='float32' (jax's cuDNN LSTM has no bfloat16 path)")
    _check(all(isinstance(s, str) and STYLE_NAME.fullmatch(s) for s in self.styles), 'model.styles',
           f"must be names of letters, digits, '_' and '-', got {self.styles}")
    _check(len(set(self.styles)) == len(self.styles), 'model.styles', f'names a style twice: {self.styles}')
    _check(len(self.styles) <= MAX_STYLES, 'model.styles', f'at most {MAX_STYLES} styles, got {len(self.styles)}')
    _check(set(self.dynamics_styles) <= set(self.styles) and (self.dynamics or not self.dynamics_styles),
           'model.dynamics_styles', f'must be styles of the model (model.styles) with model.dynamics on, got '
           f'{self.dynamics_styles}')


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  seed: int = 0  # drives parameter init, data order and dropout
  batch_size: int = 10  # segments per step, over all devices (divisible by the device count)
  num_steps: int = 10_000  # total optimizer steps (a resumed run trains up to this; may grow on resume)
  optimizer: str = 'adam'  # 'adam' (with global-norm clipping) or 'adadelta' (the original's, per-parameter clipping)
  learning_rate: float = 1e-3  # peak learning rate (adadelta: its multiplier, 1.0 in the original)
  warmup_steps: int = 100  # linear warm-up from 0 to the peak
  decay_steps: int = 10_000  # cosine decay ends here, at final_lr_fraction of the peak (then constant)
  final_lr_fraction: float = 0.1  # where the cosine decay ends, as a fraction of the peak
  weight_decay: float = 0.0  # AdamW's decoupled decay of the weight matrices, times the learning rate (0: plain Adam)
  play_only: bool = False  # learn and choose checkpoints by the play bits alone (frame-level benchmarks have no articulation)
  clip_norm: float = 5.0  # gradient clipping norm (global for adam, per parameter for adadelta); 0: off
  log_every: int = 50  # steps between log lines and metric records
  eval_every: int = 500  # steps between evaluations on the valid split (0: only at the end)
  eval_batch_size: int = 16  # whole pieces per evaluation batch
  checkpoint_every: int = 500  # steps between checkpoints (one is always written at the end)
  keep_checkpoints: int = 3  # latest checkpoints kept, besides the best by valid NLL

  def validate(self):
    for name in ('batch_size', 'num_steps', 'decay_steps', 'log_every', 'eval_batch_size', 'checkpoint_every',
                 'keep_checkpoints'):
      _check(getattr(self, name) >= 1, f'train.{name}', f'must be >= 1, got {getattr(self, name)}')
    for name in ('batch_size', 'eval_batch_size'):
      _check(getattr(self, name) <= MAX_BATCH, f'train.{name}', f'must be <= {MAX_BATCH}, got {getattr(self, name)}')
    for name in ('warmup_steps', 'eval_every'):
      _check(getattr(self, name) >= 0, f'train.{name}', f'must be >= 0, got {getattr(self, name)}')
    _check(0 <= self.seed < 2**63, 'train.seed', f'must be in [0, 2^63), got {self.seed}')
    _check(self.optimizer in OPTIMIZERS, 'train.optimizer', f'must be one of {OPTIMIZERS}, got {self.optimizer!r}')
    _check(0 < self.learning_rate <= MAX_LEARNING_RATE, 'train.learning_rate',
           f'must be in (0, {MAX_LEARNING_RATE:g}], got {self.learning_rate}')
    _check(0 <= self.final_lr_fraction <= 1, 'train.final_lr_fraction', f'must be in [0, 1], got '
           f'{self.final_lr_fraction}')
    _check(0 <= self.weight_decay <= 1, 'train.weight_decay', f'must be in [0, 1], got {self.weight_decay}')
    _check(self.weight_decay == 0 or self.optimizer == 'adam', 'train.weight_decay', 'needs train.optimizer=adam')
    _check(0 <= self.clip_norm < math.inf, 'train.clip_norm', f'must be finite and >= 0, got {self.clip_norm}')


@dataclasses.dataclass(frozen=True)
class Config:
  data: DataConfig = DataConfig()  # what is learned and how it is represented
  model: ModelConfig = ModelConfig()  # the network
  train: TrainConfig = TrainConfig()  # the optimization

  def __post_init__(self):
    self.data.validate()
    self.model.validate()
    self.train.validate()

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> Config:
    """Inverse of `to_dict` (lists become tuples); unknown fields are an error."""
    sections = {}
    for name, section_cls in typing.get_type_hints(cls).items():
      values = dict(d.get(name, {}))
      hints = typing.get_type_hints(section_cls)
      unknown = set(values) - set(hints)
      if unknown:
        raise ConfigError(name, f'unknown fields {sorted(unknown)}')
      sections[name] = section_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return cls(**sections)


def _parse_value(text: str, hint, field: str):
  try:
    if hint is bool:
      if text.lower() not in ('true', 'false', '1', '0'):
        raise ValueError(text)
      return text.lower() in ('true', '1')
    if typing.get_origin(hint) is tuple:
      (item,) = set(typing.get_args(hint)) - {Ellipsis}
      return tuple(item(v) for v in text.split(',') if v.strip())
    return hint(text)
  except ValueError:
    raise ConfigError(field, f'cannot read {text!r} as {getattr(hint, "__name__", hint)}') from None


def override(config: Config, assignments: dict[str, str]) -> Config:
  """`config` with fields replaced from `{'train.batch_size': '16', ...}`; errors name the field."""
  sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
  for path, text in assignments.items():
    section, _, field = path.partition('.')
    if section not in sections or not field:
      raise ConfigError(path, f'unknown config field (sections: {", ".join(sections)})')
    hints = typing.get_type_hints(type(sections[section]))
    if field not in hints:
      raise ConfigError(path, f'unknown config field (fields of {section}: {", ".join(hints)})')
    sections[section] = dataclasses.replace(sections[section], **{field: _parse_value(text, hints[field], path)})
  return Config(**sections)


def load_config_file(name_or_path: str) -> Config:
  """A config from a file defining `get_config()`, or by name from `biaxial_jax/configs/` ('default', 'small'...)."""
  path = name_or_path
  if not os.path.exists(path):
    path = os.path.join(os.path.dirname(__file__), 'configs', f'{name_or_path}.py')
  if not os.path.isfile(path):
    names = sorted(f[:-3] for f in os.listdir(os.path.join(os.path.dirname(__file__), 'configs'))
                   if f.endswith('.py') and not f.startswith('_'))
    raise ConfigError(None, f'{name_or_path!r} is neither a file nor a config name ({", ".join(names)})')
  loader = importlib.machinery.SourceFileLoader('biaxial_jax_user_config', path)  # any file name, read as Python
  module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
  try:
    loader.exec_module(module)
  except Exception as e:  # pylint: disable=broad-except  # a user's file: a syntax error, an import that fails...
    raise ConfigError(None, f'{path} does not run as Python ({brief(e)})') from None
  if not callable(getattr(module, 'get_config', None)):
    raise ConfigError(None, f'{path} defines no get_config()')
  try:
    config = module.get_config()
  except ConfigError as e:
    raise ConfigError(None, f'get_config() in {path}: {e}') from None
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(None, f'get_config() in {path} failed ({brief(e)})') from None
  if not isinstance(config, Config):
    raise ConfigError(None, f'get_config() in {path} returned {type(config).__name__}, not a Config')
  return config
