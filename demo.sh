#!/usr/bin/env bash
# The main job on its embedded default: sets up what is missing, then runs the offline distillation
# demo (report in ./distillery-demo/report.html). Extra arguments go to `distillery demo`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec node bin/distillery.mjs demo "$@"
