#!/usr/bin/env bash
# run-in-vm.sh - run a command as root inside a throw-away Linux VM that has a
# pure cgroup v2 hierarchy (cgroup_no_v1=all), without touching the host's
# cgroup mounts. Offline once the cache is built (needs only Debian apt the
# first time: qemu-system-x86, a Debian kernel .deb, busybox-static).
# nsrun's copy of the organisation's vm prototype; docs/vm.md describes it and
# tests/vm/cgroupv2-lane.sh is its main user.
#
# Usage: run-in-vm.sh [-t SECS] [-m MiB] [-c CPUS] [-e VAR]... [-M mod,mod] [-v] 'COMMAND' [DIR_TO_SHARE]
#   COMMAND       bash script text, run as root in the guest (cwd: DIR_TO_SHARE or /)
#   DIR_TO_SHARE  host dir mounted read-write (9p) at the SAME path in the guest
#   -t SECS       wall-clock limit for the whole VM (default 300; RIVM_TIMEOUT)
#   -m MiB        guest memory (default 2048; RIVM_MEM)
#   -c CPUS       guest vCPUs (default: host cores; RIVM_CPUS)
#   -e VAR        forward host env var VAR into the command's environment (repeatable)
#   -M mods       extra modules to modprobe before the command (RIVM_MODULES)
#   -v            show kernel console + timing on stderr (RIVM_VERBOSE=1)
# The guest root is the host's / (read-only 9p) under a tmpfs overlay, so every
# host binary (crun, runc, go, ip, ...) works; /tmp, /run, /var/tmp are tmpfs.
# stdout/stderr of COMMAND stream to this script's stdout/stderr; the exit code
# is COMMAND's, or 124 on timeout, 125 when the VM failed before reporting.
# Env: RIVM_CACHE (default ~/.cache/run-in-vm), RIVM_ACCEL (auto|kvm|tcg),
#      RIVM_KERNEL_PKG (default: what linux-image-amd64 depends on), RIVM_APPEND.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${RIVM_TIMEOUT:-300}
MEM=${RIVM_MEM:-2048}
CPUS=${RIVM_CPUS:-$(nproc)}
MODULES=${RIVM_MODULES:-}
VERBOSE=${RIVM_VERBOSE:-0}
ACCEL=${RIVM_ACCEL:-auto}
CACHE=${RIVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/run-in-vm}
FWD_ENV=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
log() { echo "run-in-vm: $*" >&2; }
vlog() { [ "$VERBOSE" = 1 ] && log "$@"; return 0; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}'; }

while getopts "t:m:c:e:M:vh" o; do
	case $o in
	t) TIMEOUT=$OPTARG ;; m) MEM=$OPTARG ;; c) CPUS=$OPTARG ;;
	e) FWD_ENV+=("$OPTARG") ;; M) MODULES=$OPTARG ;; v) VERBOSE=1 ;; *) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [ $# -le 2 ] || usage
CMD=$1
SHARE=${2:-}
if [ -n "$SHARE" ]; then
	[ -d "$SHARE" ] || { log "not a directory: $SHARE"; exit 2; }
	SHARE=$(cd "$SHARE" && pwd -P)
	case "$SHARE" in *,*) log "shared dir path must not contain ',' (qemu option syntax)"; exit 2 ;; esac
fi
[ "$(id -u)" = 0 ] || { log "must run as root (apt, 9p passthrough)"; exit 2; }
((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))) || { log "needs bash >= 5.1"; exit 2; }
T0=$(now)

# ---------------------------------------------------------------- setup/cache
APT_UPDATED=0
apt_update() { [ $APT_UPDATED = 1 ] || { apt-get update -qq >&2 || true; APT_UPDATED=1; }; }
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
		{ apt_update; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; }
}
apt_download() { # apt_download PKG DIR
	(cd "$2" && { apt-get download "$1" >&2 2>/dev/null || { apt_update; apt-get download "$1" >&2; }; })
}

