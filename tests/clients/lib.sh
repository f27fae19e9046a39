#!/usr/bin/env bash
# Shared helpers of the client scenarios (tests/clients/*.sh). Each scenario
# runs one real client (containerd, podman, Docker, CRI) against one runtime
# binary, prints one "PASS|FAIL <step>" line per step and ends with
# "<client> (<runtime>): N passed, M failed". Source it; it sets nothing
# global besides the counters and the functions.

CLIENTS_PASSED=0
CLIENTS_FAILED=0
CLIENTS_FAILURES=()

# step NAME CMD...: runs CMD, records PASS when it exits 0. The command's
# output is shown only on failure (indented), to keep the log readable.
step() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		CLIENTS_PASSED=$((CLIENTS_PASSED + 1))
		echo "PASS $name"
	else
		CLIENTS_FAILED=$((CLIENTS_FAILED + 1))
		CLIENTS_FAILURES+=("$name")
		echo "FAIL $name (exit $rc)"
		printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /'
	fi
	return 0
}

# expect_eq WHAT GOT WANT: a check for use inside step functions.
expect_eq() {
	if [[ "$2" != "$3" ]]; then
		echo "$1: got [$2], want [$3]"
		return 1
	fi
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
	if [[ "$2" != *"$3"* ]]; then
		echo "$1: [$2] does not contain [$3]"
		return 1
	fi
}

# summary CLIENT RUNTIME: prints the last line; returns non-zero on failure.
summary() {
	echo "$1 ($2): $CLIENTS_PASSED passed, $CLIENTS_FAILED failed"
	((CLIENTS_FAILED == 0))
}

# make_busybox_rootfs DIR: a minimal busybox root file system (static
# busybox and its applet links, /etc/passwd and /etc/group with root and
# nobody, and a user 1000 "tester").
make_busybox_rootfs() {
	local dir=$1 bb applet
	bb=$(command -v busybox) || { echo "busybox-static is required" >&2; return 1; }
	mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,tmp,root,home/tester,var,run}
	chmod 1777 "$dir/tmp"
	cp "$bb" "$dir/bin/busybox"
	for applet in $("$dir/bin/busybox" --list); do
		[[ $applet == busybox ]] || ln -sf busybox "$dir/bin/$applet"
	done
	cat > "$dir/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
	cat > "$dir/etc/group" <<'GR'
root:x:0:
tester:x:1000:
nogroup:x:65534:
GR
	chown 1000:1000 "$dir/home/tester"
}

# make_busybox_tar FILE: the rootfs above as a tarball (podman/docker import).
make_busybox_tar() {
	local file=$1 tmp
	tmp=$(mktemp -d)
	make_busybox_rootfs "$tmp/rootfs" && tar -C "$tmp/rootfs" -cf "$file" .
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# leftover_cgroups PATTERN: cgroup directories whose name matches PATTERN
# in any hierarchy (empty when none).
leftover_cgroups() {
	find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -name "$1" 2> /dev/null
}

# make_oci_archive ROOTFS REF CONFIG OUT: packs directory ROOTFS as a
# single-layer OCI image named REF (e.g. localhost/x/busybox:1) into the tar
# archive OUT, which `ctr image import` accepts. CONFIG is the JSON of the
# image's "config" object (e.g. '{"Entrypoint":["/pause"]}').
make_oci_archive() {
	local rootfs=$1 ref=$2 config=$3 out=$4 work layer_d layer_n cfg_d cfg_n man_d man_n
	work=$(mktemp -d) || return 1
	mkdir -p "$work/blobs/sha256"
	# _oci_blob FILE: stores FILE under its digest; prints "digest size".
	_oci_blob() {
		local sum
		sum=$(sha256sum < "$1") && sum=${sum%% *} || return 1
		mv "$1" "$work/blobs/sha256/$sum" && printf '%s %s\n' "$sum" "$(stat -c %s "$work/blobs/sha256/$sum")"
	}
	tar --numeric-owner -C "$rootfs" -cf "$work/l" . &&
		read -r layer_d layer_n < <(_oci_blob "$work/l") &&
		printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
			"$config" "$layer_d" > "$work/c" &&
		read -r cfg_d cfg_n < <(_oci_blob "$work/c") &&
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
			"$cfg_d" "$cfg_n" "$layer_d" "$layer_n" > "$work/m" &&
		read -r man_d man_n < <(_oci_blob "$work/m") &&
		printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
			"$man_d" "$man_n" "$ref" "${ref##*:}" > "$work/index.json" &&
		echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout" &&
		tar -C "$work" -cf "$out" oci-layout index.json blobs
	local rc=$?
	rm -rf "$work"
	unset -f _oci_blob
	return $rc
}

# reexec_under_subreaper VAR SCRIPT ARGS...: PID 1 may not reap orphans,
# and the shims re-parent to the nearest subreaper when they daemonize: run
# SCRIPT again under tests/tools/subreaper, so that they are reaped when
# they exit. VAR marks that second run and holds the subreaper's directory
# (or "none" when it could not be built) for the scenario's cleanup.
# Needs $repo.
reexec_under_subreaper() {
	local var=$1
	shift
	[[ -z ${!var:-} ]] || return 0
	local rdir
	rdir=$(mktemp -d /tmp/nsrun-reaper.XXXXXX)
	if (cd "$repo" && go build -o "$rdir/subreaper" ./tests/tools/subreaper) 2> /dev/null; then
		export "$var=$rdir"
		exec "$rdir/subreaper" bash "$@"
	fi
	echo "warning: could not build tests/tools/subreaper; exited shims may stay zombies" >&2
	rm -rf "$rdir"
	printf -v "$var" none
}
