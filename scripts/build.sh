#!/usr/bin/env bash
# Compiles protocol/, link/, firmware-sim/ and daemon/ into dist/ (what production runs: it
# starts in 0.25 s instead of 0.65 s under the tsx loader, with no loader in memory). The stamp
# tells bin/ launchers that dist/ is as new as the sources; it is written only on success, so
# a failed build never leaves a half-new dist/ that the launchers would trust.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f dist/.unicard-build
node node_modules/typescript/bin/tsc -p tsconfig.build.json
touch dist/.unicard-build
