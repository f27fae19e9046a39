#!/usr/bin/env bash
# Installs from Debian what nsrun's tests and benchmark use: busybox-static
# (test rootfs), libseccomp-dev (cgo build), runc and crun (comparison),
# iproute2 and util-linux (unshare, ip), qemu-system-x86 (the cgroup v2 VM
# lane; tests/vm/run-in-vm.sh fetches its kernel with apt-get download).
# Idempotent and quiet when present.
set -euo pipefail
pkgs=(busybox-static libseccomp-dev libc6-dev runc crun iproute2 util-linux gcc make qemu-system-x86 podman conmon containernetworking-plugins criu containerd docker.io)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}"
fi
