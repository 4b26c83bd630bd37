#!/bin/sh
# Fetches the small real datasets that only Debian's archive holds, as single
# files extracted from their packages (nothing is installed):
#   digits (UCI optdigits, 1,797 8x8 images) from python3-sklearn
#   a few photographs from python3-skimage's skimage/data (chelsea.png, a cat;
#   coffee.png; astronaut.png; rocket.jpg; camera.png, grey; logo.png, with
#   alpha; truncated.jpg, a deliberately broken JPEG) for `bit serve` / `bit
#   predict` tests and `bit bench --serve`
# into ${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}. Idempotent.
set -eu
dir="${BIT_DATA_DIR:-$HOME/.cache/bit-transfer}"
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# download PACKAGE: the .deb into $tmp (apt-get update once if the lists are missing)
download() {
  (cd "$tmp" && apt-get download "$1" >/dev/null 2>&1) || {
    [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null && (cd "$tmp" && apt-get download "$1" >/dev/null)
  } || { echo "fetch-debian-data: could not download $1 ($2)" >&2; exit 1; }
}

if [ ! -s "$dir/digits.csv.gz" ]; then
  download python3-sklearn "for the digits dataset"
  dpkg-deb --fsys-tarfile "$tmp"/python3-sklearn_*.deb | tar -x -C "$tmp" ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  mv "$tmp/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz" "$dir/digits.csv.gz.part"
  mv "$dir/digits.csv.gz.part" "$dir/digits.csv.gz"
  echo "fetch-debian-data: digits -> $dir/digits.csv.gz"
fi

PHOTOS="chelsea.png coffee.png astronaut.png rocket.jpg camera.png logo.png truncated.jpg"
missing=""
for f in $PHOTOS; do [ -s "$dir/skimage/$f" ] || missing="$missing $f"; done
if [ -n "$missing" ]; then
  download python3-skimage "for its sample photographs"
  src=./usr/lib/python3/dist-packages/skimage/data
  # shellcheck disable=SC2086
  dpkg-deb --fsys-tarfile "$tmp"/python3-skimage_*.deb | tar -x -C "$tmp" $(for f in $missing; do printf '%s/%s ' "$src" "$f"; done)
  mkdir -p "$dir/skimage"
  for f in $missing; do
    mv "$tmp/$src/$f" "$dir/skimage/$f.part"
    mv "$dir/skimage/$f.part" "$dir/skimage/$f"
  done
  echo "fetch-debian-data: photos ($missing ) -> $dir/skimage/"
fi
