#!/bin/sh
# Test programs leave no trace: each given test program runs from an empty folder with TMPDIR
# pointing at another empty folder; afterwards both must still be empty (nothing written where
# the program was started, and its own temporary folder removed).
set -u
scratch=$(mktemp -d "${TMPDIR:-/tmp}/armfarm_no_trace_XXXXXX") || exit 1
mkdir "$scratch/cwd" "$scratch/tmp"
rc=0
for prog in "$@"; do
  (cd "$scratch/cwd" && TMPDIR="$scratch/tmp" "$prog" --jobs 1 >/dev/null 2>&1) || { echo "no_trace: $prog failed"; rc=1; }
  left=$(ls -A "$scratch/cwd" "$scratch/tmp" | grep -v ':$' | grep -v '^$')
  if [ -n "$left" ]; then
    echo "no_trace: $(basename "$prog") left behind:"; ls -AR "$scratch/cwd" "$scratch/tmp"; rc=1
    find "$scratch/cwd" "$scratch/tmp" -mindepth 1 -delete
  fi
done
rm -rf "$scratch"
exit $rc
