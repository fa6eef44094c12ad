#!/usr/bin/env bash
# The README's main job: run the example training script in a fresh folder, on the defaults.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf demo-run && mkdir demo-run && cd demo-run
cp "$here/train.py" .

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }

say python "$here/config_tour.py"
python "$here/config_tour.py"
say python train.py manual
python train.py manual
say python train.py
python train.py
say python train.py high_lr batch_size=64 scale_lr
python train.py high_lr batch_size=64 scale_lr
say python train.py hgh_lr   "(a typo: refused, with a suggestion)"
python train.py hgh_lr || true
say python report.py   "(what SQLFinder finds in ./experiments.db)"
python "$here/report.py"
say ato runs
ato runs
say ato replay 1   "(how run 1's config was built, key by key)"
ato replay 1
say ato replay 2 --key lr
ato replay 2 --key lr
say ato verify
ato verify

# A code change and a config change: edit the helper that train_epoch calls, then run again.
sed -i 's|return 1 / (1 + np.exp(-z))|return 1 / (1 + np.exp(-np.clip(z, -5, 5)))|' train.py
say "sed -i ... train.py   (sigmoid now clips its input)"
say python train.py lr=0.2
python train.py lr=0.2
say ato diff 1 3   "(why did the result change?)"
ato diff 1 3

# Seeing and sharing the results.
say ato diff 1 3 --code   "(what changed in the code, function by function)"
ato diff 1 3 --code
say ato runs --metric accuracy:max --sort accuracy   "(which run is best, and the keys that varied)"
ato runs --metric accuracy:max --sort accuracy
say ato diff 1 3 --plot --metric accuracy   "(the curves, with the first step where they differ)"
ato diff 1 3 --plot --metric accuracy
say ato export demo --format latex --metric accuracy:max --columns lr=LR batch_size=Batch accuracy:best=Accuracy
ato export demo --format latex --metric accuracy:max --columns lr=LR batch_size=Batch accuracy:best=Accuracy \
    --sort accuracy:best --descending
say ato report 1 3 -o report.html   "(one self-contained file to send to a teammate)"
ato report 1 3 -o report.html
