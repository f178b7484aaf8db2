#!/usr/bin/env bash
# Sets up (./.venv unless a virtual environment is active), then the main job on the embedded Bach chorales:
#  1. in seconds: two 16-bar chorales from the shipped model at temperature 0.8 (the setting for music to keep; its
#     phrases close on root-position triads), into out/bach (MIDI, MusicXML, piano-roll PNG, WAV where FluidSynth is
#     installed, index.html);
#  2. in minutes: build the corpus cache, train your own small model for about 5 minutes on CPU into runs/small
#     (re-running resumes), and sample from it into out/samples.
source "$(dirname "$0")/_env.sh"
python experiments/sample.py --checkpoint=bach --output_dir=out/bach --num_bars=16 --num_samples=2 \
  --temperature=0.8 --program=19 --tempo=80 --overwrite
python experiments/prepare_data.py --dataset=bach_chorales --output_dir=out --overwrite
# TCMalloc, where installed (apt-get install libtcmalloc-minimal4), serves XLA's per-step temporaries best on a CPU
# (docs/results.md, "Speed"); without it the training script keeps glibc's freed memory itself.
tcmalloc=$(ldconfig -p 2>/dev/null | awk '/libtcmalloc_minimal\.so\.4 /{print $NF; exit}' || true)
preload=${LD_PRELOAD:-}
if [ -n "$tcmalloc" ]; then preload="$tcmalloc${preload:+:$preload}"; fi
LD_PRELOAD="$preload" \
  python experiments/train.py --config=biaxial_jax/configs/small.py --workdir=runs/small "$@"
python experiments/sample.py --checkpoint=runs/small --output_dir=out/samples --num_bars=16 --num_samples=2 \
  --program=19 --tempo=80 --overwrite
