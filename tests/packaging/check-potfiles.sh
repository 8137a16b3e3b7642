#!/bin/sh
# po/POTFILES.in must list exactly the source files with translatable strings
# (_(), N_(), C_(), NC_(), Q_()): a missing file means untranslatable
# messages, a stale entry breaks the nornicdb-pot target.
set -eu
src="$1"
cd "$src"
listed=$(mktemp)
found=$(mktemp)
trap 'rm -f "$listed" "$found"' EXIT

grep -v '^[[:space:]]*\(#\|$\)' po/POTFILES.in | sort -u >"$listed"
# Sources of the daemon and its modules; tests and fuzzers are not translated.
find core protocols modules -name '*.[ch]' -print0 |
  xargs -0 grep -lE '(^|[^A-Za-z0-9_])(N|C|NC|Q)?_[[:space:]]*\(' |
  sort -u >"$found"

passed=0
failed=0
missing=$(comm -13 "$listed" "$found")
if [ -n "$missing" ]; then
  echo "Files with translatable strings missing from po/POTFILES.in:"
  echo "$missing" | sed 's/^/  /'
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
stale=""
while IFS= read -r f; do
  [ -f "$f" ] || stale="$stale $f"
done <"$listed"
if [ -n "$stale" ]; then
  echo "po/POTFILES.in lists files that do not exist:$stale"
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
