#!/usr/bin/env bash
# Build the web UI's vendor/ folder: install the npm packages named in
# package.json (npm ci when the lock file is there) and copy the few browser
# files the pages load out of node_modules. No bundler: the pages are plain
# ES modules. web/vendor/ is git-ignored; run this after a fresh clone.
#   web/build.sh            install and copy
#   web/build.sh --no-install   copy only (node_modules already there)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [[ "${1:-}" != "--no-install" ]]; then
  if ! command -v npm >/dev/null; then
    echo "web/build.sh: npm is not installed (apt-get install -y nodejs npm)" >&2
    exit 1
  fi
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi

nm="$here/node_modules"
out="$here/vendor"
rm -rf "$out.tmp"
mkdir -p "$out.tmp"

copy() { # copy SRC DEST-NAME, failing clearly when a package changed layout
  if [[ ! -f "$nm/$1" ]]; then
    echo "web/build.sh: $nm/$1 is missing (package layout changed?)" >&2
    exit 1
  fi
  cp "$nm/$1" "$out.tmp/$2"
}

copy bootstrap/dist/css/bootstrap.min.css bootstrap.min.css
# libsodium: the sumo build (the standard build has no crypto_pwhash/Argon2id).
# The ESM wrapper imports the bare name "libsodium-sumo"; point it at the
# copied file so no import map is needed. Both keep a .js name so any static
# server sends them as JavaScript.
copy libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs libsodium-sumo.js
copy libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs libsodium-wrappers-sumo.js
sed -i 's#from"libsodium-sumo"#from"./libsodium-sumo.js"#; s#from "libsodium-sumo"#from "./libsodium-sumo.js"#' \
  "$out.tmp/libsodium-wrappers-sumo.js"
if ! grep -q './libsodium-sumo.js' "$out.tmp/libsodium-wrappers-sumo.js"; then
  echo "web/build.sh: could not point libsodium-wrappers at libsodium-sumo" >&2
  exit 1
fi
copy qrcode-generator/dist/qrcode.mjs qrcode.js
copy jsqr/dist/jsQR.js jsQR.js
# Node (the unit tests) must read the vendored .js files as ES modules.
printf '{"type": "module"}\n' > "$out.tmp/package.json"

rm -rf "$out"
mv "$out.tmp" "$out"
echo "web/build.sh: vendor files ready in $out"
