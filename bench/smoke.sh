#!/usr/bin/env bash
# Benchmark smoke test (ctest bench.smoke): runs every benchmark program at a
# tiny size and checks that each one finishes and prints its figures. It
# asserts no speed: the numbers are meaningless at this size and under
# sanitizers.
#   smoke.sh BENCH_DIR [PARCHAD [PARCHA]]
# With PARCHA too, also the three-hospital etcd run (loadgen --cluster 3,
# through `parcha devnet`; needs etcd, /usr/bin/etcd from scripts/setup.sh).
set -euo pipefail
bin=$1
parchad=${2:-}
parcha=${3:-}
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
expect "$work/query.out" "timeline of 40 records" "right after another connection's commit" \
    "record content read" "ledger open + head" "state digest (checkpoints"

"$bin/bench_verify" --dir "$work/ledger" >"$work/verify.out" 2>"$work/verify.err"
expect "$work/verify.out" "verify (2 threads): " " tx/s ("

"$bin/bench_watch" --bytes 20000 --iters 3 >"$work/watch.out" 2>"$work/watch.err"
expect "$work/watch.out" "watch message of " "cut + jansson" "base64 decode of the proposal" \
    "pc_b64std_decode_public" "base64 encode of the proposal"

if [ -n "$parchad" ]; then
  "$bin/loadgen" --parchad "$parchad" --txs 1000 --conns 8 --patients 20 --records 30 \
      --reads 5 --half-seconds 1 --dir "$work/node" >"$work/loadgen.out" 2>"$work/loadgen.err" || {
    cat "$work/loadgen.out" "$work/loadgen.err" >&2; cat "$work/node/parchad.log" >&2 || true; exit 1; }
  expect "$work/loadgen.out" "committed tx/s at full load (1 tx per request): " \
      "commit latency at full load (1 tx per request)" "parchad CPU at full load (1 tx per request): " \
      "half load (1 tx per request" \
      "record content read at the API" "timeline of " "VmRSS" \
      "restart to ready" "single-node committed tx/s: "
  # Batch mode (POST /v1/txs): exit 3 means the node does not have it.
  brc=0
  "$bin/loadgen" --parchad "$parchad" --txs 1000 --batch 100 --conns 2 --patients 20 \
      --records 30 --reads 5 --half-seconds 1 --dir "$work/node-batch" \
      >"$work/loadgen-batch.out" 2>"$work/loadgen-batch.err" || brc=$?
  if [ "$brc" = 3 ]; then
    echo "smoke: batch mode skipped: the node has no POST /v1/txs"
  elif [ "$brc" != 0 ]; then
    cat "$work/loadgen-batch.out" "$work/loadgen-batch.err" >&2
    cat "$work/node-batch/parchad.log" >&2 || true
    exit 1
  else
    expect "$work/loadgen-batch.out" "committed tx/s at full load (batches of 100): " \
        "commit latency at full load (batches of 100)" "parchad CPU at full load (batches of 100): " \
        "half load (batches of 100" \
        "single-node committed tx/s (batches of 100): "
  fi
fi

if [ -n "$parchad" ] && [ -n "$parcha" ]; then
  for b in 0 50; do
    args=(--txs 300 --patients 30)
    mode="1 tx per request"
    if [ "$b" != 0 ]; then args+=(--batch "$b"); mode="batches of $b"; fi
    crc=0
    "$bin/loadgen" --cluster 3 --parcha "$parcha" --parchad "$parchad" "${args[@]}" \
        --dir "$work/cluster-$b" >"$work/cluster-$b.out" 2>"$work/cluster-$b.err" || crc=$?
    if [ "$b" != 0 ] && [ "$crc" = 3 ]; then
      echo "smoke: cluster batch mode skipped: the nodes have no POST /v1/txs"
      continue
    fi
    if [ "$crc" != 0 ]; then
      cat "$work/cluster-$b.out" "$work/cluster-$b.err" >&2
      for f in "$work/cluster-$b"/nodes/*/parchad.log; do
        [ -f "$f" ] && { echo "== $f" >&2; tail -30 "$f" >&2; }
      done
      exit 1
    fi
    expect "$work/cluster-$b.out" "3 hospitals (etcd) full load (" \
        "3 hospitals (etcd) commit latency ($mode): " "same chain on all 3 nodes: height " \
        "3 hospitals (etcd) committed tx/s ($mode): "
    if [ -e "$work/cluster-$b" ]; then
      echo "smoke: loadgen --cluster left $work/cluster-$b behind" >&2
      exit 1
    fi
  done
fi
echo "bench smoke: every benchmark ran and reported"