# Everything the host side needs, from Debian, so that a fresh (CI) machine
# provisions itself: qemu and its firmware (seabios comes as a dependency),
# the decompressors for the kernel payload, flock/mkfifo/od/...
ensure_tools() {
	local need=() c
	for c in qemu-system-x86_64:qemu-system-x86 xz:xz-utils zstd:zstd flock:util-linux \
		apt-get:apt dpkg:dpkg od:coreutils sha256sum:coreutils awk:mawk; do
		command -v "${c%%:*}" > /dev/null || need+=("${c#*:}")
	done
	[ -e /usr/share/seabios/bios-256k.bin ] || [ -e /usr/share/qemu/bios-256k.bin ] || need+=(seabios)
	((${#need[@]})) || return 0
	need=($(printf '%s\n' "${need[@]}" | sort -u))
	log "installing ${need[*]}"
	apt_install "${need[@]}"
}

# Kernel: Debian kernel .deb extracted (not installed) into $CACHE/kernel-<pkg>-<ver>/
#   vmlinux (uncompressed ELF -> PVH direct boot, much faster under TCG),
#   vmlinuz, config, lib/modules/<kver>/ (pruned tree + busybox depmod output).
ensure_kernel() {
	local pkg=${RIVM_KERNEL_PKG:-} kd
	if [ -z "$pkg" ]; then
		kd=$(ls -d "$CACHE"/kernel-*/ 2> /dev/null | sort -V | tail -n1 || true)
		if [ -n "$kd" ] && [ -f "$kd/ok" ]; then KDIR=${kd%/}; return; fi
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
		[ -n "$pkg" ] || { apt_update; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
		[ -n "$pkg" ] || { log "cannot resolve linux-image-amd64"; exit 125; }
	fi
	KDIR=$CACHE/kernel-$pkg
	[ -f "$KDIR/ok" ] && return
	log "preparing kernel $pkg (one-time)"
	local tmp; tmp=$(mktemp -d "$CACHE/.kernel.XXXXXX"); chmod 755 "$tmp"
	apt_download "$pkg" "$tmp"
	dpkg -x "$tmp"/*.deb "$tmp/x"
	[ -d "$tmp/x/lib/modules" ] || { mkdir -p "$tmp/x/lib"; mv "$tmp/x/usr/lib/modules" "$tmp/x/lib/modules"; }
	local kver; kver=$(ls "$tmp/x/lib/modules")
	local bz="$tmp/x/boot/vmlinuz-$kver"
	cp "$bz" "$tmp/vmlinuz"; cp "$tmp/x/boot/config-$kver" "$tmp/config"
	# Extract the ELF vmlinux from the bzImage (xz/gzip/zstd/lz4 payload).
	local off magic dec
	for magic in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -dc' '\x1f\x8b\x08\x00:gzip -dc' '\x02\x21\x4c\x18:lz4 -dc'; do
		dec=${magic#*:}
		command -v "${dec%% *}" > /dev/null || continue
		for off in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$bz" | cut -d: -f1); do
			tail -c +$((off + 1)) "$bz" | $dec > "$tmp/vmlinux" 2> /dev/null || true
			if [ "$(head -c 4 "$tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]; then break 2; fi
		done
	done
	[ -s "$tmp/vmlinux" ] && [ "$(head -c 4 "$tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
		{ log "could not extract vmlinux; falling back to bzImage boot"; rm -f "$tmp/vmlinux"; }
	mkdir -p "$tmp/lib/modules"
	mv "$tmp/x/lib/modules/$kver" "$tmp/lib/modules/$kver"
	# Drop hardware-only module trees (~250 MB) that a VM never needs.
	(cd "$tmp/lib/modules/$kver/kernel" && rm -rf sound drivers/gpu drivers/media drivers/net/wireless \
		drivers/infiniband drivers/staging drivers/bluetooth drivers/usb drivers/scsi drivers/iio \
		drivers/input drivers/hid drivers/video drivers/isdn drivers/mtd drivers/net/ethernet \
		drivers/net/can drivers/hwmon net/wireless net/mac80211 net/bluetooth)
	"$BUSYBOX" depmod -b "$tmp" "$kver"
	echo "$kver" > "$tmp/kver"
	rm -rf "$tmp/x" "$tmp"/*.deb
	touch "$tmp/ok"
	rm -rf "$KDIR"; mv "$tmp" "$KDIR"
}

ensure_busybox() {
	BUSYBOX=$CACHE/busybox
	[ -x "$BUSYBOX" ] && return
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x $b ] && ! LC_ALL=C grep -qa '/lib64/ld-linux' $b; then cp $b "$BUSYBOX.tmp"; mv "$BUSYBOX.tmp" "$BUSYBOX"; return; fi
	done
	log "fetching busybox-static"
	local tmp; tmp=$(mktemp -d "$CACHE/.bb.XXXXXX")
	apt_download busybox-static "$tmp"
	dpkg -x "$tmp"/*.deb "$tmp/x"
	cp "$tmp/x/bin/busybox" "$BUSYBOX.tmp"; mv "$BUSYBOX.tmp" "$BUSYBOX"; rm -rf "$tmp"
}

# Drop the appended module signature: verifying it costs ~50ms per module
# under TCG; the Debian kernel does not enforce signatures (taints "E" only).
strip_sig() {
	local f=$1 size sl
	[ "$(tail -c 28 "$f")" = "~Module signature appended~" ] || return 0
	set -- $(tail -c 40 "$f" | head -c 12 | od -An -tu1)
	sl=$(( (${9} << 24) | (${10} << 16) | (${11} << 8) | ${12} ))
	size=$(stat -c %s "$f")
	truncate -s $((size - 40 - sl)) "$f"
}

# Boot-time modules (deps resolved from modules.dep, deps first).
BOOT_MODULES="virtio_pci virtio_console 9pnet_virtio 9p overlay"
ensure_initramfs() {
	local kver; kver=$(cat "$KDIR/kver")
	local md="$KDIR/lib/modules/$kver"
	local key; key=$( (cat "$HERE/guest-init.sh"; echo "v2 $BOOT_MODULES $kver"; cksum < "$BUSYBOX") | sha256sum | cut -c1-16)
	INITRD=$CACHE/initramfs-$kver-$key.cpio
	[ -f "$INITRD" ] && return
	vlog "building initramfs $INITRD"
	local tmp; tmp=$(mktemp -d "$CACHE/.initrd.XXXXXX")
	mkdir -p "$tmp/root/bin" "$tmp/root/modules"
	cp "$BUSYBOX" "$tmp/root/bin/busybox"
	ln -s busybox "$tmp/root/bin/sh"
	install -m 0755 "$HERE/guest-init.sh" "$tmp/root/init"
	# resolve order
	local order=() seen=" "
	visit() {
		local m=$1 line path deps d
		case "$seen" in *" $m "*) return ;; esac
		seen="$seen$m "
		line=$(grep -E "/${m}\.ko:" "$md/modules.dep" | head -n1) || { log "module $m not found (built-in?)"; return 0; }
		path=${line%%:*}; deps=${line#*:}
		for d in $deps; do d=${d##*/}; visit "${d%.ko}"; done
		cp "$md/$path" "$tmp/root/modules/"
		strip_sig "$tmp/root/modules/${path##*/}"
		order+=("$m")
	}
	local m; for m in $BOOT_MODULES; do visit "$m"; done
	printf '%s\n' "${order[@]}" > "$tmp/root/modules/load"
	(cd "$tmp/root" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2> /dev/null > "$tmp/initrd.cpio")
	mv "$tmp/initrd.cpio" "$INITRD"
	rm -rf "$tmp"
	ls "$CACHE"/initramfs-*.cpio 2> /dev/null | grep -v -F "$INITRD" | xargs -r rm -f || true
}

mkdir -p "$CACHE"
exec 8> "$CACHE/.lock"
flock 8
rm -rf "$CACHE"/.kernel.* "$CACHE"/.initrd.* "$CACHE"/.bb.* # leftovers of interrupted setups
ensure_tools
ensure_busybox
ensure_kernel
ensure_initramfs
flock -u 8
exec 8>&-
T1=$(now)
vlog "cache ready in $(since "$T0")s: $KDIR"

# ---------------------------------------------------------------- accel
if [ "$ACCEL" = auto ]; then
	# /dev/kvm backed by kvm_pvm (nested "pagetable VM") cannot run stock
	# kernels (hangs / "KVM internal error ... emulation failure"), so use TCG.
	if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
if [ "$ACCEL" = kvm ]; then CPU=host; else CPU=max; ACCEL=tcg,thread=multi; fi

# ---------------------------------------------------------------- run
RUN=$(mktemp -d "${TMPDIR:-/tmp}/rivm.XXXXXX")
mkdir -p "$RUN/io" "$RUN/host"
QPID=
CATS=()
cleanup() {
	local rc=$?
	if [ -n "$QPID" ]; then # interrupted: stop our VM, reap it
		kill -TERM "$QPID" 2> /dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2> /dev/null || break; sleep 0.5; done
		kill -KILL "$QPID" 2> /dev/null || true
		wait "$QPID" 2> /dev/null || true
	fi
	[ -n "${SPID:-}" ] && kill "$SPID" 2> /dev/null || true
	local p; for p in "${CATS[@]}"; do kill "$p" 2> /dev/null || true; done
	rm -rf "$RUN"
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
	echo "# generated by run-in-vm.sh"
	for v in "${FWD_ENV[@]}"; do
		if [ -n "${!v+x}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
	done
	printf '%s\n' "$CMD"
} > "$RUN/io/cmd"

mkfifo "$RUN/host/out" "$RUN/host/err"
cat "$RUN/host/out" &
CATS+=($!)
cat "$RUN/host/err" >&2 &
CATS+=($!)
if [ "$VERBOSE" = 1 ]; then
	mkfifo "$RUN/host/console"
	# prefix kernel console lines so they are distinguishable
	sed -u 's/^/[vm] /' < "$RUN/host/console" >&2 &
	CATS+=($!)
	CONSOLE_CHR="file,id=con,path=$RUN/host/console"
	QUIET="loglevel=4 rivm.debug=1"
else
	CONSOLE_CHR="file,id=con,path=$RUN/host/console.log"
	QUIET="quiet loglevel=3"
fi

APPEND="console=ttyS0 $QUIET panic=-1 reboot=t cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 psi=1"
# Boot-time trims (TCG is ~10-50x slower than native): no crypto self-tests,
# no Spectre/Meltdown mitigations (PTI makes every syscall costlier under TCG).
APPEND+=" mitigations=off cryptomgr.notests nowatchdog tsc=reliable no_timer_check rdinit=/init"
printf '%s' "$KDIR/lib/modules/$(cat "$KDIR/kver")" > "$RUN/io/moddir"
[ -n "$SHARE" ] && printf '%s' "$SHARE" > "$RUN/io/share"
[ -n "$MODULES" ] && APPEND+=" rivm.modules=$MODULES"
APPEND+=" ${RIVM_APPEND:-}"
KERNEL=$KDIR/vmlinux
[ -f "$KERNEL" ] || KERNEL=$KDIR/vmlinuz

QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
	-machine "${RIVM_MACHINE:-q35}" -accel $ACCEL -cpu $CPU -smp "$CPUS" -m "$MEM"
	-kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND"
	-chardev "$CONSOLE_CHR" -serial chardev:con
	-device virtio-serial-pci,id=vser
	-chardev "file,id=out,path=$RUN/host/out" -device virtserialport,bus=vser.0,chardev=out,name=rivm.out
	-chardev "file,id=err,path=$RUN/host/err" -device virtserialport,bus=vser.0,chardev=err,name=rivm.err
	-fsdev local,id=fsroot,path=/,security_model=passthrough,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot
	-fsdev "local,id=fsio,path=$RUN/io,security_model=passthrough"
	-device virtio-9p-pci,fsdev=fsio,mount_tag=rivmio)
if [ -n "$SHARE" ]; then
	QEMU+=(-fsdev "local,id=fsshare,path=$SHARE,security_model=passthrough,multidevs=remap"
		-device virtio-9p-pci,fsdev=fsshare,mount_tag=share)
fi
vlog "accel=$ACCEL cpus=$CPUS mem=${MEM}M kernel=$KERNEL"

"${QEMU[@]}" < /dev/null &
QPID=$!
# Watchdog: a sleep of our own; whichever of {qemu, sleep} ends first wins.
# Only our own qemu pid (and our own sleep pid) is ever signalled.
sleep "$TIMEOUT" &
SPID=$!
QRC=0
TIMED_OUT=0
wait -n -p DONE "$QPID" "$SPID" 2> /dev/null || true
if [ "${DONE:-}" = "$SPID" ]; then
	TIMED_OUT=1
	log "timeout after ${TIMEOUT}s, killing VM (pid $QPID)"
	kill -TERM "$QPID" 2> /dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2> /dev/null || break; sleep 0.5; done
	kill -KILL "$QPID" 2> /dev/null || true
else
	kill "$SPID" 2> /dev/null || true
fi
wait "$QPID" 2> /dev/null || QRC=$?
wait "$SPID" 2> /dev/null || true
QPID=; SPID=
# Unblock readers whose FIFO qemu never opened, then drain them.
for f in "$RUN/host/out" "$RUN/host/err" "$RUN/host/console"; do
	[ -p "$f" ] && { exec 9<> "$f"; exec 9>&-; }
done
for p in "${CATS[@]}"; do wait "$p" 2> /dev/null || true; done
CATS=()
vlog "vm wall time $(since "$T1")s (qemu rc=$QRC)"

if [ -s "$RUN/io/rc" ]; then
	exit "$(cat "$RUN/io/rc")"
fi
[ -f "$RUN/host/console.log" ] && tail -n 40 "$RUN/host/console.log" >&2
if [ $TIMED_OUT = 1 ]; then exit 124; fi
log "VM stopped without reporting an exit code (qemu rc=$QRC)"
exit 125
