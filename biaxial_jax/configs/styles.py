# python experiments/train.py --config=styles --workdir=runs/styles
"""One model, four styles: music21's own corpus by style (`music.styles`: Bach chorales, Renaissance polyphony,
trecento, classical string quartets), each row of a batch told its style (both axes read a one-hot of it), styles
drawn evenly. The small config's sizes (time axis 128, 128 / note axis 64, 32) with the chord below each note;
without phrase and key inputs, which only the chorales' fermatas would feed. About 0.8 s a step on one core;
resumable (re-run the command). Sample with --style=chorale, or a mixture such as --style=chorale:0.5,medieval:0.5."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig
from biaxial_jax.music.styles import STYLES


def get_config() -> Config:
  return Config(
      data=DataConfig(dataset='music21_styles', seq_len=64, max_transpose=6),
      model=ModelConfig(time_sizes=(128, 128), note_sizes=(64, 32), dropout=0.3, matmul_dtype='bfloat16',
                        chord_inputs=True, styles=STYLES),
      train=TrainConfig(batch_size=8, num_steps=4_000, decay_steps=4_000, learning_rate=3e-3, warmup_steps=100,
                        weight_decay=0.1, log_every=100, eval_every=1_000, checkpoint_every=250),
  )
