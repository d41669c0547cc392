#!/bin/sh
# Installs Debian packages by name, refreshing the package lists first when they are missing or
# older than a day. Needs root (or sudo). Usage: scripts/apt-install.sh PACKAGE...
set -eu
[ "$#" -gt 0 ] || exit 0
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
  $SUDO apt-get update -q
fi
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
