#!/bin/sh
# Installs everything the test suite needs on a Debian host: the daemon's own packages and npm
# dependencies, plus the real parts tests start themselves: sshd nodes in network namespaces
# (iproute2, openssh-server), their Debian root trees (debootstrap), an OpenStack Swift all-in-one
# for s3:// storage, real TFTP clients (tftp-hpa, atftp), and a VM that network-boots a restore
# (qemu with iPXE, dnsmasq for its DHCP).
set -eu
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/apt-install.sh openssh-server iproute2 debootstrap util-linux file age tftp-hpa atftp qemu-system-x86 ipxe-qemu qemu-utils dnsmasq-base
# shellcheck disable=SC2046
scripts/apt-install.sh $(grep -v '^#' scripts/swift-packages.txt)
