#!/bin/sh
# docs/configuration.md must be exactly what the configuration table prints.
set -eu
bin="$1"
doc="$2"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" --config-reference >"$tmp"
if ! diff -u "$doc" "$tmp"; then
  echo "docs/configuration.md is out of date: regenerate it with"
  echo "  build/nornicdb --config-reference > docs/configuration.md"
  exit 1
fi
echo "1 passed, 0 failed"
