# python experiments/train.py --config=biaxial_jax/configs/default.py --workdir=runs/default
"""The original's sizes (time axis 300, 300; note axis 100, 50: 1,369,902 parameters) on the embedded Bach chorales,
8-bar segments, batch 10, as the paper; Adam instead of Adadelta (--config.train.optimizer=adadelta for the original's)."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig


def get_config() -> Config:
  return Config(
      data=DataConfig(dataset='bach_chorales', seq_len=128, max_transpose=4),
      model=ModelConfig(time_sizes=(300, 300), note_sizes=(100, 50), dropout=0.5,
                        matmul_dtype='bfloat16'),  # AMX / tensor cores; likelihood within seed noise
      train=TrainConfig(batch_size=10, num_steps=10_000, decay_steps=10_000, learning_rate=1e-3, eval_every=500,
                        checkpoint_every=500),
  )
