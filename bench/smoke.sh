#!/usr/bin/env bash
# Benchmark smoke test (ctest bench.smoke): runs every benchmark program at a
# tiny size and checks that each one finishes and prints its figures. It
# asserts no speed: the numbers are meaningless at this size and under
# sanitizers.
#   smoke.sh BENCH_DIR [PARCHAD]
set -euo pipefail
bin=$1
parchad=${2:-}
work=$(mktemp -d /tmp/parcha-bench-smoke-XXXXXX)
trap 'rm -rf "$work"' EXIT

expect() { # expect FILE PATTERN...
  local f=$1; shift
  for p in "$@"; do
    if ! grep -q -- "$p" "$f"; then
      echo "smoke: '$p' missing from the output of $(basename "$f" .out):" >&2
      cat "$f" >&2
      exit 1
    fi
  done
}

"$bin/bench_apply" --txs 3000 --block 500 --patients 50 --records 40 \
    --dir "$work/ledger" --keep >"$work/apply.out" 2>"$work/apply.err"
expect "$work/apply.out" "ed25519 verify, 2 threads: " "signature-check limit" \
    "apply, peer path" "apply, own proposal" "block latency p50"

"$bin/bench_query" --dir "$work/ledger" --iters 5 --reads 5 >"$work/query.out" 2>"$work/query.err"
expect "$work/query.out" "timeline of 40 records" "record content read" "ledger open + head"

"$bin/bench_verify" --dir "$work/ledger" >"$work/verify.out" 2>"$work/verify.err"
expect "$work/verify.out" "verify (2 threads): " " tx/s ("

if [ -n "$parchad" ]; then
  "$bin/loadgen" --parchad "$parchad" --txs 1000 --conns 8 --patients 20 --records 30 \
      --reads 5 --half-seconds 1 --dir "$work/node" >"$work/loadgen.out" 2>"$work/loadgen.err" || {
    cat "$work/loadgen.out" "$work/loadgen.err" >&2; cat "$work/node/parchad.log" >&2 || true; exit 1; }
  expect "$work/loadgen.out" "committed tx/s at full load: " "commit latency at full load" \
      "half load" "record content read at the API" "timeline of " "VmRSS" \
      "restart to ready" "single-node committed tx/s: "
fi
echo "bench smoke: every benchmark ran and reported"
