#!/bin/sh
# Build (once) and print the path of the cached disk image of a lab VM: a minimal Debian 12 that
# boots from its own disk (MBR -> GRUB -> kernel -> systemd), DHCP on every NIC, sshd, MariaDB,
# ReaR. The restore tests back it up with ReaR and restore it by PXE boot.
#
# Output directory vm-<key>/:
#   disk.raw                 sparse raw disk: msdos label, partition 1 (bootable) = ext4 root,
#                            GRUB (i386-pc) in the MBR, serial console on ttyS0 (115200)
#   id_ed25519{,.pub}        the client key pair whose public key is root's authorized_keys
#   ssh_host_ed25519_key.pub the image's own host key (the only host key sshd uses)
#   vmlinuz, initrd.img      the image's kernel and initrd (for direct -kernel boots)
#   root-uuid                the root filesystem's UUID
#   firstboot.log            the console of the boot that installed GRUB
#
# Built on the tree of scripts/lab-root.sh (copied, never modified). The cache key is the hash of
# this script and lab-root.sh. Built under a temporary name and renamed when complete; a lock
# serialises concurrent builds. GRUB is installed by a first boot in qemu (TCG): direct kernel
# boot with init= a one-shot script that runs grub-install + update-grub and powers off.
#
# Usage: scripts/vm-image.sh            -> prints the directory's path on stdout (logs on stderr)
# Env:   REARGUARD_LAB_CACHE (default /var/cache/rearguard-lab)
#        REARGUARD_VM_DISK_MIB (default 2048)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${REARGUARD_LAB_CACHE:-/var/cache/rearguard-lab}
DISK_MIB=${REARGUARD_VM_DISK_MIB:-2048}
# Packages added to the lab tree (which already has grub-pc, initramfs-tools, parted, rear, …).
PACKAGES="sqlite3"

KEY=$(cat "$0" "$HERE/lab-root.sh" | sha256sum | cut -c1-16)
[ "$DISK_MIB" = 2048 ] || KEY="$KEY-$DISK_MIB"
FINAL="$CACHE/vm-$KEY"

if [ -f "$FINAL/disk.raw" ]; then echo "$FINAL"; exit 0; fi

"$HERE/apt-install.sh" qemu-system-x86 e2fsprogs fdisk openssh-client debootstrap >&2
# The tree first: lab-root.sh takes its own lock (never hold ours while waiting for it).
ROOT=$("$HERE/lab-root.sh")

mkdir -p "$CACHE"
exec 9>"$CACHE/vm-build.lock"
flock 9
if [ -f "$FINAL/disk.raw" ]; then echo "$FINAL"; exit 0; fi

# Leftovers of interrupted builds (under the lock: nobody else is building).
for old in "$CACHE"/.vm-build.*; do
  [ -e "$old" ] || continue
  findmnt -rn -o TARGET | grep -F "$old/" | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$old"
done

