#!/usr/bin/env bash
# Installs whatever this checkout still lacks, and nothing when all is in place (fast path):
#   1. system packages (scripts/system-packages.mjs: libtorch unless LIBTORCH/Torch_DIR points at one,
#      OpenBLAS, fonts, cmake, a C++ compiler) through apt when running as root, otherwise it prints
#      the exact command to run;
#   2. npm dependencies;
#   3. the libtorch addon (scripts/build-native.mjs rebuilds only when sources changed).
set -euo pipefail
cd "$(dirname "$0")/.."

node scripts/system-packages.mjs --install

# npm dependencies: reinstall when package.json or the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json || (-f package-lock.json && package-lock.json -nt node_modules/.package-lock.json) ]]; then
  echo "setup: installing npm dependencies"
  if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch node_modules/.package-lock.json
fi

node scripts/build-native.mjs
