#!/usr/bin/env bash
# The README's main job: run the example in a fresh folder on the embedded defaults.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf demo-run && mkdir demo-run && cd demo-run
python "$here/config_tour.py"
