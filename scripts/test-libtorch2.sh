#!/usr/bin/env bash
# The libtorch 2.x lane: builds the addon against Debian 13's libtorch 2.6 inside a Debian 13 root
# (debootstrap, cached under ~/.cache/distillery) and runs the whole test suite there, the checkout
# bind-mounted (its node_modules reused, the addon built into build/native-libtorch2 so this
# machine's own build stays). With --cuda it also compiles and links the addon against the CUDA
# libtorch with NCCL on; no GPU is needed for that, and nothing CUDA is run. Test files given as
# arguments (test/x.test.ts ...) run instead of the whole suite. With --bench-kd ARGS... it runs no
# tests: `distillery bench kd ARGS` runs with this machine's build, then in the root against
# libtorch 2.x, one after the other, and tokens/s are printed side by side (model paths relative
# to the checkout, which both see).
# Needs root (debootstrap, chroot, mounts); packages come through this machine's Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd)"
cuda=0
tests=()
bench=()
while (($#)); do
  arg="$1"
  shift
  case "$arg" in
    --cuda) cuda=1 ;;
    --bench-kd) bench=("$@"); (($#)) || { echo "test-libtorch2: --bench-kd needs bench kd's arguments" >&2; exit 2; }; break ;;
    test/*.test.ts) [[ -f "$arg" ]] || { echo "test-libtorch2: no test file $arg" >&2; exit 2; }; tests+=("$arg") ;;
    *) echo "usage: scripts/test-libtorch2.sh [--cuda] [test/NAME.test.ts ...] | --bench-kd BENCH_KD_ARGS..." >&2; exit 2 ;;
  esac
done
((${#tests[@]})) || tests=(test/*.test.ts)
if [[ "$(id -u)" != 0 ]]; then
  echo "test-libtorch2: needs root (debootstrap, chroot and bind mounts); run it with sudo" >&2
  exit 1
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/distillery"
# The CUDA check gets a root of its own: the CUDA libtorch replaces the CPU one's files.
root="${DISTILLERY_TRIXIE_ROOT:-$cache/trixie-root}"
((cuda == 0)) || root="$root-cuda"
# The mirror this machine's apt already uses (deb822 or one-line sources), so no host is named here.
mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)"
[[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
[[ -n "$mirror" ]] || { echo "test-libtorch2: no Debian mirror found in /etc/apt sources" >&2; exit 1; }

if [[ ! -f "$root/.distillery-ready" ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  echo "test-libtorch2: creating a Debian 13 root in $root"
  rm -rf "$root.partial"
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase --components=main,contrib,non-free trixie "$root.partial" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { echo "test-libtorch2: debootstrap failed; see $cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"
  mv "$root.partial" "$root"
  touch "$root/.distillery-ready"
fi

mounted=()
cleanup() {
  local status=$?
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  exit "$status"
}
trap cleanup EXIT INT TERM
bind() {
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
}
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
bind /dev "$root/dev"
bind /dev/shm "$root/dev/shm"
bind "$checkout" "$root/checkout"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

install_once() { # NAME PACKAGES...: apt-get install, remembered by a marker so a second run skips apt
  local marker="/var/lib/distillery-$1"
  shift
  [[ -f "$root$marker" ]] && return 0
  in_root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $* >/dev/null" \
    || { echo "test-libtorch2: apt-get install $* failed in the Debian 13 root" >&2; return 1; }
  touch "$root$marker"
}
# libtorch's version from the root's headers (read from here: no quoting through chroot).
torch_version() { awk '/#define TORCH_VERSION_(MAJOR|MINOR|PATCH) / { v = v (v == "" ? "" : ".") $3 } END { print v }' "$root/usr/include/torch/csrc/api/include/torch/version.h"; }

build="build/native-libtorch2"
if ((cuda)); then
  # libtorch-cuda-dev replaces libtorch-dev, and libtorch-cuda-2.6 depends on nvidia-cudnn, whose
  # installer downloads cuDNN from NVIDIA (offline it fails and leaves apt broken). So the root gets
  # the toolchain, CUDA (nvcc: Torch's CMake config asks for it) and NCCL through apt, and the two
  # libtorch packages unpacked without dpkg's bookkeeping: their files are all a build needs.
  install_once cuda-base nodejs cmake g++ make python3-dev libprotobuf-dev libgloo-cuda-dev nvidia-cuda-dev nvidia-cuda-toolkit libnccl-dev
  if [[ ! -f "$root/var/lib/distillery-cuda-torch" ]]; then
    in_root sh -c 'rm -rf /tmp/cuda-debs && mkdir -p /tmp/cuda-debs && cd /tmp/cuda-debs && apt-get download -qq libtorch-cuda-dev libtorch-cuda-2.6 >/dev/null && for deb in *.deb; do dpkg -x "$deb" /; done && rm -rf /tmp/cuda-debs' \
      || { echo "test-libtorch2: could not unpack libtorch-cuda-dev" >&2; exit 1; }
    touch "$root/var/lib/distillery-cuda-torch"
  fi
  build="build/native-libtorch2-cuda"
  torch_dir="$(in_root sh -c 'dirname "$(find /usr/lib /usr/share -name TorchConfig.cmake 2>/dev/null | head -n1)"')"
  [[ -f "$root$torch_dir/TorchConfig.cmake" ]] || { echo "test-libtorch2: the CUDA libtorch's TorchConfig.cmake was not found" >&2; exit 1; }
  echo "libtorch $(torch_version) with CUDA ($torch_dir)"
  if in_root sh -c "cd /checkout && DISTILLERY_NATIVE_DIR=$build Torch_DIR=$torch_dir node scripts/build-native.mjs --force" >"$cache/cuda-build.log" 2>&1; then
    grep -q "c10d: NCCL headers" "$cache/cuda-build.log" || { echo "test-libtorch2: linked, but without NCCL (see $cache/cuda-build.log)" >&2; exit 1; }
    echo "cuda build: ok"
    exit 0
  fi
  tail -n 30 "$cache/cuda-build.log" >&2
  echo "test-libtorch2: the CUDA build failed; the whole log is $cache/cuda-build.log" >&2
  exit 1
fi

install_once base libtorch-dev libgloo-dev libopenblas0-pthread nodejs cmake g++ make fonts-dejavu-core
in_root sh -c "cd /checkout && DISTILLERY_NATIVE_DIR=$build node scripts/build-native.mjs" >"$cache/build.log" 2>&1 \
  || { tail -n 30 "$cache/build.log" >&2; echo "test-libtorch2: the addon did not build against libtorch 2.x; the whole log is $cache/build.log" >&2; exit 1; }
in_root sh -c "cd /checkout && DISTILLERY_NATIVE_DIR=$build node --import tsx -e \"import('./src/tensor/index.ts').then((t) => console.log('libtorch ' + t.torchVersion() + ' (Debian 13 root)'))\""
if ((${#bench[@]})); then
  quoted="$(printf '%q ' "${bench[@]}")"
  node bin/distillery.mjs bench kd --json "${bench[@]}" >"$cache/bench-host.jsonl" \
    || { echo "test-libtorch2: bench kd failed with this machine's build" >&2; exit 1; }
  in_root sh -c "cd /checkout && DISTILLERY_NATIVE_DIR=$build node bin/distillery.mjs bench kd --json $quoted" >"$cache/bench-root.jsonl" \
    || { echo "test-libtorch2: bench kd failed against libtorch 2.x" >&2; exit 1; }
  node scripts/compare-bench-lanes.mjs "$cache/bench-host.jsonl" "$cache/bench-root.jsonl" "$(node -e "import('./src/tensor/index.ts').then((t) => console.log(t.torchVersion()))" --import tsx)" "$(torch_version)"
  exit 0
fi
# The suite as ./test.sh runs it, without its setup step (the root has its own packages).
in_root sh -c "cd /checkout && DISTILLERY_NATIVE_DIR=$build node --import tsx --test --test-reporter=spec ${tests[*]}" >"$cache/suite.log" 2>&1 && status=0 || status=$?
grep -E '^(✖|ℹ) ' "$cache/suite.log" | grep -v '^ℹ \(suites\|cancelled\|todo\)' || true
((status == 0)) || echo "test-libtorch2: the suite failed in the libtorch 2.x lane; the whole log is $cache/suite.log" >&2
exit "$status"
