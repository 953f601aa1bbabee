#!/bin/sh
# Prove the README's two commands on a machine that never had the packages:
# a Debian 12 minbase chroot (debootstrap) that holds nothing but `make` and
# a fresh clone of this repository's HEAD. Inside it: `make run` (its printed
# swaks command must deliver), then `make test`; the last line of make test
# is printed at the end. Needs root and network access to Debian's archive.
#
#   scripts/clean-room.sh [ROOTFS]      default /srv/sealpost-clean
#
# A base tarball (ROOTFS.tar) is kept after the first debootstrap, so every
# run starts from the same untouched system.
set -eu
ROOTFS=${1:-/srv/sealpost-clean}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SRC=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" -eq 0 ] || { echo "sealpost: clean-room.sh must run as root" >&2; exit 1; }
command -v debootstrap >/dev/null ||
    { apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }

cleanup() {
    for m in dev/shm dev/pts dev sys proc; do
        umount -l "$ROOTFS/$m" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

# One run at a time; never remove a tree that still has something mounted.
exec 9> "$ROOTFS.lock"
flock -n 9 || { echo "sealpost: clean-room.sh: another run holds $ROOTFS.lock" >&2; exit 1; }
cleanup
if grep -q " $ROOTFS/" /proc/mounts; then
    echo "sealpost: clean-room.sh: still mounted under $ROOTFS; not removing it" >&2
    exit 1
fi
if [ ! -f "$ROOTFS.tar" ]; then
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >&2
    tar -C "$(dirname "$ROOTFS")" -cf "$ROOTFS.tar" "$(basename "$ROOTFS")"
fi
rm -rf "$ROOTFS"
tar -C "$(dirname "$ROOTFS")" -xf "$ROOTFS.tar"

cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# What every installed Debian has and debootstrap leaves out: localhost and
# the machine's own name resolve (fetchmail insists on both).
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "$(hostname)" > "$ROOTFS/etc/hosts"
mount -t proc proc "$ROOTFS/proc"
mount --rbind /sys "$ROOTFS/sys"
mount --bind /dev "$ROOTFS/dev"
mount --bind /dev/pts "$ROOTFS/dev/pts"
mount -t tmpfs shm "$ROOTFS/dev/shm"

git clone -q "$SRC" "$ROOTFS/root/sealpost"
echo "clean-room: packages before: $(chroot "$ROOTFS" dpkg-query -W | wc -l)" >&2
chroot "$ROOTFS" sh -c 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null'

# make run: start it, run its printed STARTTLS swaks command, stop it.
chroot "$ROOTFS" sh -c 'cd /root/sealpost
    setsid make run > /tmp/run.out 2>&1 & group=$!
    for i in $(seq 1 600); do
        grep -q "Ctrl-C stops the server" /tmp/run.out 2>/dev/null && break
        sleep 1
    done
    sleep 1
    cmd=$(sed -n "/^  swaks --server 127.0.0.1:2525/,/--to/p" /tmp/run.out | tr -d "\\\\\n")
    echo "clean-room: make run printed: $cmd"
    sh -c "$cmd" > /tmp/swaks.out 2>&1; rc=$?
    tail -3 /tmp/swaks.out
    echo "clean-room: make run swaks exit status $rc"
    kill -TERM -$group || true
    sleep 2' >&2

chroot "$ROOTFS" sh -c 'cd /root/sealpost && make test' > "$ROOTFS.test.log" 2>&1 || true
echo "clean-room: make test ended with:" >&2
tail -n 1 "$ROOTFS.test.log"
