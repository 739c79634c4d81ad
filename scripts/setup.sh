#!/usr/bin/env bash
# Installs everything parcha needs on a fresh Debian 12 machine: the C
# toolchain and libraries, etcd, Chromium for the browser tests, and the web
# UI's npm packages. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config clang git curl ca-certificates
  libsodium-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3
  libcurl4-openssl-dev libqrencode-dev libcmocka-dev
  etcd-server etcd-client chromium iproute2 procps jq)
# Node.js and npm only when the machine has none (a machine may carry a newer
# Node.js from elsewhere, which Debian's npm package would conflict with).
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The etcd package starts a system etcd on 2379; parcha's tests start their
# own members on free ports and never need it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi

if [ -x web/build.sh ]; then
  echo "setup: building the web UI (npm packages)"
  web/build.sh
fi
echo "setup: done"
