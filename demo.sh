#!/usr/bin/env bash
# The main job on its embedded default: sets up what is missing, then runs the self-check
# (builds, trains a small model, prints what it did). Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec node bin/distillery.mjs selfcheck "$@"