WORK="$CACHE/.vm-build.$KEY.$$"
TREE="$WORK/tree"
OUT="$WORK/out"
umount_tree() {
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$TREE/$m" 2>/dev/null; then umount -l "$TREE/$m"; fi
  done
}
cleanup() {
  umount_tree
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$OUT"
echo "vm-image: copying $ROOT" >&2
cp -a "$ROOT" "$TREE"

printf '#!/bin/sh\nexit 101\n' > "$TREE/usr/sbin/policy-rc.d"
chmod 755 "$TREE/usr/sbin/policy-rc.d"
mount -t proc proc "$TREE/proc"
mount -t sysfs sysfs "$TREE/sys"
mount --bind /dev "$TREE/dev"
mount --bind /dev/pts "$TREE/dev/pts"

echo "vm-image: installing $PACKAGES" >&2
# shellcheck disable=SC2086
chroot "$TREE" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PACKAGES && apt-get clean" >&2
rm -rf "$TREE"/var/lib/apt/lists/* "$TREE"/var/cache/apt/*.bin

UUID=$(cat /proc/sys/kernel/random/uuid)
KVER=$(ls "$TREE/usr/lib/modules")

# --- what makes it an installed system -------------------------------------------------------
echo rgvm > "$TREE/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trgvm\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$TREE/etc/hosts"
# fsck pass 0: systemd-fsck-root cost ~7 s of every boot under TCG.
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t0\n' "$UUID" > "$TREE/etc/fstab"
# Rearguard's staging dir on its own filesystem: ReaR refuses a file:// backup dir in the '/'
# filesystem. A tmpfs (RAM): nothing to recreate on restore, empty after every boot.
mkdir -p "$TREE/var/lib/rearguard/staging"
printf 'tmpfs\t/var/lib/rearguard/staging\ttmpfs\tmode=0700,size=75%%\t0\t0\n' >> "$TREE/etc/fstab"
# One machine id for the image (an empty one would make every boot a "first boot").
cat /proc/sys/kernel/random/uuid | tr -d -- '-\n' > "$TREE/etc/machine-id"
echo >> "$TREE/etc/machine-id"

cat > "$TREE/etc/default/grub" <<'CFG'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_TIMEOUT_STYLE=menu
GRUB_RECORDFAIL_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB_DISABLE_RECOVERY=true
CFG

# initrd: gzip (no zstd in the tree), no resume device to wait for.
sed -i 's/^COMPRESS=.*/COMPRESS=gzip/' "$TREE/etc/initramfs-tools/initramfs.conf"
echo RESUME=none > "$TREE/etc/initramfs-tools/conf.d/resume"

# Network: systemd-networkd, DHCPv4 on every ethernet NIC. The client id is the MAC (as iPXE and
# dhclient send it) so that DHCP's per-MAC fixed address is the same in every boot phase.
mkdir -p "$TREE/etc/systemd/network"
cat > "$TREE/etc/systemd/network/80-rearguard-dhcp.network" <<'CFG'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
IPv6AcceptRA=no
LinkLocalAddressing=no

[DHCPv4]
ClientIdentifier=mac
CFG

# sshd: the build's ed25519 host key only; root by key only.
rm -f "$TREE"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C root@rgvm -f "$TREE/etc/ssh/ssh_host_ed25519_key"
cat > "$TREE/etc/ssh/sshd_config.d/rearguard.conf" <<'CFG'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CFG
ssh-keygen -q -t ed25519 -N '' -C rearguard-lab -f "$OUT/id_ed25519"
mkdir -p "$TREE/root/.ssh"
chmod 700 "$TREE/root/.ssh"
cp "$OUT/id_ed25519.pub" "$TREE/root/.ssh/authorized_keys"
chmod 600 "$TREE/root/.ssh/authorized_keys"
cp "$TREE/etc/ssh/ssh_host_ed25519_key.pub" "$OUT/"

chroot "$TREE" systemctl enable systemd-networkd.service ssh.service mariadb.service >&2
# Nothing here waits for "network online"; without this a boot with no DHCP stalls 2 minutes.
chroot "$TREE" systemctl mask systemd-networkd-wait-online.service >&2
# e2scrub_reap took ~14 s of every boot under TCG; nothing here uses LVM snapshots.
chroot "$TREE" systemctl mask e2scrub_reap.service e2scrub_all.timer >&2

echo "vm-image: update-initramfs for $KVER" >&2
chroot "$TREE" update-initramfs -c -k "$KVER" >&2

# The first boot's init: install GRUB on the VM's own disk, then power off.
cat > "$TREE/usr/local/sbin/rearguard-firstboot" <<'SH'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -o remount,rw /
if grub-install --target=i386-pc /dev/vda && update-grub && grep -q 'console=ttyS0' /boot/grub/grub.cfg; then
  result=RG-FIRSTBOOT-OK
else
  result=RG-FIRSTBOOT-FAILED
fi
rm -f /usr/local/sbin/rearguard-firstboot
sync
# This shell still holds its (deleted) script open: a plain remount,ro is refused (busy), the
# emergency remount (sysrq u) is not; it runs asynchronously, hence the sleep before power-off.
echo s > /proc/sysrq-trigger
echo u > /proc/sysrq-trigger
sleep 2
echo "$result"
echo o > /proc/sysrq-trigger
sleep 60
SH
chmod 755 "$TREE/usr/local/sbin/rearguard-firstboot"

umount_tree
rm -f "$TREE/usr/sbin/policy-rc.d"
cp "$TREE/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$TREE/boot/initrd.img-$KVER" "$OUT/initrd.img"
echo "$UUID" > "$OUT/root-uuid"

# --- the disk ----------------------------------------------------------------------------------
DISK="$OUT/disk.raw"
echo "vm-image: ${DISK_MIB} MiB disk, ext4 root from the tree" >&2
truncate -s "${DISK_MIB}M" "$DISK"
# The filesystem first (nodiscard: it must not punch the MBR's area), then the label.
mke2fs -q -F -t ext4 -L rgroot -U "$UUID" -E offset=1048576,nodiscard -d "$TREE" "$DISK" "$((DISK_MIB - 1))M" >&2
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q --wipe never --wipe-partitions never "$DISK" >&2
e2fsck -fn "$DISK?offset=1048576" >&2
rm -rf --one-file-system "$TREE"

echo "vm-image: first boot (grub-install, update-grub)" >&2
LOG="$OUT/firstboot.log"
timeout 900 qemu-system-x86_64 -nodefaults -machine pc,accel=tcg -cpu max -m 1024 -display none \
  -serial "file:$LOG" -drive "file=$DISK,format=raw,if=virtio,cache=unsafe" \
  -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" \
  -append "root=/dev/vda1 rw console=ttyS0,115200 init=/usr/local/sbin/rearguard-firstboot" \
  -no-reboot </dev/null >&2 || { tail -n 40 "$LOG" >&2; echo "vm-image: qemu failed" >&2; exit 1; }
if ! grep -q RG-FIRSTBOOT-OK "$LOG"; then
  tail -n 60 "$LOG" >&2
  echo "vm-image: the first boot did not install GRUB" >&2
  exit 1
fi
# Preen (replays the journal should the remount have come too late), then it must check clean.
e2fsck -fp "$DISK?offset=1048576" >&2 || [ $? -le 1 ] || { echo "vm-image: e2fsck after the first boot failed" >&2; exit 1; }
e2fsck -fn "$DISK?offset=1048576" >&2
debugfs -R 'cat /boot/grub/grub.cfg' "$DISK?offset=1048576" 2>/dev/null | grep -q "root=UUID=$UUID .*console=ttyS0" ||
  { echo "vm-image: grub.cfg has no kernel line with root=UUID=$UUID and console=ttyS0" >&2; exit 1; }
dd if="$DISK" bs=512 count=1 status=none | grep -aq GRUB || { echo "vm-image: no GRUB in the MBR" >&2; exit 1; }

mv -T "$OUT" "$FINAL"
rm -rf "$WORK"
trap - EXIT
echo "vm-image: ready $FINAL ($(du -h "$FINAL/disk.raw" | cut -f1) allocated)" >&2
echo "$FINAL"
