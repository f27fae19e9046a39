#!/usr/bin/env bash
# The containerd scenario (issue 5): a private containerd 1.6 driven with
# `ctr`, its runc shim v2 pointed at RUNTIME_BINARY with --runc-binary.
#
#   sudo tests/clients/containerd.sh RUNTIME_BINARY
#
# Runs the same steps with any runc-compatible runtime (runc is the control).
# Provisions what it needs from Debian (containerd, busybox-static,
# util-linux), builds a busybox OCI image locally (no network), starts
# containerd with its own root, state and socket under a temp dir (CRI plugin
# disabled) and tears everything down on exit. One "PASS|FAIL step" line per
# step, then "containerd (<runtime>): N passed, M failed" (exit status 1 on
# any failure). CTR_SCENARIO_LOG=FILE keeps containerd's log (with the shims'
# warnings) in FILE.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ $# -ne 1 || ! -x $1 ]]; then
	echo "usage: $0 RUNTIME_BINARY" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "$0: needs root (a private containerd runs real containers)" >&2
	exit 2
fi
RUNTIME=$(realpath "$1")
RUNTIME_NAME=$(basename "$RUNTIME")

# The shims daemonize: reap them (see lib.sh).
reexec_under_subreaper CTR_SCENARIO_REAPER "$0" "$@"

