#!/bin/sh
# Fetches the small real data files that only Debian's archive holds, as single
# files extracted from their packages (nothing is installed):
#   digits (UCI optdigits, 1,797 8x8 images) from python3-sklearn
#   ImageNet-21k WordNet ids and short names (darknet's imagenet.labels.list and
#   imagenet.shortnames.list, 21,842 lines each) from darknet, for naming the
#   21,843 outputs of the BiT-M heads (src/data/imagenet.ts says how)
# into ${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}. Idempotent.
set -eu
dir="${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}"
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch PACKAGE WHAT MEMBER DEST: extracts ./MEMBER of PACKAGE's .deb to $dir/DEST (unless DEST is there)
fetch() {
  [ -s "$dir/$4" ] && return 0
  ls "$tmp"/"$1"_*.deb >/dev/null 2>&1 || (cd "$tmp" && apt-get download "$1" >/dev/null 2>&1) || {
    [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null && (cd "$tmp" && apt-get download "$1" >/dev/null)
  } || { echo "fetch-debian-data: could not download $1 (for $2)" >&2; exit 1; }
  dpkg-deb --fsys-tarfile "$tmp"/"$1"_*.deb | tar -x -C "$tmp" "./$3"
  mkdir -p "$(dirname "$dir/$4")"
  mv "$tmp/$3" "$dir/$4.part"
  mv "$dir/$4.part" "$dir/$4"
  echo "fetch-debian-data: $2 -> $dir/$4"
}

fetch python3-sklearn 'the digits dataset' usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz digits.csv.gz
fetch darknet 'ImageNet-21k class ids' usr/share/darknet/data/imagenet.labels.list darknet/imagenet.labels.list
fetch darknet 'ImageNet-21k class names' usr/share/darknet/data/imagenet.shortnames.list darknet/imagenet.shortnames.list
