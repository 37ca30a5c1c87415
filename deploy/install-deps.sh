#!/usr/bin/env bash
# Installs every build, test and run dependency of FerroCache on Debian 12.
# Idempotent: a machine that already has everything skips apt entirely.
#
#   deploy/install-deps.sh           everything: build, test, fuzz, monitoring, Python
#   deploy/install-deps.sh --build   only what compiling the server needs (the
#                                    build stage of the Dockerfile)
set -euo pipefail

# Compiling the server (and its libraries) needs these and nothing else.
build_packages=(
  build-essential cmake ninja-build pkg-config ca-certificates
  libcaf-dev libssl-dev
  libhnswlib-dev
  libboost-dev libboost-system-dev
  libmsgpack-cxx-dev
  liblmdb-dev
  libspdlog-dev libfmt-dev
  libsimdjson-dev
  libtomlplusplus-dev
)
# Tests, fuzzing, monitoring checks, the Python environment, tools.
dev_packages=(
  git lmdb-utils
  catch2
  clang libclang-rt-14-dev clang-format
  prometheus
  curl python3 python3-venv python3-pip
)

case "${1:-}" in
  --build) packages=("${build_packages[@]}") ;;
  "") packages=("${build_packages[@]}" "${dev_packages[@]}") ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

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