# Dependencies: a fresh Debian machine has none of them.
need=()
command -v containerd > /dev/null && command -v ctr > /dev/null || need+=(containerd)
command -v busybox > /dev/null || need+=(busybox-static)
command -v script > /dev/null || need+=(util-linux)
if ((${#need[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq "${need[@]}"; } > /dev/null ||
		{ echo "$0: cannot install ${need[*]}" >&2; exit 2; }
fi

T=$(mktemp -d /tmp/nsrun-ctr.XXXXXX)
chmod 755 "$T"
SOCK=$T/containerd.sock
NS=nsrun-ctr-$$             # containerd namespace; also the cgroup parent
P=ctr$$-                    # prefix of every container id
IMG=localhost/nsrun-test/busybox:latest
RROOT=$T/runc-root
CTRD_PID=

c() { timeout 60 ctr -a "$SOCK" -n "$NS" "$@"; }
# ctr_run ARGS...: `ctr run` through the runtime under test.
ctr_run() { c run --runc-binary "$RUNTIME" --runc-root "$RROOT" "$@"; }
# on_tty CMD...: runs CMD with a pseudo-terminal as its stdio (ctr -t needs one).
on_tty() { timeout 60 script -qec "$(printf '%q ' "$@")" /dev/null < /dev/null; }
# status ID: the task's STATUS column in `ctr task ls` (empty without a task).
status() { c task ls 2> /dev/null | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { c task ls 2> /dev/null | awk -v id="$1" '$1 == id {print $2}'; }
# wait_status ID WANT: polls for up to 10 s.
wait_status() {
	local i s
	for ((i = 0; i < 100; i++)); do
		s=$(status "$1")
		[[ $s == "$2" ]] && return 0
		sleep 0.1
	done
	echo "task $1: status [$s], want [$2]"
	return 1
}

teardown() {
	local id m pid i
	if [[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2> /dev/null; then
		for id in $(c task ls -q 2> /dev/null); do
			c task kill -s SIGKILL "$id" &> /dev/null
			c task delete -f "$id" &> /dev/null
		done
		for id in $(c container ls -q 2> /dev/null); do c container delete "$id" &> /dev/null; done
		c image rm "$IMG" &> /dev/null
		for id in $(c snapshot ls 2> /dev/null | awk 'NR > 1 {print $1}'); do
			c snapshot rm "$id" &> /dev/null
		done
		c namespace rm "$NS" &> /dev/null
		kill "$CTRD_PID"
		for ((i = 0; i < 100; i++)); do kill -0 "$CTRD_PID" 2> /dev/null || break; sleep 0.1; done
		kill -KILL "$CTRD_PID" 2> /dev/null
		wait "$CTRD_PID" 2> /dev/null
	fi
	# Shims of our namespace that outlived containerd (none when all went well).
	for pid in $(pgrep -f "containerd-shim-runc-v2 -namespace $NS "); do kill -KILL "$pid"; done
	# Mounts under the temp dir, deepest first.
	for m in $(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m"
	done
	# The namespace's cgroup parent (containerd's cgroupsPath is /<ns>/<id>).
	find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -depth -type d -path "*/$NS*" -exec rmdir {} + 2> /dev/null
	[[ -z ${CTR_SCENARIO_LOG:-} ]] || cp "$T/containerd.log" "$CTR_SCENARIO_LOG"
	rm -rf "$T"
	[[ $CTR_SCENARIO_REAPER == none ]] || rm -rf "$CTR_SCENARIO_REAPER"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# build_image TARFILE: an OCI image layout (one uncompressed layer of the
# lib.sh busybox rootfs) as a tar archive that `ctr image import` takes.
build_image() {
	local dir=$T/image lay ls cfg cs man ms
	mkdir -p "$dir/oci/blobs/sha256"
	make_busybox_rootfs "$dir/rootfs" || return 1
	blob() { # FILE: moves FILE into the blob store, prints "digest size".
		local d
		d=$(sha256sum "$1" | cut -d' ' -f1)
		mv "$1" "$dir/oci/blobs/sha256/$d"
		echo "$d $(stat -c %s "$dir/oci/blobs/sha256/$d")"
	}
	tar --numeric-owner -C "$dir/rootfs" -cf "$dir/layer" . || return 1
	read -r lay ls < <(blob "$dir/layer")
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$lay" > "$dir/config"
	read -r cfg cs < <(blob "$dir/config")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$cfg" "$cs" "$lay" "$ls" > "$dir/manifest"
	read -r man ms < <(blob "$dir/manifest")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' \
		"$man" "$ms" "$IMG" > "$dir/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci/oci-layout"
	tar -C "$dir/oci" -cf "$1" .
}

start_containerd() {
	local i
	cat > "$T/config.toml" <<-EOF
		version = 2
		root = "$T/root"
		state = "$T/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[debug]
		  address = "$T/debug.sock"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$T/opt"
	EOF
	containerd --config "$T/config.toml" > "$T/containerd.log" 2>&1 &
	CTRD_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S $SOCK ]] && c version &> /dev/null && return 0
		kill -0 "$CTRD_PID" 2> /dev/null || break
		sleep 0.1
	done
	echo "containerd did not come up:"
	tail -n 20 "$T/containerd.log"
	return 1
}

setup() {
	start_containerd || return 1
	build_image "$T/image.tar" || return 1
	c image import "$T/image.tar" > /dev/null || return 1
	rm -rf "$T/image"
	c image ls -q | grep -qx "$IMG"
}

# --- the steps ---------------------------------------------------------------

D=${P}main # the long-running container of steps 4-9 (exits 7 on SIGTERM)
K=${P}stubborn # ignores SIGTERM (step 8)

run_exit_code() {
	local out rc
	out=$(ctr_run --rm "$IMG" "${P}exit" sh -c 'echo hi; exit 3' < /dev/null 2>&1)
	rc=$?
	expect_eq "output" "$out" "hi" && expect_eq "exit code" "$rc" 3
}

run_tty() {
	local out rc
	out=$(on_tty ctr -a "$SOCK" -n "$NS" run --runc-binary "$RUNTIME" --runc-root "$RROOT" -t --rm \
		"$IMG" "${P}tty" sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; exit 4')
	rc=$?
	expect_contains "output" "$out" "tty-ok" && expect_contains "output" "$out" "/dev/pts/" &&
		expect_eq "exit code" "$rc" 4
}

run_missing_executable() {
	local out rc
	out=$(ctr_run --rm "$IMG" "${P}missing" /no/such/binary < /dev/null 2>&1)
	rc=$?
	echo "ctr: $out"
	((rc != 0)) || { echo "ctr run succeeded"; return 1; }
	[[ $out == *"no such file or directory"* || $out == *"executable file not found"* ]] ||
		{ echo "the runtime's message is not in ctr's error"; return 1; }
	expect_contains "error" "$out" "/no/such/binary" || return 1
	# ctr --rm removes the container; the runtime must have left nothing.
	expect_eq "containers" "$(c container ls -q)" "" &&
		expect_eq "runtime state" "$(ls -A "$RROOT/$NS" 2> /dev/null)" ""
}

run_detached() {
	ctr_run -d --env A=B "$IMG" "$D" sh -c 'trap "exit 7" TERM; sleep 4242 & wait' < /dev/null || return 1
	c task ls
	wait_status "$D" RUNNING
}

exec_exit_code() {
	c task exec --exec-id e-exit "$D" sh -c 'exit 5' < /dev/null
	expect_eq "exit code" "$?" 5
}

exec_user() {
	local out
	out=$(c task exec --exec-id e-user --user 1000 "$D" sh -c 'id -u; id -g' < /dev/null) || return 1
	expect_eq "uid gid" "$(echo $out)" "1000 1000"
}

exec_cwd() {
	local out
	out=$(c task exec --exec-id e-cwd --cwd /tmp "$D" pwd < /dev/null) || return 1
	expect_eq "cwd" "$out" /tmp
}

# ctr 1.6's `task exec` has no --env: the exec'd process gets the container's
# environment (set with `ctr run --env A=B`), which travels in the process
# JSON that the shim hands to `RUNTIME exec --process`.
exec_env() {
	local out
	out=$(c task exec --exec-id e-env "$D" sh -c 'echo "A=$A"' < /dev/null) || return 1
	expect_eq "env" "$out" "A=B"
}

exec_tty() {
	local out rc
	out=$(on_tty ctr -a "$SOCK" -n "$NS" task exec -t --exec-id e-tty "$D" \
		sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; exit 6')
	rc=$?
	expect_contains "output" "$out" "tty-ok" && expect_contains "output" "$out" "/dev/pts/" &&
		expect_eq "exit code" "$rc" 6
}

task_ps() {
	local out pid
	c task exec -d --exec-id e-bg "$D" sleep 4243 < /dev/null || return 1
	pid=$(task_pid "$D")
	out=$(c task ps "$D") || return 1
	echo "$out"
	expect_contains "ps" "$out" "$pid" && expect_contains "ps" "$out" "ExecID:e-bg" &&
		expect_eq "pid count" "$(awk 'NR > 1 && $1 ~ /^[0-9]+$/' <<< "$out" | wc -l)" 3
}

pause_resume() {
	c task pause "$D" || return 1
	wait_status "$D" PAUSED || return 1
	c task exec --exec-id e-paused "$D" true < /dev/null &> /dev/null &&
		{ echo "exec into a paused task succeeded"; return 1; }
	c task resume "$D" || return 1
	wait_status "$D" RUNNING || return 1
	c task exec --exec-id e-resumed "$D" true < /dev/null
}

metrics() {
	local out
	out=$(c task metrics "$D" 2>&1)
	echo "$out"
	if [[ $out == *"no metrics received"* ]]; then
		echo "(containerd.log: $(grep -m1 'loading cgroup' "$T/containerd.log"))"
		return 1
	fi
	expect_contains "metrics" "$out" "pids.current" && expect_contains "metrics" "$out" "memory." &&
		expect_contains "metrics" "$out" "cpu" || return 1
	# init, its sleep and the e-bg sleep
	expect_eq "pids.current" "$(awk '$1 == "pids.current" {print $2}' <<< "$out")" 3
}

kill_term() {
	local out
	c task kill -s SIGTERM "$D" || return 1
	wait_status "$D" STOPPED || return 1
	out=$(c task delete "$D" 2>&1) || { echo "$out"; return 1; }
	expect_contains "task delete" "$out" "exit code 7" # the trap ran
}

kill_kill() {
	local out
	ctr_run -d "$IMG" "$K" sh -c 'trap "" TERM; sleep 4244 & wait' < /dev/null || return 1
	wait_status "$K" RUNNING || return 1
	c task kill -s SIGTERM "$K" || return 1
	sleep 0.5
	expect_eq "status after SIGTERM" "$(status "$K")" RUNNING || return 1
	c task kill -s SIGKILL "$K" || return 1
	wait_status "$K" STOPPED || return 1
	out=$(c task delete "$K" 2>&1) || { echo "$out"; return 1; }
	expect_contains "task delete" "$out" "exit code 137"
}

delete_containers() {
	c container delete "$D" "$K" || return 1
	expect_eq "containers" "$(c container ls -q)" "" && expect_eq "tasks" "$(c task ls -q)" ""
}

no_leftovers() {
	local bad=0 m cg procs
	m=$(grep -F "$T/" /proc/self/mountinfo)
	[[ -z $m ]] || { echo "mounts left: $m"; bad=1; }
	cg=$(leftover_cgroups "$P*")
	[[ -z $cg ]] || { echo "cgroups left: $cg"; bad=1; }
	procs=$(pgrep -af "sleep 424[2-4]|containerd-shim-runc-v2 -namespace $NS ")
	[[ -z $procs ]] || { echo "processes left: $procs"; bad=1; }
	[[ -z $(ls -A "$RROOT/$NS" 2> /dev/null) ]] || { echo "runtime state left:"; ls -l "$RROOT/$NS"; bad=1; }
	return $bad
}

echo "containerd scenario: runtime $RUNTIME, containerd $(containerd --version | awk '{print $3}'), temp $T"
start=$SECONDS
# Not in a $(...) subshell: setup sets CTRD_PID for the teardown.
if ! setup > "$T/setup.log" 2>&1; then
	echo "setup failed:"
	sed 's/^/    /' "$T/setup.log"
	exit 2
fi
step "1 run: output and exit code 3" run_exit_code
step "2 run -t (tty)" run_tty
step "3 missing executable: runtime error reaches ctr" run_missing_executable
step "4 run -d: task RUNNING" run_detached
step "5a exec: exit code" exec_exit_code
step "5b exec --user 1000" exec_user
step "5c exec --cwd /tmp" exec_cwd
step "5d exec: container env A=B" exec_env
step "5e exec -t (tty)" exec_tty
step "6 task ps" task_ps
step "7 pause / resume" pause_resume
step "9 task metrics" metrics
step "8a kill SIGTERM: task ends (trap exit 7)" kill_term
step "8b kill SIGKILL: TERM-ignoring task ends (137)" kill_kill
step "10a task delete / container delete" delete_containers
step "10b no mounts, cgroups, processes, state left" no_leftovers
echo "time: $((SECONDS - start)) s"
summary containerd "$RUNTIME_NAME"
