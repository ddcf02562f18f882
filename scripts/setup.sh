#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine with Node 20:
# npm packages (npm ci, only when the lockfile changed), socat (for ptys) and tzdata.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "unicard needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

stamp=node_modules/.unicard-setup
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: installing npm packages (npm ci) ..."
  npm ci --no-audit --no-fund
  touch "$stamp"
fi

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo -n"

# apt_install PKG: install a Debian package, refreshing the package lists once if needed.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  $sudo_cmd apt-get install -y "$1" >/dev/null 2>&1 && return 0
  $sudo_cmd apt-get update >/dev/null 2>&1 && $sudo_cmd apt-get install -y "$1" >/dev/null 2>&1
}

if ! command -v socat >/dev/null 2>&1; then
  echo "setup: socat is missing; installing it with apt-get (it makes the virtual serial ports) ..."
  if ! apt_install socat; then
    echo "setup: could not install socat. Install it yourself: sudo apt-get install socat" >&2
    echo "       (the pty tests and the demo need it; everything else still works)" >&2
    exit 1
  fi
fi

# Egypt's days come from the system's tz file (daemon/time/egypt-time.ts); without it the
# daemon falls back to Intl, which works but costs ~8 MiB of memory: a warning, not an error.
if [ ! -e "${TZDIR:-/usr/share/zoneinfo}/Africa/Cairo" ]; then
  echo "setup: installing tzdata (Egypt's time zone rules for the daemon) ..."
  apt_install tzdata || echo "setup: warning: could not install tzdata; unicardd will use Intl for Africa/Cairo (sudo apt-get install tzdata)" >&2
fi

# node-hid's Linux build loads libusb-1.0 at run time. HID readers are optional: without it
# the daemon says so once and carries on, so a failure here is a warning, not an error.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  echo "setup: installing libusb-1.0-0 (for USB HID readers) ..."
  apt_install libusb-1.0-0 || echo "setup: warning: could not install libusb-1.0-0; HID readers stay disabled (sudo apt-get install libusb-1.0-0)" >&2
fi
