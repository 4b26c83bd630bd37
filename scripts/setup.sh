#!/bin/sh
# One-time (and idempotent) set-up on a fresh Debian machine: installs the
# system packages that are missing (as root), fetches the small datasets that
# come from Debian's archive, installs the npm packages, builds the native
# addon and compiles the TypeScript. Re-running it only rebuilds what changed.
set -eu
cd "$(dirname "$0")/.."

PKGS="libtorch-dev libdnnl-dev libopenblas0-pthread libgloo-dev dataset-fashion-mnist fontconfig fonts-dejavu-core python3-numpy python3-torch python3-onnx chromium python3-protobuf python3-crc32c protobuf-compiler"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: these Debian packages are missing:$missing" >&2
    echo "setup: run this script as root, or install them: apt-get install -y$missing" >&2
    exit 1
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

sh scripts/fetch-debian-data.sh

stamp=node_modules/.bit-setup-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f build/Release/bit_native.node ]; then
  # onnxruntime-node ships its CPU binaries in the npm package; its install script would
  # also fetch CUDA libraries from outside the npm registry (unused here, and unreachable)
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
else
  npm run --silent build
fi
