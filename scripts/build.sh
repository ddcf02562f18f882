#!/usr/bin/env bash
# Compiles protocol/, link/, firmware-sim/ and daemon/ into dist/ (what production runs: the
# tsx loader costs the daemon about 1 ms of CPU per authorization, BENCHMARKS.md). The stamp
# tells bin/ launchers that dist/ is as new as the sources; it is written only on success, so
# a failed build never leaves a half-new dist/ that the launchers would trust.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f dist/.unicard-build
node node_modules/typescript/bin/tsc -p tsconfig.build.json
touch dist/.unicard-build
