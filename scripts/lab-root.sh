#!/bin/sh
# Build (once) and print the path of the cached Debian root tree that test nodes boot from.
#
# The cache key is the hash of this script, so changing the package list or the build steps
# yields a new tree. The tree is built under a temporary name and renamed into place only when
# complete, so an interrupted build is never used; a lock serialises concurrent test runs.
#
# Usage: scripts/lab-root.sh            -> prints the tree's path on stdout (logs on stderr)
# Env:   REARGUARD_LAB_CACHE (default /var/cache/rearguard-lab)
#        REARGUARD_LAB_MIRROR (default http://deb.debian.org/debian)
set -eu

CACHE=${REARGUARD_LAB_CACHE:-/var/cache/rearguard-lab}
MIRROR=${REARGUARD_LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# What a node needs: sshd + python3 for ansible, ReaR 2.7 with what it needs to make a bootable
# ISO from a real kernel, MariaDB as the service to quiesce, and the tools the tests probe with;
# a DHCP client so that a rescue system booted elsewhere (a restore test's VM) gets an address.
PACKAGES="openssh-server python3 rear linux-image-amd64 xorriso isolinux syslinux syslinux-common
extlinux grub-pc-bin grub2-common busybox iproute2 kmod file procps less udev systemd-sysv gzip tar
mariadb-server mariadb-client isc-dhcp-client"

KEEP_MODULES='^\./(arch|block|crypto|lib)/|^\./fs/(ext4|jbd2|isofs|fat|vfat|nls)/|^\./fs/mbcache|^\./drivers/(virtio|cdrom)/|^\./drivers/net/ethernet/intel/e1000e?/|^\./drivers/net/(virtio_net|net_failover|mii)\.|^\./net/core/failover\.|^\./drivers/block/virtio_blk\.|^\./drivers/scsi/(scsi_mod|scsi_common|sd_mod|sr_mod|virtio_scsi)\.|^\./drivers/ata/(libata|ata_piix|ata_generic|ahci|libahci)\.'

KEY=$(sha256sum "$0" | cut -c1-16)
FINAL="$CACHE/root-$KEY"

if [ -d "$FINAL" ]; then echo "$FINAL"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
# Another run may have finished the build while we waited for the lock.
if [ -d "$FINAL" ]; then echo "$FINAL"; exit 0; fi

# Leftovers of interrupted builds: their mounts first, then the trees.
for old in "$CACHE"/*.partial.*; do
  [ -e "$old" ] || continue
  findmnt -rn -o TARGET | grep -F "$old/" | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$old"
done

WORK="$FINAL.partial.$$"
cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$WORK/$m" 2>/dev/null && umount -l "$WORK/$m"; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "lab-root: debootstrap $SUITE minbase into $WORK" >&2
debootstrap --variant=minbase "$SUITE" "$WORK" "$MIRROR" >&2

# Keep the tree (and so every node's ReaR archive) small: no docs, man pages or locales.
cat > "$WORK/etc/dpkg/dpkg.cfg.d/01-lab-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
# A small InnoDB redo log (the default preallocates 96 MiB of it in every node's tree and archive).
mkdir -p "$WORK/etc/mysql/mariadb.conf.d"
printf '[mysqld]\ninnodb_log_file_size=8M\ninnodb_buffer_pool_size=32M\n' > "$WORK/etc/mysql/mariadb.conf.d/60-lab.cnf"
# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$WORK/usr/sbin/policy-rc.d"
chmod 755 "$WORK/usr/sbin/policy-rc.d"

mount -t proc proc "$WORK/proc"
mount -t sysfs sysfs "$WORK/sys"
mount --bind /dev "$WORK/dev"
mount --bind /dev/pts "$WORK/dev/pts"

echo "lab-root: installing packages" >&2
# shellcheck disable=SC2086
chroot "$WORK" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  sh -c "apt-get install -y --no-install-recommends $(echo $PACKAGES) && apt-get clean" >&2

# Only the kernel modules a node's rescue system can use under qemu (NICs, virtio, disks, the
# filesystems it restores): the rest of the 400 MB would only make every copy and archive slower.
KVER=$(ls "$WORK/usr/lib/modules")
( cd "$WORK/usr/lib/modules/$KVER/kernel" && find . -name '*.ko*' | grep -Ev -e "$KEEP_MODULES" | xargs rm -f )
find "$WORK/usr/lib/modules/$KVER/kernel" -depth -type d -empty -delete
chroot "$WORK" depmod "$KVER"
# ReaR builds its own initrd: the distribution's is never used by a lab node.
rm -f "$WORK"/boot/initrd.img-*
# What minbase installed before the no-doc rule above.
find "$WORK/usr/share/doc" "$WORK/usr/share/man" "$WORK/usr/share/info" -mindepth 1 -delete
find "$WORK/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

for m in dev/pts dev proc sys; do umount "$WORK/$m"; done
rm -f "$WORK/usr/sbin/policy-rc.d"
rm -rf "$WORK"/var/lib/apt/lists/* "$WORK"/etc/ssh/ssh_host_*
mkdir -p "$WORK/run/sshd" "$WORK/root/.ssh"
chmod 700 "$WORK/root/.ssh"

mv -T "$WORK" "$FINAL"
trap - EXIT
echo "lab-root: ready $FINAL" >&2
echo "$FINAL"
