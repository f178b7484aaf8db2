#!/usr/bin/env bash
# Sets up (./.venv unless a virtual environment is active) and runs the whole test suite. Extra arguments go to pytest.
source "$(dirname "$0")/_env.sh"
python -m pytest "$@"
