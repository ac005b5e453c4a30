#!/usr/bin/env bash
# The test suite: sets up what is missing, type-checks, then runs every test file with node:test.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
npx tsc --noEmit -p .
# Node 20's --test takes no globs: the shell expands the list of files.
exec node --import tsx --test --test-reporter=spec test/*.test.ts
