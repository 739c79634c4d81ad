#!/usr/bin/env bash
# Run one Node test file of tests/e2e under ctest. Exits 77 (ctest: skipped)
# with the reason when a prerequisite is missing, so a machine without Node
# or Chromium says so instead of failing obscurely.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
web="$here/../../web"
test_file="$1"
if ! command -v node >/dev/null; then
  echo "SKIP: node is not installed (apt-get install -y nodejs npm)"; exit 77
fi
if [[ ! -f "$web/vendor/libsodium-wrappers-sumo.js" ]]; then
  echo "SKIP: web/vendor is missing: run web/build.sh"; exit 77
fi
if [[ "$test_file" == journey.test.mjs ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    echo "SKIP: /usr/bin/chromium is not installed (apt-get install -y chromium)"; exit 77
  fi
  for b in "${PARCHAD:-}" "${PARCHA:-}"; do
    if [[ ! -x "$b" ]]; then
      echo "SKIP: $b is not built yet"; exit 77
    fi
  done
fi
exec node --test --test-reporter=spec "$here/$test_file"
