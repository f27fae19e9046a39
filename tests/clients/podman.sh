#!/usr/bin/env bash
# The podman scenario of issue 5: Debian's podman 4.3 + conmon drive
# RUNTIME_BINARY through a life cycle of real containers.
#   tests/clients/podman.sh /usr/sbin/runc        (the control)
#   tests/clients/podman.sh /work/main/nsrun
# Podman runs fully private: its own --root/--runroot/--tmpdir, a private
# containers.conf (CONTAINERS_CONF) registering the runtime under its
# basename (listed in runtime_supports_json, so runtime errors come back via
# --log-format json), a private storage.conf, file locks, a file events log,
# and a private CNI network "nsrunpod" (bridge nsrunpod0, 10.202.0.0/24, no
# masquerading, no firewall plugin: nothing global is left in iptables).
# Containers go into their own cgroup parent. Everything is torn down at the
# end, and the last step checks that nothing is left behind. Prints one
# PASS/FAIL line per step and ends with "podman (<runtime>): N passed, M failed".
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if (($# != 1)) || [[ ! -x $1 ]]; then
	echo "usage: $0 RUNTIME_BINARY" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "$0: podman runs rootful here: run as root" >&2
	exit 2
fi
BIN=$(readlink -f "$1")
# The name podman knows the runtime by: a basename runtime_supports_json
# lists (runc, crun; anything else is nsrun).
RT=$(basename "$1")
[[ $RT == runc || $RT == crun ]] || RT=nsrun

# Self-provisioning: CI starts from a fresh Debian machine.
if ! command -v podman > /dev/null || ! command -v conmon > /dev/null ||
	! command -v criu > /dev/null || [[ ! -x /usr/lib/cni/bridge ]]; then
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq podman conmon containernetworking-plugins criu; } > /dev/null ||
		{ echo "$0: installing podman failed" >&2; exit 2; }
fi

W=$(mktemp -d /tmp/nsrun-podman.XXXXXX)
chmod 0755 "$W"
CG=nsrunpod-$$ # the containers' cgroup parent, in every hierarchy
NET=nsrunpod BRIDGE=nsrunpod0 SUBNET=10.202.0 IMG=localhost/nsrun-busybox:latest
mkdir -p "$W"/{bin,net,tmp,cni}
cp "$BIN" "$W/bin/$RT" # a copy: the binary under test may be rebuilt meanwhile

cat > "$W/containers.conf" << EOF
[containers]
# The default root rlimits need CAP_SYS_RESOURCE, which this host lacks.
default_ulimits = []
log_driver = "k8s-file"
[network]
network_backend = "cni"
network_config_dir = "$W/net"
default_network = "$NET"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
tmp_dir = "$W/tmp"
lock_type = "file"
runtime = "$RT"
runtime_supports_json = ["nsrun", "runc", "crun"]
[engine.runtimes]
$RT = ["$W/bin/$RT"]
EOF
cat > "$W/storage.conf" << EOF
[storage]
driver = "overlay"
graphroot = "$W/root"
runroot = "$W/runroot"
EOF
cat > "$W/net/$NET.conflist" << EOF
{
  "cniVersion": "0.4.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
      "ipam": {
        "type": "host-local", "dataDir": "$W/cni",
        "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1"}]]
      }
    }
  ]
}
EOF
cat > "$W/seccomp.json" << 'EOF'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
  ]
}
EOF
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf
PODMAN=(podman --root "$W/root" --runroot "$W/runroot" --tmpdir "$W/tmp" --runtime "$RT")
pm() { "${PODMAN[@]}" "$@"; }
prun() { pm run --cgroup-parent "/$CG" "$@"; }
# The podman command line as one shell word list (for script -c).
PM_SH=$(printf '%q ' "${PODMAN[@]}")
netns_before=$(ls /run/netns 2> /dev/null)
cni_dir_existed=$([[ -d /var/lib/cni ]] && echo yes) # libcni's result cache
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward) # the bridge plugin sets it

