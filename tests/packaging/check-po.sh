#!/bin/sh
# A .po file must compile with msgfmt --check (format specifiers match the
# msgids) and be complete: no untranslated and no fuzzy entries. New source
# strings reach po/*.po through `ninja -C build nornicdb-update-po`.
set -eu
po="$1"
stats=$(LC_ALL=C msgfmt --check --statistics --output-file=/dev/null "$po" 2>&1) || {
  echo "$stats"
  echo "0 passed, 1 failed"
  exit 1
}
echo "$po: $stats"
case "$stats" in
  *untranslated* | *fuzzy*)
    echo "$po is incomplete: translate the untranslated and fuzzy entries"
    echo "1 passed, 1 failed"
    exit 1
    ;;
esac
echo "2 passed, 0 failed"
