#!/usr/bin/env bash
# Build the docs site into OUTDIR: bash docs/build.sh OUTDIR
# Needs the [docs] extra (pip install -e ".[docs]"); installs nothing. Warnings are errors.
# $PYTHON picks the interpreter (default: python).
set -euo pipefail
out=${1:?usage: bash docs/build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
py=${PYTHON:-python}
MPLBACKEND=Agg "$py" "$here/site.py" "$src"
"$py" -m sphinx -W --keep-going -q -b html -d "$src/.doctrees" "$src" "$out"
