#!/bin/sh
# Fetches the small real datasets that only Debian's archive holds, as single
# files extracted from their packages (nothing is installed):
#   digits (UCI optdigits, 1,797 8x8 images) from python3-sklearn
# into ${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}. Idempotent.
set -eu
dir="${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}"
mkdir -p "$dir"
if [ ! -s "$dir/digits.csv.gz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download python3-sklearn >/dev/null 2>&1) || {
    [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null && (cd "$tmp" && apt-get download python3-sklearn >/dev/null)
  } || { echo "fetch-debian-data: could not download python3-sklearn (for the digits dataset)" >&2; exit 1; }
  dpkg-deb --fsys-tarfile "$tmp"/python3-sklearn_*.deb | tar -x -C "$tmp" ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  mv "$tmp/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz" "$dir/digits.csv.gz.part"
  mv "$dir/digits.csv.gz.part" "$dir/digits.csv.gz"
  echo "fetch-debian-data: digits -> $dir/digits.csv.gz"
fi
