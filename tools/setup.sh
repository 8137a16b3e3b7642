#!/bin/sh
# Installs what NornicDB needs to build (and, with --test, to run its test
# suite) on Debian 12, as root. Idempotent: only missing packages are
# installed.
set -eu

cd "$(dirname "$0")/.."

BUILD_PKGS="gcc meson ninja-build pkg-config gettext libglib2.0-dev libjson-glib-dev libgnutls28-dev libmicrohttpd-dev nettle-dev"
TEST_PKGS="python3-yaml jq openssl clang libclang-rt-14-dev prometheus curl iproute2 gnutls-bin procps debhelper dpkg-dev build-essential groff-base systemd"

want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"
command -v node >/dev/null 2>&1 || want="$want nodejs npm"

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi

# Configure the build directory (a fresh one, or refresh an existing one).
if [ -f build/build.ninja ]; then
  meson setup --reconfigure build
else
  meson setup build
fi

# `meson test` rebuilds only what tests link against; the daemon loads its
# replication modules at run time, so build everything.
if [ "${1:-}" = "--test" ]; then
  ninja -C build
fi
