#!/usr/bin/env bash
# Runs parcha on this machine: installs what is missing, builds, creates a demo
# network (3 hospitals, staff, 50 patients, a few hundred records) in ./demo
# the first time, and starts the node with the web UI on 127.0.0.1.
#   PARCHA_PORT=8080 PARCHA_DATA=demo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
port=${PARCHA_PORT:-8080}
data=${PARCHA_DATA:-demo}

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

if [ ! -f "$data/ledger.db" ]; then
  build/parcha demo --data "$data"
else
  echo "demo: using the existing network in $data (delete it for a fresh one)"
fi
echo
echo "parcha is starting: open http://127.0.0.1:$port/ in a browser (Ctrl-C stops it)."
exec build/parchad --data "$data" --listen "127.0.0.1:$port"
