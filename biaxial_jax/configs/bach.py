# python experiments/train.py --config=bach --workdir=runs/bach
"""The shipped Bach model: the embedded chorales with phrase and key inputs (fermatas and keys from their MusicXML),
transposition by up to a tritone either way, time axis 200, 200 / note axis 100, 50 (about 700k parameters),
bfloat16 matmuls. About 0.6 s a step on a 2-core CPU; resumable (re-run the command), the best checkpoint by
valid NLL is the one to export: python experiments/export_model.py --workdir=runs/bach --best
--output_dir=biaxial_jax/pretrained/bach."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig


def get_config() -> Config:
  return Config(
      data=DataConfig(dataset='bach_chorales', seq_len=64, max_transpose=6),
      model=ModelConfig(time_sizes=(200, 200), note_sizes=(100, 50), dropout=0.5, matmul_dtype='bfloat16',
                        structure=True),
      train=TrainConfig(batch_size=8, num_steps=6_000, decay_steps=6_000, learning_rate=2e-3, warmup_steps=100,
                        log_every=100, eval_every=250, checkpoint_every=250),
  )
