#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries a binary
# links (ldd + dpkg -S), one per line. The Dockerfile's build stage writes
# this list for the runtime stage, so the image carries exactly the runtime
# libraries the binary needs, whatever the build links today.
#
#   deploy/docker/runtime-packages.sh build/ferrocache
set -euo pipefail
bin=${1:?usage: runtime-packages.sh BINARY}
if ldd "$bin" | grep -q "not found"; then
  ldd "$bin" >&2
  exit 1
fi
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  # Merged /usr: a library found under /lib is owned by its /usr/lib path.
  real=$(readlink -f "$lib")
  pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null ||
    dpkg -S "/usr$real" 2>/dev/null) || {
    echo "runtime-packages: no package owns $lib" >&2
    exit 1
  }
  echo "${pkg%%:*}"
done | sort -u
