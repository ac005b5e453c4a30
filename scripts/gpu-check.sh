#!/usr/bin/env bash
# The prepared GPU check, one command on the lent machine (one H200; Python with CUDA torch, CMake,
# ninja and nvcc; no Node, no network), within 8 minutes of wall time:
#   1. Node and the runtime dependencies from .gpu-carry (scripts/gpu-pack.sh writes it here);
#   2. the addon built against that Python torch, NCCL from its nvidia packages;
#   3. the suite's CUDA tests (test/cuda.test.ts) and the chunked-loss and checkpointing tests;
#   4. bench kd at real sizes: a Qwen3-4B-config teacher in bf16, a Qwen3-0.6B-config student in bf16
#      compute with float32 masters, 8 × 1024 tokens, random weights, beside PyTorch eager (bf16
#      autocast, SDPA) under the same torch: tokens/s, MFU, peak CUDA memory.
# Results are printed and written to $OUT (when the device tool sets it) as gpu-check.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
carry=.gpu-carry
out="${OUT:-$(mktemp -d)}"
started=$SECONDS
say() { echo "gpu-check [$((SECONDS - started)) s]: $*"; }
[[ -f "$carry/node.xz" && -f "$carry/node_modules.tar.xz" ]] || { echo "gpu-check: $carry is missing; run scripts/gpu-pack.sh and carry it" >&2; exit 1; }

tools="$(mktemp -d)"
xz -dc "$carry/node.xz" >"$tools/node" && chmod +x "$tools/node"
export PATH="$tools:$PATH"
[[ -d node_modules/tsx ]] || tar -xJf "$carry/node_modules.tar.xz"
say "node $(node --version); $(python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))')"

# NCCL's header comes with the nvidia-nccl pip package that CUDA torch depends on.
NCCL_HOME="$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)"
export NCCL_HOME
export DISTILLERY_NATIVE_DIR=build/native-gpu
node scripts/build-native.mjs --force >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; echo "gpu-check: the addon did not build" >&2; exit 1; }
grep -E "c10d: NCCL|CUDA:" "$out/build.log" || say "built without NCCL (no nccl.h under NCCL_HOME=$NCCL_HOME)"
say "addon built"

node --import tsx --test --test-reporter=spec test/cuda.test.ts test/chunked-loss.test.ts test/checkpointing.test.ts 2>&1 | tee "$out/tests.log" | grep -E '^\s*(✔|✖|﹣)|^ℹ (tests|pass|fail|skipped)' || true
tests_ok=$([[ -z "$(grep -E '^ℹ fail [1-9]' "$out/tests.log")" ]] && echo true || echo false)
say "tests passed: $tests_ok"

models="$(mktemp -d)"
node bin/distillery.mjs init --preset qwen3-4b --dtype bfloat16 --seed 1 --out "$models/teacher" >/dev/null
node bin/distillery.mjs init --preset qwen3-0.6b --seed 2 --out "$models/student" >/dev/null
say "random Qwen3-4B and Qwen3-0.6B written"
node bin/distillery.mjs bench kd --teacher "$models/teacher" --student "$models/student" --device cuda:0 --dtype bfloat16 \
  --batch-size 8 --seq-len 1024 --steps 5 --warmup 2 --modes pytorch,chunked --json | tee "$out/gpu-check.jsonl"
python3 - "$out/gpu-check.jsonl" <<'PY'
import json, sys
rows = {r['mode']: r for r in map(json.loads, open(sys.argv[1]))}
for mode, r in rows.items():
    mfu = f"{100 * r['mfu']:.1f} %" if r.get('mfu') is not None else 'n/a'
    print(f"{mode:8s} {r['tokens_per_s']:>10,.0f} tokens/s  MFU {mfu:>7s}  peak CUDA {r.get('cuda_max_allocated_mb')} MB")
if 'pytorch' in rows and 'chunked' in rows:
    print(f"chunked vs PyTorch eager: {rows['chunked']['tokens_per_s'] / rows['pytorch']['tokens_per_s']:.2f}x tokens/s")
PY
say "done"
[[ "$tests_ok" == true ]]
