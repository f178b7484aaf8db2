# python experiments/train.py --config=nottingham_bl --workdir=runs/nottingham_bl
"""Nottingham folk tunes in the Boulanger-Lewandowski protocol (eighth-note frames, keys transposed to C, MIDI 31..93):
play bits only, 16-bar segments of 4/4. Needs the benchmark file (`../shared/data/`, or point `--config.data.dataset` at
your copy); score it with `experiments/evaluate.py --protocol=bl88`."""

from biaxial_jax.config import Config, DataConfig, ModelConfig, TrainConfig


def get_config() -> Config:
  return Config(
      # The set's own range: the 25 piano keys outside it never sound, and bl88 scores them by their frequency.
      data=DataConfig(dataset='../shared/data/nottingham_bl2012.pickle', lowest=31, num_notes=63,
                      steps_per_quarter=2, out_of_range='error', seq_len=128, max_transpose=0),
      model=ModelConfig(time_sizes=(200, 200), note_sizes=(100, 50), dropout=0.3),
      train=TrainConfig(batch_size=4, num_steps=1_800, decay_steps=1_800, learning_rate=2e-3, warmup_steps=100,
                        play_only=True, log_every=100, eval_every=600, checkpoint_every=300),
  )