status_of() { pm inspect --format '{{.State.Status}}' "$1" 2> /dev/null; }
exitcode_of() { pm inspect --format '{{.State.ExitCode}}' "$1" 2> /dev/null; }
pid_of() { pm inspect --format '{{.State.Pid}}' "$1" 2> /dev/null; }
# wait_for_log NAME TEXT: until the container's log shows TEXT (10 s).
wait_for_log() {
	local i
	for i in $(seq 100); do
		[[ $(pm logs "$1" 2>&1) == *"$2"* ]] && return 0
		sleep 0.1
	done
	echo "$1: no \"$2\" in its log"
	return 1
}
# our_pids: processes whose command line names the private directory
# (conmon, podman's cleanup processes), i.e. started by this scenario.
our_pids() {
	local f
	for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' < "$f" 2> /dev/null | grep -qF "$W/" && { f=${f#/proc/}; echo "${f%/cmdline}"; }
	done
}

teardown_done=0
# teardown [check]: removes everything; with "check", reports what was left
# behind by the runtime or podman (before cleaning it up by force).
teardown() {
	((teardown_done)) && return 0
	teardown_done=1
	local bad=0 i p m left ids
	ids=$(pm ps -aq --no-trunc 2> /dev/null)
	pm rm -af -t 0 > /dev/null 2>&1
	pm system reset -f > /dev/null 2>&1
	for i in $(seq 50); do [[ -z $(our_pids) ]] && break; sleep 0.2; done
	left=$(our_pids)
	if [[ -n $left ]]; then
		echo "leftover processes: $left"; bad=1
		for p in $left; do kill -9 "$p" 2> /dev/null; done
	fi
	left=$(awk -v w="$W/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
	if [[ -n $left ]]; then
		echo "leftover mounts: $left"; bad=1
		for m in $left; do umount -l "$m" 2> /dev/null; done
	fi
	for id in $ids; do
		if "$BIN" list -q 2> /dev/null | grep -qx "$id"; then
			echo "leftover $RT state: $id"; bad=1
			"$BIN" delete -f "$id" > /dev/null 2>&1
		fi
	done
	if ip link show "$BRIDGE" > /dev/null 2>&1; then
		ip link del "$BRIDGE" 2> /dev/null
	fi
	left=$(comm -13 <(echo "$netns_before") <(ls /run/netns 2> /dev/null) | grep .)
	if [[ -n $left ]]; then
		echo "leftover network namespaces: $left"; bad=1
		for m in $left; do ip netns del "$m" 2> /dev/null; done
	fi
	[[ $ip_forward_before == 0 ]] && echo 0 > /proc/sys/net/ipv4/ip_forward
	left=$(ls /var/lib/cni/results 2> /dev/null | grep "^$NET-")
	[[ -z $left ]] || { echo "leftover CNI results: $left"; bad=1; }
	[[ -n $cni_dir_existed ]] || rmdir /var/lib/cni/results /var/lib/cni 2> /dev/null
	# Our cgroup parent: podman leaves it (and conmon's); the containers'
	# cgroups inside it must be gone.
	left=$(find /sys/fs/cgroup/*/"$CG" -mindepth 1 -maxdepth 1 -type d -name 'libpod-*' 2> /dev/null)
	if [[ -n $left ]]; then
		echo "leftover container cgroups: $left"; bad=1
	fi
	find /sys/fs/cgroup/*/"$CG" -depth -type d -exec rmdir {} + 2> /dev/null
	left=$(find /sys/fs/cgroup/*/"$CG" -maxdepth 0 2> /dev/null)
	[[ -z $left ]] || { echo "cgroups not removable: $left"; bad=1; }
	rm -rf "$W"
	return $bad
}
trap teardown EXIT
trap 'exit 130' INT TERM # through the EXIT trap

# ---- steps ----
t_setup() {
	make_busybox_tar "$W/busybox.tar" || return 1
	pm import -q "$W/busybox.tar" "$IMG" > /dev/null || return 1
	expect_contains "network ls" "$(pm network ls --format '{{.Name}}')" "$NET" &&
		expect_eq "podman's runtime" "$(pm info --format '{{.Host.OCIRuntime.Path}}')" "$W/bin/$RT"
}
t_run() {
	local out rc
	out=$(prun --rm "$IMG" sh -c 'echo hello; echo oops >&2; exit 3' 2>&1)
	rc=$?
	expect_eq "exit code" "$rc" 3 && expect_eq output "$out" $'hello\noops'
	out=$(prun --rm "$IMG" echo ok) && expect_eq "exit 0 output" "$out" ok
}
t_user() { expect_eq "id" "$(prun --rm --user 1000 "$IMG" id -u)" 1000; }
t_workdir() { expect_eq "pwd" "$(prun --rm --workdir /tmp "$IMG" pwd)" /tmp; }
t_env() { expect_eq "A" "$(prun --rm -e A=B "$IMG" sh -c 'echo $A')" B; }
t_memory() {
	expect_eq "memory.limit_in_bytes" \
		"$(prun --rm --memory 64m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes)" 67108864
}
t_pids() {
	expect_eq "pids.max" "$(prun --rm --pids-limit 32 "$IMG" cat /sys/fs/cgroup/pids/pids.max)" 32
}
t_readonly() {
	local out
	out=$(prun --rm --read-only "$IMG" sh -c 'touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok')
	expect_contains "touch /x" "$out" "Read-only file system" && expect_contains "touch /x" "$out" "rc=1" &&
		expect_contains "/tmp stays writable" "$out" "tmp-ok"
}
t_capdrop() {
	local out
	out=$(prun --rm --cap-drop ALL "$IMG" sh -c 'grep CapEff /proc/self/status; chown 1 /tmp 2>&1; echo rc=$?')
	expect_contains "CapEff" "$out" "0000000000000000" &&
		expect_contains "chown" "$out" "Operation not permitted" && expect_contains "chown" "$out" "rc=1"
	out=$(prun --rm "$IMG" sh -c 'chown 1 /tmp && echo chown-ok')
	expect_eq "chown with the default capabilities" "$out" chown-ok
}
t_seccomp() {
	local out
	out=$(prun --rm --security-opt seccomp="$W/seccomp.json" "$IMG" sh -c 'mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo touch-ok')
	expect_contains "mkdir" "$out" "Operation not permitted" && expect_contains "mkdir" "$out" "rc=1" &&
		expect_contains "touch" "$out" "touch-ok"
}
t_missing() {
	local out rc
	out=$(prun --rm "$IMG" /no/such/binary 2>&1)
	rc=$?
	expect_eq "exit code" "$rc" 127 && expect_contains "error" "$out" "/no/such/binary" &&
		expect_contains "error" "$out" "no such file or directory"
}
t_detach() {
	local id
	id=$(prun -d --name nsp-main "$IMG" sleep 1000) || return 1
	expect_eq "id" "${#id}" 64 && expect_eq status "$(status_of nsp-main)" running &&
		[[ $(pid_of nsp-main) -gt 0 ]] && kill -0 "$(pid_of nsp-main)"
}
t_exec() {
	local out rc
	out=$(pm exec nsp-main sh -c 'echo in-$HOSTNAME; exit 4')
	rc=$?
	expect_eq "exit code" "$rc" 4 && expect_contains output "$out" "in-"
	out=$(pm exec --user 1000 --workdir /tmp -e X=Y nsp-main sh -c 'echo $(id -u) $(pwd) $X') &&
		expect_eq "exec --user --workdir -e" "$out" "1000 /tmp Y"
}
t_exec_tty() {
	local out rc
	out=$(script -qec "$PM_SH exec -it nsp-main sh -c 'tty; stty size; exit 5'" /dev/null < /dev/null)
	rc=$?
	expect_eq "exit code" "$rc" 5 && expect_contains "tty" "$out" "/dev/pts/"
}
t_top() {
	local out
	out=$(pm top nsp-main) && expect_contains "top" "$out" "sleep 1000"
}
t_pause() {
	pm pause nsp-main > /dev/null || return 1
	expect_eq "paused" "$(status_of nsp-main)" paused || return 1
	pm unpause nsp-main > /dev/null || return 1
	expect_eq "unpaused" "$(status_of nsp-main)" running && pm exec nsp-main true
}
t_stop_term() {
	local t0 t1
	prun -d --name nsp-term "$IMG" sh -c 'trap "exit 42" TERM; echo ready; sleep 1000 & wait' > /dev/null || return 1
	wait_for_log nsp-term ready || return 1
	t0=$(date +%s%N)
	pm stop -t 20 nsp-term > /dev/null || return 1
	t1=$(date +%s%N)
	expect_eq status "$(status_of nsp-term)" exited && expect_eq "exit code" "$(exitcode_of nsp-term)" 42 &&
		(((t1 - t0) / 1000000 < 10000)) || { echo "stop took $(((t1 - t0) / 1000000)) ms"; return 1; }
}
t_stop_kill() {
	local t0 ms
	prun -d --name nsp-stubborn "$IMG" sh -c 'trap "" TERM; echo ready; sleep 1000 & wait' > /dev/null || return 1
	wait_for_log nsp-stubborn ready || return 1
	t0=$(date +%s%N)
	pm stop -t 2 nsp-stubborn > /dev/null || return 1
	ms=$((($(date +%s%N) - t0) / 1000000))
	expect_eq status "$(status_of nsp-stubborn)" exited && expect_eq "exit code" "$(exitcode_of nsp-stubborn)" 137 &&
		((ms >= 1900 && ms < 10000)) || { echo "stop -t 2 took $ms ms"; return 1; }
}
t_kill() {
	prun -d --name nsp-kill "$IMG" sleep 1000 > /dev/null || return 1
	pm kill nsp-kill > /dev/null || return 1
	pm wait nsp-kill > /dev/null
	expect_eq status "$(status_of nsp-kill)" exited && expect_eq "exit code" "$(exitcode_of nsp-kill)" 137
}
t_kill_signal() {
	prun -d --name nsp-usr1 "$IMG" sh -c 'trap "exit 9" USR1; echo ready; sleep 1000 & wait' > /dev/null || return 1
	wait_for_log nsp-usr1 ready || return 1
	pm kill --signal SIGUSR1 nsp-usr1 > /dev/null || return 1
	expect_eq "exit code" "$(pm wait nsp-usr1)" 9
}
t_restart() {
	local before after
	before=$(pid_of nsp-main)
	pm restart -t 1 nsp-main > /dev/null || return 1
	after=$(pid_of nsp-main)
	expect_eq status "$(status_of nsp-main)" running && [[ $after -gt 0 && $after != "$before" ]] ||
		{ echo "pid before $before, after $after"; return 1; }
	expect_eq "exec after restart" "$(pm exec nsp-main echo alive)" alive
}
t_rm() {
	local id pid
	id=$(pm inspect --format '{{.Id}}' nsp-main) && pid=$(pid_of nsp-main) || return 1
	pm rm -f -t 0 nsp-main > /dev/null || return 1
	pm container exists nsp-main && { echo "nsp-main still exists"; return 1; }
	kill -0 "$pid" 2> /dev/null && { echo "its process $pid still runs"; return 1; }
	if "$BIN" list -q 2> /dev/null | grep -qx "$id"; then echo "$RT still lists $id"; return 1; fi
	pm rm nsp-term nsp-stubborn nsp-kill nsp-usr1 > /dev/null
}
t_bridge() {
	local out
	out=$(prun --rm --network "$NET" "$IMG" sh -c 'ip -4 -o addr show eth0; ping -c 1 -W 2 '"$SUBNET.1")
	expect_contains "address" "$out" "inet $SUBNET." && expect_contains "ping" "$out" "1 packets received"
}
t_nonet() {
	local out
	out=$(prun --rm --network none "$IMG" sh -c 'ls /sys/class/net')
	expect_eq "interfaces" "$out" lo
}
t_pidhost() {
	local out
	out=$(prun --rm --pid host "$IMG" sh -c "test -d /proc/$$ && echo sees-host; cat /proc/1/cmdline | tr '\0' ' '")
	expect_contains "host pid $$" "$out" sees-host
}
t_userns() {
	local out
	out=$(prun --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u')
	out=$(echo "$out" | tr -s ' ' | sed 's/^ //')
	expect_eq "uid_map, gid_map, id" "$out" $'0 100000 65536\n0 100000 65536\n0'
}
# Checkpoint/restore: done through CRIU where the runtime and this kernel
# allow it; otherwise the error must say clearly that it is not possible.
t_checkpoint() {
	local out id
	prun -d --name nsp-ckpt "$IMG" sh -c 'echo ready; sleep 1000' > /dev/null || return 1
	wait_for_log nsp-ckpt ready || return 1
	if out=$(pm container checkpoint nsp-ckpt 2>&1); then
		expect_eq "after checkpoint" "$(status_of nsp-ckpt)" exited || return 1
		pm container restore nsp-ckpt > /dev/null || return 1
		expect_eq "after restore" "$(status_of nsp-ckpt)" running || return 1
		echo "checkpoint and restore done" > "$W/ckpt-note"
	else
		echo "checkpoint refused: $(echo "$out" | grep -m 1 -iE 'criu|not support' | cut -c1-300)" > "$W/ckpt-note"
		echo "$out"
		# Clear: it names CRIU's failure, or says the runtime has no checkpoint.
		[[ $out == *[Cc][Rr][Ii][Uu]* || $out == *"not support"* ]] || { echo "unclear checkpoint error"; return 1; }
		# Podman may refuse before calling the runtime: ask the runtime the
		# way podman would, and read its JSON error.
		id=$(pm inspect --format '{{.Id}}' nsp-ckpt)
		"$W/bin/$RT" --log-format=json --log="$W/ckpt.json" checkpoint --image-path "$W/ckpt-img" \
			--work-path "$W/ckpt-work" --leave-running "$id" > /dev/null 2>&1 && { echo "runtime checkpoint succeeded"; return 1; }
		out=$(grep '"level":"error"' "$W/ckpt.json" | tail -n 1)
		echo "runtime: $out" >> "$W/ckpt-note"
		[[ $out == *[Cc][Rr][Ii][Uu]* || $out == *"not support"* ]] || { echo "unclear runtime error: $out"; return 1; }
		expect_eq "still running after a failed checkpoint" "$(status_of nsp-ckpt)" running
	fi
}
t_teardown() { teardown; }

start=$(date +%s)
step "setup: import busybox, network $NET" t_setup
step "run --rm: output, stderr and exit codes 3 and 0" t_run
step "run --user 1000" t_user
step "run --workdir /tmp" t_workdir
step "run -e A=B" t_env
step "run --memory 64m (cgroup limit inside)" t_memory
step "run --pids-limit 32" t_pids
step "run --read-only: write to / fails" t_readonly
step "run --cap-drop ALL: chown fails" t_capdrop
step "run --security-opt seccomp=profile: mkdir denied" t_seccomp
step "run of a missing executable: exit 127 and the error" t_missing
step "run -d" t_detach
step "exec: exit code, --user/--workdir/-e" t_exec
step "exec -it (pty): tty and exit code" t_exec_tty
step "top" t_top
step "pause / unpause" t_pause
step "stop: SIGTERM ends a trapping container" t_stop_term
step "stop -t 2: escalation to SIGKILL" t_stop_kill
step "kill (SIGKILL): exit 137" t_kill
step "kill --signal SIGUSR1" t_kill_signal
step "restart" t_restart
step "rm -f of a running container" t_rm
step "bridge network: IP in $SUBNET.0/24, ping the gateway" t_bridge
step "--network none: only lo" t_nonet
step "--pid host: sees host PIDs" t_pidhost
step "--uidmap/--gidmap 0:100000:65536" t_userns
step "container checkpoint / restore, or a clear error" t_checkpoint
[[ -f $W/ckpt-note ]] && sed 's/^/NOTE /' "$W/ckpt-note"
step "teardown: no leftover processes, mounts, state, netns, cgroups" t_teardown
trap - EXIT # done above (in the step's subshell)
echo "time: $(($(date +%s) - start)) s"
summary podman "$RT"
