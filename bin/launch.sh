# Sourced by the launchers in bin/: runs $entry (a path under the repository without its
# extension, e.g. daemon/unicardd) from dist/ when `make build` made it after the last change
# to any source, and from the TypeScript sources through tsx otherwise (slower to start, but
# never stale).
here=$(dirname "$(readlink -f "$0")")
root=$(cd "$here/.." && pwd)
stamp="$root/dist/.unicard-build"
if [ -f "$stamp" ] && [ -f "$root/dist/$entry.js" ] && \
   [ -z "$(find "$root/protocol" "$root/link" "$root/firmware-sim" "$root/daemon" -name '*.ts' -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exec node $node_flags "$root/dist/$entry.js" "$@"
fi
exec node $node_flags --import "file://$root/node_modules/tsx/dist/loader.mjs" "$root/$entry.ts" "$@"
