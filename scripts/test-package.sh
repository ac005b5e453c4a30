#!/usr/bin/env bash
# The npm package as a user meets it: `npm pack`, install the tarball into a fresh project with
# install scripts off (npm 11's default), `npx distillery setup` (builds the addon into the
# installed package), `--help` start time (median of 5, at most 0.4 s), `--version`, a misspelt flag
# (one line, exit 2), a consumer file type-checked against the shipped .d.ts (and a wrong option type
# rejected), then run: a two-step distill() on tiny models that must write student/ and summary.json.
# Prints each check; exits 1 on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/distillery-package-XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }

tarball="$(npm pack --silent --pack-destination "$work" | tail -n1)"
echo "test-package: packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
cd "$work"
npm init -y >/dev/null
typescript="$(node -p "require('$checkout/package.json').devDependencies.typescript")"
types_node="$(node -p "require('$checkout/package.json').devDependencies['@types/node']")"
npm install --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error "./$tarball" "typescript@$typescript" "@types/node@$types_node" >/dev/null \
  || fail "npm install of the tarball failed"
npm pkg set type=module >/dev/null

# Without the addon, a command that needs it says so in one line.
if out="$(npx --no-install distillery selfcheck --steps 1 2>&1)"; then fail "selfcheck ran without the addon"; fi
[[ "$(wc -l <<<"$out")" == 1 && "$out" == *"distillery setup"* ]] || fail "without the addon, expected one line naming 'distillery setup', got: $out"
echo "test-package: without the addon: $out"

npx --no-install distillery setup >setup.log 2>&1 || { tail -n 20 setup.log; fail "npx distillery setup failed"; }
[[ -f node_modules/distillery/build/native/distillery_native.node ]] || fail "setup did not build node_modules/distillery/build/native/distillery_native.node"
echo "test-package: setup built the addon"

# The command's own start (what npx execs), without npm's: --help loads no command's implementation.
times=()
for _ in 1 2 3 4 5; do
  start=$(date +%s%N)
  node_modules/.bin/distillery --help >/dev/null
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
median="$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)"
echo "test-package: distillery --help: ${times[*]} ms (median $median ms)"
((median <= 400)) || fail "--help median start ${median} ms is over 400 ms"

version="$(node_modules/.bin/distillery --version)"
[[ "$version" == "$(node -p "require('$checkout/package.json').version")" ]] || fail "--version printed '$version', not package.json's version"
status=0
usage="$(node_modules/.bin/distillery distill --alpah 0.5 2>&1)" || status=$?
[[ $status == 2 && "$(wc -l <<<"$usage")" -le 2 && "$usage" == *"(Did you mean --alpha?)"* ]] || fail "a misspelt flag: expected exit 2 and one line with the suggestion, got $status: $usage"
echo "test-package: --version $version; a misspelt flag: exit 2, $(head -n1 <<<"$usage")"

cp "$checkout/test/package/consumer.ts" "$checkout/test/package/wrong-option-type.ts" .
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": false, "types": ["node"], "outDir": "out" }, "files": ["consumer.ts"] }
JSON
npx --no-install tsc -p . || fail "consumer.ts does not type-check against the shipped declarations"
echo "test-package: consumer.ts type-checks"
if errors="$(npx --no-install tsc --noEmit --target ES2022 --module NodeNext --moduleResolution NodeNext --strict --types node wrong-option-type.ts)"; then
  fail "wrong-option-type.ts type-checked: maxSteps: 'two' was accepted"
fi
# The error must point at the maxSteps property (line 4, its column), not anywhere else.
column="$(sed -n 4p wrong-option-type.ts | awk '{ print index($0, "maxSteps") }')"
grep -q "wrong-option-type.ts(4,$column): error TS2322" <<<"$errors" || fail "tsc rejected wrong-option-type.ts but not at maxSteps (4,$column): $errors"
echo "test-package: maxSteps: 'two' is a type error"

result="$(node out/consumer.js)" || fail "running consumer.js failed"
echo "test-package: consumer.js: $result"
[[ -f run/student/model.safetensors && -f run/summary.json ]] || fail "the run did not write run/student/model.safetensors and run/summary.json"
grep -q '"steps":\[1,2\]' <<<"$result" || fail "expected onStep for steps 1 and 2"
grep -q '"tensorOk":true' <<<"$result" || fail "distillery/tensor did not compute"
echo "test-package: ok"
