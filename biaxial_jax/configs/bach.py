# python experiments/train.py --config=bach --workdir=runs/bach
"""The shipped Bach model: the embedded chorales with phrase and key inputs (fermatas and keys from their MusicXML),
the chord drawn below each note as note-axis inputs, transposition by up to a tritone either way, time axis 200,
200 / note axis 100, 50 (725k parameters), bfloat16 matmuls, AdamW's weight decay 0.1. About 1.2 s a step on a
2-core CPU (2.2 s on one core); resumable (re-run the command). Valid NLL is lowest near step 1,750 (1.965 nats per
frame) and rises after 2,000: export the best checkpoint with python experiments/export_model.py --workdir=runs/bach
--best --output_dir=biaxial_jax/pretrained/bach."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig


def get_config() -> Config:
  return Config(
      data=DataConfig(dataset='bach_chorales', seq_len=64, max_transpose=6),
      model=ModelConfig(time_sizes=(200, 200), note_sizes=(100, 50), dropout=0.5, matmul_dtype='bfloat16',
                        structure=True, chord_inputs=True, voices=True),
      train=TrainConfig(batch_size=8, num_steps=6_000, decay_steps=6_000, learning_rate=2e-3, warmup_steps=100,
                        weight_decay=0.1,
                        log_every=100, eval_every=250, checkpoint_every=250),
  )
