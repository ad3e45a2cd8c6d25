#!/usr/bin/env bash
# Copies a handful of inputs of a working corpus, spread over its sizes (all
# under 2 KiB), into the committed seed corpus: `fuzz/pick-seeds.sh <target> <dir>`.
set -euo pipefail
target="$1"; from="$2"; n="${3:-8}"
to="$(dirname "$0")/corpus/$target"
mkdir -p "$to"
mapfile -t files < <(find "$from" -type f -size -2k -printf '%s %p\n' | sort -n | awk '{print $2}')
count=${#files[@]}
[ "$count" -gt 0 ] || exit 0
for i in $(seq 0 $((n - 1))); do
    cp "${files[$(( (count - 1) * i / (n - 1) ))]}" "$to/"
done
ls "$to" | wc -l
