#!/usr/bin/env bash
# Renders every Graphviz diagram source under docs/ (*.dot) to an SVG next to it. The SVGs
# are committed, so readers need no Graphviz; run this after editing a .dot file and commit
# both. Needs `dot` (Debian: apt-get install graphviz).
set -euo pipefail
docs=$(cd "$(dirname "$0")" && pwd)
command -v dot >/dev/null || { echo "render-diagrams: needs Graphviz's dot (apt-get install graphviz)" >&2; exit 1; }
for src in "$docs"/*.dot; do
    out=${src%.dot}.svg
    dot -Tsvg "$src" -o "$out"
    echo "rendered ${out#"$docs"/}"
done
