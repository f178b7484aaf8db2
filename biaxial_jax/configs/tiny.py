# python experiments/train.py --config=biaxial_jax/configs/tiny.py --workdir=/tmp/biaxial_tiny
"""A network of a few thousand parameters that trains in seconds: for tests and smoke runs."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig


def get_config() -> Config:
  return Config(
      data=DataConfig(dataset='bach_chorales', seq_len=16),
      model=ModelConfig(time_sizes=(12,), note_sizes=(8,), dropout=0.0),
      train=TrainConfig(batch_size=2, num_steps=20, decay_steps=20, learning_rate=1e-2, warmup_steps=2, log_every=5,
                        eval_every=10, eval_batch_size=4, checkpoint_every=10, keep_checkpoints=2),
  )
