#!/bin/sh
# Installs what the daemon needs on a Debian host, then the project's npm dependencies.
#   ansible (the full package: its ansible.posix.jsonl callback streams run events), rear and the
#   tools ReaR uses to build ISO rescue images (cpio for its initrd: Debian's rear package does not
#   depend on it, and minimal images lack it), the ssh client for remote nodes, and the network
#   bootloaders the daemon serves to nodes it restores (pxelinux + ldlinux, iPXE).
set -eu
cd "$(dirname "$0")/.."
scripts/apt-install.sh ansible rear cpio xorriso isolinux syslinux-common openssh-client python3 ca-certificates pxelinux ipxe
npm ci --no-audit --no-fund
