#!/usr/bin/env bash
# Keeps the arrows between folders pointing down (docs/architecture.md,
# "Modules"): fails, naming the file and the line, when a folder includes
# one it must not know about.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0

# forbid FOLDER-GLOB PATTERN WHY: no file matching the glob may have an
# #include line matching PATTERN.
forbid() {
  local files=$1 pattern=$2 why=$3
  local hits
  # shellcheck disable=SC2086
  hits=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" $files 2>/dev/null)
  if [ -n "$hits" ]; then
    printf 'include rule broken (%s):\n%s\n' "$why" "$hits"
    bad=1
  fi
}

forbid "common/*.?pp" "caf/|boost/|actors/|cluster/|http/|index/|storage/|service/|app/" "common/ is the ground floor"
forbid "index/*.?pp storage/*.?pp service/*.?pp" "caf/|actors/|cluster/|http/|app/" "index/, storage/ and service/ know no CAF and nothing above them"
forbid "quality/*.?pp" "caf/|actors/|cluster/|http/|index/|storage/|service/|app/" "quality/ sits just above common/ (index/ uses it)"
forbid "index/*.?pp" "storage/" "index/ and storage/ do not know each other"
forbid "storage/*.?pp" "index/" "index/ and storage/ do not know each other"
forbid "http/*.?pp" "caf/|actors/|cluster/|index/|storage/|app/" "http/ talks to a node only through service/"
forbid "actors/*.?pp" "cluster/|http/|app/|sim/" "actors/ never includes the floors above it"
forbid "cluster/*.?pp" "caf/|boost/|asio|actors/|http/|index/|storage/|app/" "the cluster cores are pure: no CAF, no sockets"
forbid "cluster/transport/*.?pp" "caf/|actors/|http/|index/|storage/|app/|cluster/edges/" "the transport carries bytes, no actors"
forbid "cluster/edges/*.?pp" "http/|index/|storage/|app/|sim/" "cluster edges reach data only through the actors"
forbid "common/*.?pp index/*.?pp storage/*.?pp service/*.?pp quality/*.?pp http/*.?pp cluster/*.?pp cluster/transport/*.?pp app/*.?pp" "sim/" "the simulator sits on top; nothing in the server includes it"
forbid "sim/*.?pp" "http/|app/" "the simulator drives nodes and cluster actors directly, not HTTP"

if [ "$bad" -ne 0 ]; then
  exit 1
fi
echo "include-rules: clean"
