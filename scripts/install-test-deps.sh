#!/bin/sh
# Installs everything the test suite needs on a Debian host: the daemon's own packages and npm
# dependencies, plus the real parts tests start themselves: sshd nodes in network namespaces
# (iproute2, openssh-server), their Debian root trees (debootstrap), an OpenStack Swift all-in-one
# for s3:// storage, and the tools tests probe with.
set -eu
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/apt-install.sh openssh-server iproute2 debootstrap util-linux file age
# shellcheck disable=SC2046
scripts/apt-install.sh $(grep -v '^#' scripts/swift-packages.txt)
