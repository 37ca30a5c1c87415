#!/usr/bin/env bash
# Creates the project's Python virtualenv with the test tools and the client
# package (with every integration extra) installed from PyPI.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
stamp="$venv/.ferrocache-stamp"
want=$(cat "$here/clients/python/pyproject.toml" "$here/deploy/python-requirements.txt" 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$here/deploy/python-requirements.txt"
if [ -f "$here/clients/python/pyproject.toml" ]; then
  "$venv/bin/python" -m pip install -q -e "$here/clients/python[all]"
fi
echo "$want" > "$stamp"
