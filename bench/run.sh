#!/usr/bin/env bash
# Runs parcha's benchmarks (issue 5) on this machine and prints one line per
# figure, ending with "single-node committed tx/s: N".
#
#   bench/run.sh [--quick] [--keep]
#
# Builds a Release tree in build-bench-release (override with
# PARCHA_BENCH_BUILD; extra cmake arguments in PARCHA_BENCH_CMAKE_ARGS), then
# runs:
#   bench_apply   the ledger's apply path on a chain it builds (1M tx; --quick 20k)
#   bench_query   timeline and content-read paths on that chain, ledger open
#   bench_verify  `parcha verify` (pc_ledger_verify) on that chain, 2 threads
#   bench_watch   reading one etcd watch message that carries a proposal
#   loadgen       a real parchad over HTTP (1M tx; --quick 20k), one tx per
#                 POST /v1/tx; then, if the node has POST /v1/txs, the full
#                 load again in batches of 500 (200k tx; --quick 20k)
#   loadgen --cluster 3
#                 three hospitals with etcd on this machine (parcha devnet:
#                 3 etcd members, 3 parchad), all three nodes driven at once
#                 (300k tx; --quick 10k), one tx per request, then in batches
#                 of 500
# The last line gives the better of the two single-node modes; the line
# before it names that mode.
# Every program measures the machine's Ed25519 rate in the same run and gives
# its figures as a ratio to that signature-check limit. Progress and details
# go to the log named at the end; --keep keeps the chain and the node folder.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${PARCHA_BENCH_BUILD:-$src/build-bench-release}
quick=0
keep=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: bench/run.sh [--quick] [--keep]" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/parcha-bench-run-XXXXXX)
log=$work/run.log
ok=0
cleanup() { if [ "$keep" = 0 ] && [ "$ok" = 1 ]; then rm -rf "$work/chain" "$work/node" "$work/node-batch" "$work/cluster" "$work/cluster-batch"; fi; }
trap cleanup EXIT
fail() {
  echo "bench/run.sh: $1 failed; files kept in $work; last lines of $log:" >&2
  tail -20 "$log" >&2
  exit 1
}

t0=$(date +%s)
# shellcheck disable=SC2086
{ cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPARCHA_TESTS=OFF ${PARCHA_BENCH_CMAKE_ARGS:-} &&
  cmake --build "$build" -j"$(nproc)" --target bench_apply bench_query bench_verify bench_watch loadgen parchad parcha
} >"$log" 2>&1 || fail "the Release build"
echo "build: Release in $build ($(( $(date +%s) - t0 )) s)"

if [ "$quick" = 1 ]; then
  apply_args=(--quick); query_args=(--iters 50 --reads 100); lg_args=(--quick)
  batch_args=(--quick); cluster_args=(--txs 10000 --patients 300)
else
  apply_args=(--txs 1000000); query_args=(--iters 200 --reads 500); lg_args=(--txs 1000000)
  batch_args=(--txs 200000); cluster_args=(--txs 300000 --patients 3000)
fi
batch=500

# One figure per line: keep the programs' stdout, drop their banners' repeats.
machine_seen=0
show() {
  while IFS= read -r line; do
    case $line in
      machine:*) [ "$machine_seen" = 1 ] && continue; machine_seen=1 ;;
      "single-node committed tx/s:"*) tps_line=$line; continue ;;
      "single-node committed tx/s (batches of"*) batch_line=$line ;;
      "ledger kept in"*) continue ;;
    esac
    echo "$line"
  done
}

tps_line=
batch_line=
"$build/bench/bench_apply" "${apply_args[@]}" --dir "$work/chain" --keep >"$work/apply.out" 2>>"$log" ||
  fail bench_apply
show <"$work/apply.out"
"$build/bench/bench_query" --dir "$work/chain" "${query_args[@]}" >"$work/query.out" 2>>"$log" ||
  fail bench_query
show <"$work/query.out"
"$build/bench/bench_verify" --dir "$work/chain" >"$work/verify.out" 2>>"$log" || fail bench_verify
show <"$work/verify.out"
"$build/bench/bench_watch" >"$work/watch.out" 2>>"$log" || fail bench_watch
show <"$work/watch.out"
"$build/bench/loadgen" --parchad "$build/parchad" "${lg_args[@]}" --dir "$work/node" \
  >"$work/loadgen.out" 2>>"$log" || fail loadgen
show <"$work/loadgen.out"

# The full load again with POST /v1/txs, if the node has it (loadgen exits 3
# when the node answers 404 to it).
brc=0
"$build/bench/loadgen" --parchad "$build/parchad" "${batch_args[@]}" --batch "$batch" --full-only \
  --dir "$work/node-batch" >"$work/loadgen-batch.out" 2>>"$log" || brc=$?
if [ "$brc" = 3 ]; then
  echo "single-node batch mode: not measured (the node has no POST /v1/txs yet)"
elif [ "$brc" != 0 ]; then
  fail "loadgen --batch $batch"
else
  show < <(grep "batches of" "$work/loadgen-batch.out")
fi

"$build/bench/loadgen" --cluster 3 --parcha "$build/parcha" --parchad "$build/parchad" \
  "${cluster_args[@]}" --dir "$work/cluster" >"$work/cluster.out" 2>>"$log" || fail "loadgen --cluster 3"
show < <(grep -v "^ed25519 verify" "$work/cluster.out")
# The consortium again with POST /v1/txs (each node's gateway batching).
crc=0
"$build/bench/loadgen" --cluster 3 --parcha "$build/parcha" --parchad "$build/parchad" \
  "${cluster_args[@]}" --batch "$batch" --dir "$work/cluster-batch" >"$work/cluster-batch.out" 2>>"$log" || crc=$?
if [ "$crc" = 3 ]; then
  echo "3 hospitals (etcd) batch mode: not measured (the nodes have no POST /v1/txs)"
elif [ "$crc" != 0 ]; then
  fail "loadgen --cluster 3 --batch $batch"
else
  show < <(grep -E "^3 hospitals \(etcd\) (full load|commit latency|committed tx/s|load average|flow control)" "$work/cluster-batch.out")
fi
echo "total time: $(( $(date +%s) - t0 )) s; details in $log"
ok=1
# The last line: the better of the two single-node modes, named on the line before.
single=${tps_line##*: }
if [ -n "$batch_line" ] && [ "${batch_line##*: }" -gt "$single" ]; then
  echo "single-node best mode: batches of $batch (${batch_line##*: } tx/s; 1 tx per request: $single tx/s)"
  echo "single-node committed tx/s: ${batch_line##*: }"
else
  echo "single-node best mode: 1 tx per request ($single tx/s${batch_line:+; batches of $batch: ${batch_line##*: } tx/s})"
  echo "$tps_line"
fi
