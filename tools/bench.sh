#!/bin/sh
# The one benchmark command: builds an optimised binary in build-release/,
# installs the peers it compares against when they are missing (Debian
# redis-server, etcd-server, etcd-client; the npm clients in tests/), then
# runs tools/bench.mjs, which starts everything on loopback, prints one table
# and writes bench-results.json.
#
#   tools/bench.sh [--quick] [--json FILE] [more options: tools/bench.sh --help]
#
# BENCH_BUILD_DIR (default build-release) and NINJA_JOBS (default 2) adjust
# the build. The release build (-O3) keeps the project's -Werror, like every
# other build.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-release}

for a in "$@"; do
  case "$a" in
    -h|--help) exec node tools/bench.mjs --help ;;
  esac
done

# ---- peers ---------------------------------------------------------------------------
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v etcd >/dev/null 2>&1 || missing="$missing etcd-server"
command -v etcdctl >/dev/null 2>&1 || missing="$missing etcd-client"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing$missing" >&2
    # Debian's policy-rc.d in containers keeps the packaged services from
    # starting; on a full system stop them again if they start, the
    # benchmark runs its own instances on free ports.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2
  else
    echo "bench: not installed:$missing (needs root and apt-get); those rows will say not available" >&2
  fi
fi

if ! (cd tests && node -e "for (const m of ['neo4j-driver','redis','etcd3','kuzu']) require.resolve(m)") 2>/dev/null; then
  echo "bench: npm ci in tests/" >&2
  (cd tests && npm ci >&2)
fi

# ---- release build -----------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release >&2
fi
targets="nornicdb tests/bench/bench-group-commit tests/bench/bench-bolt tests/bench/bench-load"
for m in standalone ha_standby raft; do
  if ninja -C "$build" -t targets all 2>/dev/null | grep -q "^modules/$m/$m.so:"; then
    targets="$targets modules/$m/$m.so"
  fi
done
echo "bench: ninja -C $build $targets" >&2
# shellcheck disable=SC2086
ninja -C "$build" -j "${NINJA_JOBS:-2}" $targets >&2

NORNICDB_BIN="$root/$build/nornicdb" exec node tools/bench.mjs "$@"
