#!/bin/sh
# Fetches the small real data files that only Debian's archive holds, as single
# files extracted from their packages (nothing is installed):
#   digits (UCI optdigits, 1,797 8x8 images) from python3-sklearn
#   samples/: photographs from python3-skimage's skimage/data (chelsea.png, a
#     cat; coffee.png; astronaut.png; rocket.jpg; camera.png, grey; logo.png,
#     with alpha; truncated.jpg, a deliberately broken JPEG) and darknet's
#     dog.jpg, for the predict, serve and web-export tests and the benchmarks
#   ImageNet-21k WordNet ids and short names (darknet's imagenet.labels.list and
#   imagenet.shortnames.list, 21,842 lines each) from darknet, for naming the
#   21,843 outputs of the BiT-M heads (src/data/imagenet.ts says how)
# into ${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}. Idempotent.
set -eu
dir="${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}"
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch PACKAGE TARGET MEMBER: extracts MEMBER (a path inside PACKAGE) to TARGET unless it is there
fetch() {
  pkg=$1 target=$2 member=$3
  [ -s "$target" ] && return 0
  if [ -z "$(ls "$tmp"/"$pkg"_*.deb 2>/dev/null)" ]; then
    (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
      [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null && (cd "$tmp" && apt-get download "$pkg" >/dev/null)
    } || { echo "fetch-debian-data: could not download $pkg (for $(basename "$target"))" >&2; exit 1; }
  fi
  dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb | tar -x -C "$tmp" "./$member"
  mkdir -p "$(dirname "$target")"
  mv "$tmp/$member" "$target.part"
  mv "$target.part" "$target"
  echo "fetch-debian-data: $pkg -> $target"
}

fetch python3-sklearn "$dir/digits.csv.gz" usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
for f in chelsea.png coffee.png astronaut.png rocket.jpg camera.png logo.png truncated.jpg; do
  fetch python3-skimage "$dir/samples/$f" "usr/lib/python3/dist-packages/skimage/data/$f"
done
fetch darknet "$dir/samples/dog.jpg" usr/share/darknet/data/dog.jpg
fetch darknet "$dir/darknet/imagenet.labels.list" usr/share/darknet/data/imagenet.labels.list
fetch darknet "$dir/darknet/imagenet.shortnames.list" usr/share/darknet/data/imagenet.shortnames.list
