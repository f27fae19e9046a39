#!/usr/bin/env bash
# Builds a minimal busybox root filesystem.
#
#   bundle-example/make-rootfs.sh [DIR]     (default: bundle-example/rootfs)
#
# The busybox is Debian's static one (package busybox-static), so the rootfs
# needs no libraries. Everything stays owned by root:root and is world
# readable (and executable where it matters): a user-namespaced root mapped
# to an unprivileged host uid can then use it, read-only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${1:-$here/rootfs}

busybox=/bin/busybox
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	echo "make-rootfs: installing busybox-static" >&2
	apt-get install -y busybox-static >&2 || { apt-get update >&2 && apt-get install -y busybox-static >&2; }
fi
[[ -x $busybox ]] || { echo "make-rootfs: $busybox missing after installing busybox-static" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "make-rootfs: $busybox is dynamically linked; need busybox-static's" >&2
	exit 1
fi

# Build next to the target and rename, so that a half-built rootfs is never
# mistaken for a finished one.
tmp=$(mktemp -d "$target.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
umask 022
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var}
chmod 1777 "$tmp/tmp"
chmod 0700 "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"
# One symlink per applet, where busybox --install -s would put it.
"$busybox" --list-full | while read -r applet; do
	[[ -e $tmp/$applet || $applet == bin/busybox ]] || ln -s /bin/busybox "$tmp/$applet"
done
cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
chmod 0644 "$tmp/etc/passwd" "$tmp/etc/group"
chmod 0755 "$tmp"

rm -rf "$target"
mv "$tmp" "$target"
trap - EXIT
echo "make-rootfs: built $target" >&2
