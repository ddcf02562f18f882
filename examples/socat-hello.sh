#!/bin/sh
# Talks to unicardd's local API with nothing but a shell and socat: hello, then
# terminals.list. Any language that can open a Unix socket and write a line can do the same.
#
#   UNICARD_TOKEN=... examples/socat-hello.sh [socket-path]
#
# The socket path defaults to $UNICARD_SOCKET, then /var/lib/unicard/unicardd.sock.
# Each request is one JSON object on one line; each answer comes back as one line, in order.
# After the last request socat half-closes the socket; the daemon answers what it read and
# closes its side, and socat exits.
set -eu

SOCKET="${1:-${UNICARD_SOCKET:-/var/lib/unicard/unicardd.sock}}"
TOKEN="${UNICARD_TOKEN:?set UNICARD_TOKEN to a token from the daemon config}"

command -v socat >/dev/null 2>&1 || { echo "socat is not installed (apt-get install socat)" >&2; exit 2; }

# The token goes inside a JSON string: refuse characters that would need escaping.
case "$TOKEN" in
  *[!A-Za-z0-9._~+/=-]*) echo "UNICARD_TOKEN has characters this example does not escape" >&2; exit 2 ;;
esac

printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"hello","params":{"token":"'"$TOKEN"'","client":"socat example"}}' \
  '{"jsonrpc":"2.0","id":2,"method":"terminals.list"}' |
  socat -t 5 - "UNIX-CONNECT:$SOCKET"
