# python experiments/train.py --config=bach --workdir=runs/bach
"""The shipped Bach model: the embedded chorales as their four vocal parts, with phrase and key inputs (fermatas and
keys from their MusicXML), the chord drawn below each note as note-axis inputs, and four voices (`model.voices`: the
previous voices and the voices below as inputs, a voice set per played note as an output); transposition by up to a
tritone either way, time axis 200, 200 / note axis 100, 50 (789k parameters), bfloat16 matmuls, AdamW's weight decay
0.1. About 1 s a step on a 2-core CPU; resumable (re-run the command). Valid NLL is lowest near step 2,250 (1.869
nats per frame) and rises after: export the best checkpoint with python experiments/export_model.py
--workdir=runs/bach --best --output_dir=biaxial_jax/pretrained/bach --command="python experiments/train.py
--config=bach --workdir=runs/bach"."""

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
