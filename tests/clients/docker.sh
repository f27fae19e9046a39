#!/usr/bin/env bash
# The Docker scenario (issue 5): Debian's docker.io 20.10 drives
# RUNTIME_BINARY, registered with `dockerd --add-runtime`, through the life
# cycle of real containers (`docker run --runtime NAME ...`).
#
#   sudo tests/clients/docker.sh /usr/sbin/runc       (the control)
#   sudo tests/clients/docker.sh /work/main/nsrun
#
# A private dockerd: its own --data-root, --exec-root, --pidfile, socket and
# daemon.json under a temp dir, no iptables, no masquerading, no ip_forward
# change, default bridge docker0 on 10.201.0.1/24. dockerd starts its own
# managed containerd (state under the exec-root, root under the data-root).
# dockerd would attach to any containerd listening on the fixed path
# /run/containerd/containerd.sock (a system one, or another scenario's), so
# it runs in a private mount namespace with an empty tmpfs on /run/containerd:
# its containerd and shims are then private too. The runtime is registered
# under its basename ("runc" is reserved by dockerd: the control is "ctl").
# Everything is torn down on exit; the last step checks that nothing was
# left behind. One "PASS|FAIL step" line per step, then
# "docker (<runtime>): N passed, M failed" (exit status 1 on any failure).
# DOCKER_SCENARIO_LOG=FILE keeps dockerd's log in FILE.
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
	echo "$0: needs root (a private dockerd runs real containers)" >&2
	exit 2
fi
BIN=$(realpath "$1")
RUNTIME_NAME=$(basename "$BIN")
RT=$RUNTIME_NAME
[[ $RT != runc ]] || RT=ctl

# The shims daemonize: reap them (see lib.sh).
reexec_under_subreaper DOCKER_SCENARIO_REAPER "$0" "$@"

