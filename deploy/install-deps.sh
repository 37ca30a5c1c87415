#!/usr/bin/env bash
# Installs every build, test and run dependency of FerroCache on Debian 12.
# Idempotent: a machine that already has everything skips apt entirely.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libcaf-dev libssl-dev
  libhnswlib-dev
  libboost-dev libboost-system-dev
  libmsgpack-cxx-dev
  liblmdb-dev lmdb-utils
  libspdlog-dev libfmt-dev
  catch2
  libsimdjson-dev
  libtomlplusplus-dev
  clang libclang-rt-14-dev clang-format
  prometheus
  curl python3 python3-venv python3-pip
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
