#!/usr/bin/env bash
# Sets up (./.venv unless a virtual environment is active) and runs the main job on the embedded Bach chorales.
source "$(dirname "$0")/_env.sh"
python experiments/prepare_data.py --dataset=bach_chorales --output_dir=out "$@"