# Dependencies: a fresh Debian machine has none of them.
need=()
[[ -x /usr/bin/docker ]] && command -v dockerd > /dev/null || need+=(docker.io)
command -v busybox > /dev/null || need+=(busybox-static)
command -v script > /dev/null && command -v unshare > /dev/null || need+=(util-linux)
command -v ip > /dev/null || need+=(iproute2)
if ((${#need[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq "${need[@]}"; } > /dev/null ||
		{ echo "$0: cannot install ${need[*]}" >&2; exit 2; }
fi

T=$(mktemp -d /tmp/nsrun-docker.XXXXXX)
chmod 755 "$T"
mkdir -p "$T"/{data,exec,cli,bin}
cp "$BIN" "$T/bin/$RT" # a copy: the binary under test may be rebuilt meanwhile
SUBNET=10.201.0
IMG=nsrun-docker-busybox:latest
P=nsd$$- # prefix of every container name
# The runtime's --root: dockerd 20.10 hands every runc-shim runtime the same
# Root, <exec-root>/runtime-runc; the shim adds the containerd namespace.
RROOT=$T/exec/runtime-runc/moby
DPID=
DOCKER0_EXISTED=$(ip link show docker0 &> /dev/null && echo yes)
KEY_EXISTED=$([[ -e /etc/docker/key.json ]] && echo yes)
RUNCTD_EXISTED=$([[ -d /run/containerd ]] && echo yes)
RUNDOCKER_EXISTED=$([[ -d /run/docker ]] && echo yes) # dockerd makes /run/docker/plugins
CG_EXISTED=$(ls -d /sys/fs/cgroup/*/docker 2> /dev/null)
export DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/cli

d() { timeout 60 /usr/bin/docker "$@"; }
drun() { d run --runtime "$RT" "$@"; }
# on_tty CMD...: runs CMD with a pseudo-terminal as its stdio.
on_tty() { timeout 60 script -qec "$(printf '%q ' "$@")" /dev/null < /dev/null; }
insp() { d inspect --format "$2" "$1" 2> /dev/null; }
full_id() { insp "$1" '{{.Id}}'; }
# new_id NAME: records NAME's full id in $T/ids (for the leftover checks) and
# prints it. Steps run in subshells: files, not variables, carry state.
new_id() { full_id "$1" | tee -a "$T/ids"; }
# wait_status NAME WANT: polls State.Status for up to 10 s.
wait_status() {
	local i s
	for ((i = 0; i < 100; i++)); do
		s=$(insp "$1" '{{.State.Status}}')
		[[ $s == "$2" ]] && return 0
		sleep 0.1
	done
	echo "$1: status [$s], want [$2]"
	return 1
}
# ours: pids of processes started by this scenario (their command line names
# the temp dir: dockerd, its containerd, the shims) or by its containers.
ours() { pgrep -f "$T/|sleep 542[0-9]"; }

teardown() {
	local id p i m cg
	if [[ -n $DPID ]] && kill -0 "$DPID" 2> /dev/null; then
		for id in $(d ps -aq); do d rm -f "$id" &> /dev/null; done
		d rmi -f "$IMG" &> /dev/null
		kill "$DPID" # dockerd stops its containerd
		for ((i = 0; i < 150; i++)); do kill -0 "$DPID" 2> /dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2> /dev/null
		wait "$DPID" 2> /dev/null
	fi
	for p in $(ours); do kill -KILL "$p" 2> /dev/null; done
	# The mounts live in dockerd's private mount namespace and went with it;
	# anything that leaked into ours is unmounted, deepest first.
	for m in $(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m"
	done
	[[ -n $DOCKER0_EXISTED ]] || ip link del docker0 2> /dev/null
	[[ -n $KEY_EXISTED ]] || rm -f /etc/docker/key.json
	[[ -n $RUNCTD_EXISTED ]] || rmdir /run/containerd 2> /dev/null
	[[ -n $RUNDOCKER_EXISTED ]] || rmdir /run/docker/plugins /run/docker 2> /dev/null
	# Container cgroups (/docker/<id>) left by a failed run, and /docker
	# itself when this scenario created it.
	for cg in /sys/fs/cgroup/*/docker; do
		[[ -d $cg ]] || continue
		for id in $(cat "$T/ids" 2> /dev/null); do rmdir "$cg/$id" 2> /dev/null; done
		[[ $CG_EXISTED == *"$cg"* ]] || rmdir "$cg" 2> /dev/null
	done
	[[ -z ${DOCKER_SCENARIO_LOG:-} ]] || cp "$T/dockerd.log" "$DOCKER_SCENARIO_LOG"
	rm -rf "$T"
	[[ $DOCKER_SCENARIO_REAPER == none ]] || rm -rf "$DOCKER_SCENARIO_REAPER"
}
trap teardown EXIT
trap 'exit 130' INT TERM

start_dockerd() {
	local i
	echo '{}' > "$T/daemon.json" # not /etc/docker/daemon.json
	mkdir -p /run/containerd
	unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0711 nsrun-docker /run/containerd && exec "$@"' sh \
		dockerd --config-file "$T/daemon.json" --data-root "$T/data" --exec-root "$T/exec" \
		--pidfile "$T/docker.pid" -H "$DOCKER_HOST" --iptables=false --ip-masq=false --ip-forward=false \
		--bip "$SUBNET.1/24" --add-runtime "$RT=$T/bin/$RT" > "$T/dockerd.log" 2>&1 &
	DPID=$!
	for ((i = 0; i < 300; i++)); do
		[[ -S $T/docker.sock ]] && d version &> /dev/null && return 0
		kill -0 "$DPID" 2> /dev/null || break
		sleep 0.1
	done
	echo "dockerd did not come up:"
	tail -n 20 "$T/dockerd.log"
	return 1
}

setup() {
	start_dockerd || return 1
	# dockerd's managed containerd: its config (socket, state) is in the exec-root.
	pgrep -P "$DPID" -f "^containerd --config $T/exec/containerd/" > /dev/null ||
		{ echo "dockerd did not start its own containerd"; return 1; }
	d info --format '{{json .Runtimes}}' | grep -q "\"$RT\"" || { echo "runtime $RT not registered"; return 1; }
	make_busybox_tar "$T/busybox.tar" || return 1
	d import "$T/busybox.tar" "$IMG" > /dev/null
}

# --- the steps ---------------------------------------------------------------

D=${P}main     # long-running; exits 7 on SIGTERM
S=${P}stubborn # ignores SIGTERM
K=${P}killed   # exits 9 on SIGUSR1

run_exit_codes() {
	local out rc
	out=$(drun --rm "$IMG" sh -c 'echo hello; echo oops >&2; exit 3' 2> "$T/stderr")
	rc=$?
	expect_eq "stdout" "$out" hello && expect_eq "stderr" "$(cat "$T/stderr")" oops &&
		expect_eq "exit code" "$rc" 3 || return 1
	out=$(drun --rm "$IMG" echo ok)
	rc=$?
	expect_eq "output" "$out" ok && expect_eq "exit code" "$rc" 0
}

run_missing() {
	local out rc
	out=$(drun --rm "$IMG" /no/such/binary 2>&1)
	rc=$?
	echo "docker: $out"
	expect_eq "exit code" "$rc" 127 && expect_contains "error" "$out" "/no/such/binary" &&
		expect_contains "error" "$out" "no such file or directory"
}

run_tty() {
	local out rc
	out=$(on_tty /usr/bin/docker run --runtime "$RT" --rm -it "$IMG" \
		sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; exit 4')
	rc=$?
	expect_contains "output" "$out" "tty-ok" && expect_contains "output" "$out" "/dev/pts/" &&
		expect_eq "exit code" "$rc" 4
}

run_detached() {
	local id
	drun -d --name "$D" -e A=B "$IMG" sh -c 'trap "exit 7" TERM; sleep 5422 & wait' > /dev/null || return 1
	id=$(new_id "$D")
	wait_status "$D" running || return 1
	expect_eq "runtime" "$(insp "$D" '{{.HostConfig.Runtime}}')" "$RT" || return 1
	# The runtime under test (not dockerd's default runc) holds the container.
	expect_contains "$RT state" "$("$BIN" --root "$RROOT" state "$id")" '"status": "running"'
}

exec_code() { d exec "$D" sh -c 'exit 5'; expect_eq "exit code" "$?" 5; }
exec_user() { expect_eq "id" "$(d exec -u 1000:1000 "$D" sh -c 'echo $(id -u) $(id -g)')" "1000 1000"; }
exec_workdir() { expect_eq "pwd" "$(d exec -w /tmp "$D" pwd)" /tmp; }
exec_env() { expect_eq "env" "$(d exec -e C=D "$D" sh -c 'echo $A$C')" BD; }
exec_tty() {
	local out rc
	out=$(on_tty /usr/bin/docker exec -it "$D" sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; exit 6')
	rc=$?
	expect_contains "output" "$out" "tty-ok" && expect_contains "output" "$out" "/dev/pts/" &&
		expect_eq "exit code" "$rc" 6
}

docker_top() {
	local out
	out=$(d top "$D") || { echo "$out"; return 1; }
	echo "$out"
	expect_contains "top" "$out" "sleep 5422" && expect_contains "top" "$out" "trap"
}

docker_stats() {
	local out
	out=$(d stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' "$D") || { echo "$out"; return 1; }
	echo "$out"
	[[ $out =~ ^$D\ [1-9][0-9.]*[KMG]i?B\ /\ [0-9.]+[KMGT]i?B\ 2$ ]] && return 0
	echo "stats: no memory usage (or not 2 pids)"
	grep -m1 "loading cgroup" "$T/dockerd.log"
	# The shim cannot load a cgroup whose hierarchy is mounted only in another
	# mount namespace (e.g. a conformance run's private v1 hugetlb/net_cls).
	awk -F: '$2 != "" {print $2}' /proc/self/cgroup | while read -r h; do
		grep -qE " cgroup [^ ]+ [^ ]*\<${h%%,*}\>" /proc/self/mountinfo ||
			echo "note: cgroup v1 hierarchy $h is mounted only in another mount namespace"
	done
	return 1
}

update_memory() {
	local cg=/sys/fs/cgroup/memory/docker/$(full_id "$D")
	d update --memory 64m --memory-swap 128m "$D" > /dev/null || return 1
	expect_eq "memory.limit_in_bytes" "$(cat "$cg/memory.limit_in_bytes")" 67108864 || return 1
	if [[ -e $cg/memory.memsw.limit_in_bytes ]]; then
		expect_eq "memory.memsw.limit_in_bytes" "$(cat "$cg/memory.memsw.limit_in_bytes")" 134217728 || return 1
	fi
	expect_eq "inspect Memory" "$(insp "$D" '{{.HostConfig.Memory}}')" 67108864 &&
		expect_eq "seen inside" "$(d exec "$D" cat /sys/fs/cgroup/memory/memory.limit_in_bytes)" 67108864
}

pause_unpause() {
	d pause "$D" > /dev/null || return 1
	wait_status "$D" paused || return 1
	expect_eq "freezer" "$(cat "/sys/fs/cgroup/freezer/docker/$(full_id "$D")/freezer.state")" FROZEN || return 1
	d exec "$D" true &> /dev/null && { echo "exec into a paused container succeeded"; return 1; }
	d unpause "$D" > /dev/null || return 1
	wait_status "$D" running || return 1
	d exec "$D" true
}

network() {
	local out ip
	ip=$(insp "$D" '{{.NetworkSettings.IPAddress}}')
	[[ $ip == "$SUBNET".* ]] || { echo "IPAddress [$ip] not in $SUBNET.0/24"; return 1; }
	expect_eq "docker0" "$(ip -4 -o addr show docker0 | awk '{print $4}')" "$SUBNET.1/24" || return 1
	out=$(d exec "$D" sh -c 'ip -4 -o addr show eth0; ping -c 1 -W 3 '"$SUBNET.1" 2>&1)
	echo "$out"
	expect_contains "eth0" "$out" "inet $ip/24" && expect_contains "ping" "$out" "1 packets received"
}

stop_term() {
	local t0=$SECONDS
	d stop "$D" > /dev/null || return 1
	expect_eq "status" "$(insp "$D" '{{.State.Status}}')" exited &&
		expect_eq "exit code (the trap ran)" "$(insp "$D" '{{.State.ExitCode}}')" 7 || return 1
	((SECONDS - t0 < 8)) || { echo "stop took $((SECONDS - t0)) s: SIGTERM was not delivered"; return 1; }
}

stop_escalate() {
	local t0
	drun -d --name "$S" "$IMG" sh -c 'trap "" TERM; sleep 5423 & wait' > /dev/null || return 1
	new_id "$S" > /dev/null
	wait_status "$S" running || return 1
	t0=$(date +%s%N)
	d stop -t 2 "$S" > /dev/null || return 1
	t0=$((($(date +%s%N) - t0) / 1000000))
	echo "stop -t 2 took $t0 ms"
	((t0 >= 1900)) || { echo "stopped before the timeout: SIGTERM was not ignored"; return 1; }
	expect_eq "exit code" "$(insp "$S" '{{.State.ExitCode}}')" 137
}

kill_signals() {
	drun -d --name "$K" "$IMG" sh -c 'trap "exit 9" USR1; sleep 5424 & wait' > /dev/null || return 1
	new_id "$K" > /dev/null
	wait_status "$K" running || return 1
	d kill -s USR1 "$K" > /dev/null || return 1
	wait_status "$K" exited || return 1
	expect_eq "exit code after USR1" "$(insp "$K" '{{.State.ExitCode}}')" 9 || return 1
	d start "$K" > /dev/null || return 1
	wait_status "$K" running || return 1
	d kill "$K" > /dev/null || return 1
	wait_status "$K" exited || return 1
	expect_eq "exit code after kill" "$(insp "$K" '{{.State.ExitCode}}')" 137
}

remove() {
	local r=${P}rmf
	drun -d --name "$r" "$IMG" sleep 5425 > /dev/null || return 1
	new_id "$r" > /dev/null
	wait_status "$r" running || return 1
	d rm -f "$r" > /dev/null || return 1
	d rm "$D" "$S" "$K" > /dev/null || return 1
	expect_eq "docker ps -a" "$(d ps -aq)" ""
}

no_leftovers() {
	local bad=0 id left
	for id in $(cat "$T/ids"); do
		left=$(ls -d /sys/fs/cgroup/*/docker/"$id" 2> /dev/null)
		[[ -z $left ]] || { echo "cgroups left: $left"; bad=1; }
		[[ ! -e $RROOT/$id ]] || { echo "runtime state left: $RROOT/$id"; bad=1; }
		left=$(grep -F "$id" "/proc/$DPID/mountinfo")
		[[ -z $left ]] || { echo "mounts left: $left"; bad=1; }
	done
	left=$(pgrep -af "sleep 542[0-9]|containerd-shim-runc-v2 .*$T/")
	[[ -z $left ]] || { echo "processes left: $left"; bad=1; }
	return $bad
}

echo "docker scenario: runtime $BIN as \"$RT\", $(dockerd --version), temp $T"
start=$SECONDS
# Not in a $(...) subshell: setup sets DPID for the teardown.
if ! setup > "$T/setup.log" 2>&1; then
	echo "setup failed:"
	sed 's/^/    /' "$T/setup.log"
	exit 2
fi
step "1a run: output, exit codes 3 and 0" run_exit_codes
step "1b run: missing executable exits 127" run_missing
step "1c run -it (tty)" run_tty
step "2 run -d: running" run_detached
step "3a exec: exit code" exec_code
step "3b exec -u 1000:1000" exec_user
step "3c exec -w /tmp" exec_workdir
step "3d exec -e (and the run -e)" exec_env
step "3e exec -it (tty)" exec_tty
step "4 top" docker_top
step "5 stats --no-stream: memory usage" docker_stats
step "6 update --memory 64m --memory-swap 128m" update_memory
step "7 pause / unpause" pause_unpause
step "8 bridge network: IP in $SUBNET.0/24, ping gateway" network
step "9a stop: SIGTERM (trap exit 7)" stop_term
step "9b stop -t 2: TERM ignored, SIGKILL (137)" stop_escalate
step "10 kill -s USR1 (9), start again, kill (137)" kill_signals
step "11 rm, rm -f" remove
step "12 no cgroups, runtime state, mounts, processes left" no_leftovers
echo "time: $((SECONDS - start)) s"
summary docker "$RUNTIME_NAME"
