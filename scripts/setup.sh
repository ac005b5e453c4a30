#!/usr/bin/env bash
# Installs whatever this checkout still lacks, and nothing when all is in place (fast path):
#   1. system packages: libtorch (unless LIBTORCH/Torch_DIR points at one), OpenBLAS, cmake, a C++ compiler
#      — through apt when running as root, otherwise it prints the exact command to run;
#   2. npm dependencies;
#   3. the libtorch addon (scripts/build-native.mjs rebuilds only when sources changed).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if command -v dpkg-query >/dev/null 2>&1; then
  if [[ -z "${LIBTORCH:-}" && -z "${Torch_DIR:-}" ]] && ! python3 -c 'import torch' >/dev/null 2>&1; then
    have_pkg libtorch-dev || missing+=(libtorch-dev)
    # Gloo's headers, for the c10d process groups of multi-process training (--nproc-per-node).
    have_pkg libgloo-dev || missing+=(libgloo-dev)
  fi
  # Debian's libtorch calls the generic libblas.so.3; without OpenBLAS that is the 20-40x slower reference BLAS.
  have_pkg libopenblas0-pthread || missing+=(libopenblas0-pthread)
  # Report plots render text with DejaVu Sans (resvg reads font files; a bare machine may have none).
  have_pkg fonts-dejavu-core || missing+=(fonts-dejavu-core)
fi
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)

if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm dependencies: reinstall when package.json or the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json || (-f package-lock.json && package-lock.json -nt node_modules/.package-lock.json) ]]; then
  echo "setup: installing npm dependencies"
  if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch node_modules/.package-lock.json
fi

node scripts/build-native.mjs
