#!/usr/bin/env bash
# The Kubernetes-path scenario (issue 5): a private containerd 1.6 with its
# CRI plugin, driven with crictl the way the kubelet drives it, its runc
# shim v2 pointed at RUNTIME_BINARY through a runtime handler.
#
#   sudo tests/clients/cri.sh RUNTIME_BINARY
#
# Same steps for any runc-compatible runtime (runc is the control); the
# handler is named after the binary and is containerd's default_runtime_name.
# Installs containerd, containernetworking-plugins, busybox-static, gcc from
# Debian; builds crictl from the Go module proxy once into $CRICTL_CACHE
# (default /var/cache/nsrun-clients). Builds a static pause image and a
# busybox image locally; containerd gets its own root, state, sockets and
# CNI conf under a temp dir (bridge nsruncri0, 10.203.0.0/24); all is torn
# down on exit. Prints "PASS|FAIL step" lines, then "cri (<runtime>): N
# passed, M failed" (exit 1 on failure). CRI_SCENARIO_LOG=FILE keeps
# containerd's log.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 RUNTIME_BINARY" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "$0: needs root (a private containerd runs real pods)" >&2; exit 2; }
RUNTIME=$(realpath "$1")
RUNTIME_NAME=$(basename "$RUNTIME")
HANDLER=$RUNTIME_NAME

# The shims daemonize: reap them (see lib.sh).
reexec_under_subreaper CRI_SCENARIO_REAPER "$0" "$@"

need=()
command -v containerd > /dev/null || need+=(containerd)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || need+=(containernetworking-plugins)
command -v busybox > /dev/null || need+=(busybox-static)
command -v gcc > /dev/null && [[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || need+=(gcc libc6-dev)
command -v ip > /dev/null || need+=(iproute2)
if ((${#need[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq "${need[@]}"; } > /dev/null ||
		{ echo "$0: cannot install ${need[*]}" >&2; exit 2; }
fi
CRICTL_CACHE=${CRICTL_CACHE:-/var/cache/nsrun-clients}
CRICTL=$CRICTL_CACHE/crictl
if [[ ! -x $CRICTL ]]; then
	mkdir -p "$CRICTL_CACHE"
	echo "building crictl into $CRICTL_CACHE (once; a few minutes)"
	for v in v1.37.0 v1.34.0; do
		(cd / && GOBIN=$CRICTL_CACHE GOFLAGS=-mod=mod go install "sigs.k8s.io/cri-tools/cmd/crictl@$v") &&
			echo "$v" > "$CRICTL.version" && break
	done
	[[ -x $CRICTL ]] || { echo "$0: cannot build crictl" >&2; exit 2; }
fi

T=$(mktemp -d /tmp/nsrun-cri.XXXXXX)
chmod 755 "$T"
SOCK=$T/containerd.sock
BRIDGE=nsruncri0
SUBNET=10.203.0.0/24
PAUSE_IMG=localhost/nsrun-cri/pause:1
BB_IMG=localhost/nsrun-cri/busybox:1
CGPARENT=/kubepods-nsruncri$$/besteffort/pod$$ # the kubelet's shape (cgroupfs driver)
CTRD_PID=

cri() { timeout 90 "$CRICTL" --config "$T/crictl.yaml" "$@"; }
# Ids live in files: steps run in subshells.
pod() { cat "$T/pod.id"; }
ctr_a() { cat "$T/a.id"; }
ctr_b() { cat "$T/b.id"; }
# tmpl KIND ID TEMPLATE: a field of `crictl inspect|inspectp`.
tmpl() { cri "$1" -o go-template --template "$3" "$2"; }

teardown() {
	local m pid i
	if [[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2> /dev/null; then
		cri rm -af &> /dev/null; cri rmp -af &> /dev/null
		kill "$CTRD_PID"
		for ((i = 0; i < 100; i++)); do kill -0 "$CTRD_PID" 2> /dev/null || break; sleep 0.1; done
		kill -KILL "$CTRD_PID" 2> /dev/null
		wait "$CTRD_PID" 2> /dev/null
	fi
	# Shims of our containerd that outlived it (none when all went well).
	for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK"); do kill -KILL "$pid"; done
	# Mounts under the temp dir (rootfs, shm, netns), deepest first.
	for m in $(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m"
	done
	[[ ! -s $T/netns ]] || { umount "$(cat "$T/netns")"; rm -f "$(cat "$T/netns")"; } 2> /dev/null
	ip link del "$BRIDGE" 2> /dev/null
	find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d -path "*/kubepods-nsruncri$$*" \
		-exec rmdir {} + 2> /dev/null
	[[ -z ${CRI_SCENARIO_LOG:-} ]] || cp "$T/containerd.log" "$CRI_SCENARIO_LOG"
	rm -rf "$T"
	[[ $CRI_SCENARIO_REAPER == none ]] || rm -rf "$CRI_SCENARIO_REAPER"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# build_pause FILE: a static pause program (sleeps until SIGINT/SIGTERM,
# reaps whatever is re-parented to it) packed as the sandbox image.
build_pause() {
	mkdir -p "$T/pause/rootfs"
	cat > "$T/pause/pause.c" <<-'EOF'
		#include <signal.h>
		#include <stddef.h>
		#include <sys/wait.h>
		#include <unistd.h>
		static void on_stop(int sig) { (void)sig; _exit(0); }
		static void on_child(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) ; }
		int main(void) {
			struct sigaction stop = {.sa_handler = on_stop};
			struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
			sigaction(SIGINT, &stop, NULL), sigaction(SIGTERM, &stop, NULL), sigaction(SIGCHLD, &child, NULL);
			for (;;) pause();
		}
	EOF
	gcc -static -Os -o "$T/pause/rootfs/pause" "$T/pause/pause.c" || return 1
	make_oci_archive "$T/pause/rootfs" "$PAUSE_IMG" '{"Entrypoint":["/pause"]}' "$1"
}

write_configs() {
	local cri_p='plugins."io.containerd.grpc.v1.cri"'
	# The kubelet's default: network and IPC of the pod, a pid namespace per container.
	local ctr_linux='{"security_context": {"namespace_options": {"network": 0, "pid": 1, "ipc": 0}}}'
	mkdir -p "$T/cni" "$T/logs"
	cat > "$T/config.toml" <<-EOF
		version = 2
		root = "$T/root"
		state = "$T/state"
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[debug]
		  address = "$T/debug.sock"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$T/opt"
		[$cri_p]
		  sandbox_image = "$PAUSE_IMG"
		  restrict_oom_score_adj = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  netns_mounts_under_state_dir = true
		  [$cri_p.containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "$HANDLER"
		    [$cri_p.containerd.runtimes.$HANDLER]
		      runtime_type = "io.containerd.runc.v2"
		      [$cri_p.containerd.runtimes.$HANDLER.options]
		        BinaryName = "$RUNTIME"
		        Root = "$T/runtime-root"
		  [$cri_p.cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$T/cni"
		    max_conf_num = 1
	EOF
	cat > "$T/cni/10-nsruncri.conflist" <<-EOF
		{"cniVersion": "0.4.0", "name": "nsruncri", "plugins": [{
		  "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
		  "ipam": {"type": "host-local", "dataDir": "$T/ipam",
		           "ranges": [[{"subnet": "$SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
	EOF
	# A securityContext as the kubelet sends it; c ends on its own.
	cat > "$T/c.json" <<-EOF
		{"metadata": {"name": "c"}, "image": {"image": "$BB_IMG"}, "log_path": "c.log",
		 "command": ["sh", "-c", "id -u; touch /x 2> /dev/null || echo ro-ok; grep -E '^(CapEff|Seccomp):' /proc/self/status; exit 5"],
		 "linux": {"security_context": {"namespace_options": {"network": 0, "pid": 1, "ipc": 0},
		   "run_as_user": {"value": 1000}, "readonly_rootfs": true, "no_new_privs": true,
		   "capabilities": {"drop_capabilities": ["ALL"]}, "seccomp": {"profile_type": 0}}}}
	EOF
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\npull-image-on-create: false\n' \
		"$SOCK" "$SOCK" > "$T/crictl.yaml"
	cat > "$T/pod.json" <<-EOF
		{"metadata": {"name": "nsrun-pod", "namespace": "nsrun-cri", "uid": "nsrun-cri-uid-$$", "attempt": 0},
		 "hostname": "nsrun-pod", "log_directory": "$T/logs",
		 "linux": {"cgroup_parent": "$CGPARENT", "sysctls": {"net.ipv4.ping_group_range": "0 4242"},
		           "security_context": {"namespace_options": {"network": 0, "pid": 1, "ipc": 0}}}}
	EOF
	cat > "$T/a.json" <<-EOF
		{"metadata": {"name": "a"}, "image": {"image": "$BB_IMG"}, "log_path": "a.log",
		 "command": ["sh", "-c", "echo hello-from-a; exec sleep 4301"], "linux": $ctr_linux}
	EOF
	cat > "$T/b.json" <<-EOF
		{"metadata": {"name": "b"}, "image": {"image": "$BB_IMG"}, "log_path": "b.log",
		 "command": ["sleep", "4302"], "linux": ${ctr_linux%\}}, "resources": {"memory_limit_in_bytes": 67108864,
		   "cpu_shares": 256, "cpu_period": 100000, "cpu_quota": 50000}}}
	EOF
}

# unmounted_v1: v1 hierarchies that processes belong to (in /proc/self/cgroup)
# but that no mount shows; e.g. net_cls,net_prio stays active after a test
# unmounts it (sockets pin it). containerd's cgroup v1 loader then fails for
# every task ("cannot find cgroup mount destination": no stats).
unmounted_v1() {
	local id ctl rest
	while IFS=: read -r id ctl rest; do
		[[ $id == 0 || -z $ctl ]] && continue
		awk -v c="$ctl" '$0 ~ / - cgroup / { s = "," $NF ","; n = split(c, w, ","); ok = 1
			for (i = 1; i <= n; i++) if (index(s, "," w[i] ",") == 0) ok = 0
			if (ok) f = 1 } END { exit !f }' /proc/self/mountinfo || echo "$ctl"
	done < /proc/self/cgroup
}

start_containerd() {
	local i ctl pre=
	# With such a hierarchy, containerd (and its shims) get a private mount
	# namespace where it is mounted, under $T: the same for every runtime.
	for ctl in $(unmounted_v1); do
		echo "note: v1 cgroup hierarchy $ctl is active but not mounted; containerd runs in a private mount namespace with it mounted"
		mkdir -p "$T/cg/$ctl"
		[[ $ctl == name=* ]] && pre+="mount -t cgroup -o none,$ctl cgroup $T/cg/$ctl && " ||
			pre+="mount -t cgroup -o $ctl cgroup $T/cg/$ctl && "
	done
	if [[ -n $pre ]]; then
		unshare -m --propagation slave sh -c "$pre exec containerd --config $T/config.toml" > "$T/containerd.log" 2>&1 &
	else
		containerd --config "$T/config.toml" > "$T/containerd.log" 2>&1 &
	fi
	CTRD_PID=$!
	for ((i = 0; i < 150; i++)); do
		[[ -S $SOCK ]] && cri version &> /dev/null && cri info &> /dev/null && return 0
		kill -0 "$CTRD_PID" 2> /dev/null || break
		sleep 0.1
	done
	echo "containerd (CRI) did not come up:"
	tail -n 20 "$T/containerd.log"
	return 1
}

setup() {
	local r
	write_configs || return 1
	start_containerd || return 1
	build_pause "$T/pause.tar" || return 1
	make_busybox_rootfs "$T/bb" && make_oci_archive "$T/bb" "$BB_IMG" \
		'{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' "$T/bb.tar" || return 1
	for r in pause bb; do
		timeout 60 ctr -a "$SOCK" -n k8s.io image import "$T/$r.tar" > /dev/null || return 1
	done
	rm -rf "$T/bb" "$T/pause" "$T/pause.tar" "$T/bb.tar"
	cri images
	cri images -q | wc -l | grep -qx 2
}

# --- the steps ---------------------------------------------------------------

run_pod() {
	local id st
	id=$(cri runp --runtime "$HANDLER" "$T/pod.json") || return 1
	echo "$id" > "$T/pod.id"
	st=$(tmpl inspectp "$id" '{{.status.state}}') || return 1
	expect_eq "pod state" "$st" SANDBOX_READY || return 1
	# Remember the netns for the teardown and the leftover check.
	tmpl inspectp "$id" '{{range .info.runtimeSpec.linux.namespaces}}{{if eq .type "network"}}{{.path}}{{end}}{{end}}' \
		> "$T/netns"
	tmpl inspectp "$id" '{{.info.pid}}' > "$T/pause.pid"
	[[ -n $(ls -A "$T/runtime-root/k8s.io") ]] || { echo "no state in the runtime root $T/runtime-root"; return 1; }
	expect_eq "runtime handler" "$(tmpl inspectp "$id" '{{.info.runtimeHandler}}')" "$HANDLER"
}

pod_network() {
	local ip
	ip=$(tmpl inspectp "$(pod)" '{{.status.network.ip}}') || return 1
	[[ $ip == 10.203.0.* ]] || { echo "pod IP [$ip] is not in $SUBNET"; return 1; }
	ip link show "$BRIDGE" > /dev/null || return 1
	[[ -n $(ip -o link show master "$BRIDGE") ]] || { echo "no veth on $BRIDGE"; return 1; }
	[[ -e $T/ipam/nsruncri/$ip ]] || { echo "no lease file $T/ipam/nsruncri/$ip"; return 1; }
	ping -c1 -W2 "$ip" > /dev/null 2>&1 || busybox ping -c1 -W2 "$ip" # from the host over the bridge
}

# start_ctr NAME: create + start container NAME (config $T/NAME.json).
start_ctr() {
	local id st pid
	id=$(cri create "$(pod)" "$T/$1.json" "$T/pod.json") || return 1
	echo "$id" > "$T/$1.id"
	cri start "$id" || return 1
	st=$(tmpl inspect "$id" '{{.status.state}}') || return 1
	expect_eq "container $1 state" "$st" CONTAINER_RUNNING || return 1
	# The cgroup is the one CRI asked for: <cgroup_parent>/<container id>.
	pid=$(tmpl inspect "$id" '{{.info.pid}}') || return 1
	expect_eq "memory cgroup of $1" "$(awk -F: '$2 == "memory" {print $3}' "/proc/$pid/cgroup")" "$CGPARENT/$id"
}

# cg_file ID CONTROLLER FILE: a file of the container's v1 cgroup, read on the host.
cg_file() {
	local pid dir
	pid=$(tmpl inspect "$1" '{{.info.pid}}') || return 1
	dir=$(awk -F: -v c="$2" '$2 ~ "(^|,)"c"(,|$)" {print $3}' "/proc/$pid/cgroup")
	cat "/sys/fs/cgroup/$2$dir/$3"
}

resources() {
	local b=$(ctr_b)
	expect_eq "memory.limit_in_bytes" "$(cg_file "$b" memory memory.limit_in_bytes)" 67108864 &&
		expect_eq "cpu.shares" "$(cg_file "$b" cpu cpu.shares)" 256 &&
		expect_eq "cpu.cfs_quota_us" "$(cg_file "$b" cpu cpu.cfs_quota_us)" 50000
}

update() {
	local b=$(ctr_b)
	cri update --memory 100663296 --cpu-quota 20000 --cpu-period 100000 "$b" || return 1
	expect_eq "memory.limit_in_bytes" "$(cg_file "$b" memory memory.limit_in_bytes)" 100663296 &&
		expect_eq "cpu.cfs_quota_us" "$(cg_file "$b" cpu cpu.cfs_quota_us)" 20000 &&
		expect_eq "resources in inspect" "$(tmpl inspect "$b" '{{.status.resources.linux.memoryLimitInBytes}}')" 100663296
}

# CRI fills cpu and memory from the shim's cgroup metrics; the first
# answer may come before they are collected: retry for a few seconds.
stats() {
	local out i
	for ((i = 0; i < 10; i++)); do
		out=$(cri stats -o json --id "$(ctr_b)") || return 1
		[[ $out == *'"workingSetBytes"'* && $out == *'"usageCoreNanoSeconds"'* ]] && return 0
		sleep 0.5
	done
	echo "$out"
	echo "no cpu/memory stats for b"
	grep -q 'cannot find cgroup mount destination' "$T/containerd.log" &&
		echo "environment: the shim could not load the cgroup; a v1 hierarchy became active" \
			"without a mount after containerd started (now: $(unmounted_v1 | tr '\n' ' ')); any runtime fails then"
	return 1
}

# ns_of_ctr ID KIND: the container's /proc/self/ns/KIND link, read inside it.
ns_of_ctr() { cri exec "$1" readlink "/proc/self/ns/$2"; }

shared_ns() {
	local pause_pid kind p a b
	pause_pid=$(tmpl inspectp "$(pod)" '{{.info.pid}}') || return 1
	for kind in net ipc; do
		p=$(readlink "/proc/$pause_pid/ns/$kind") || return 1
		a=$(ns_of_ctr "$(ctr_a)" $kind) || return 1
		b=$(ns_of_ctr "$(ctr_b)" $kind) || return 1
		echo "$kind: pause $p, a $a, b $b"
		expect_eq "$kind ns of a" "$a" "$p" && expect_eq "$kind ns of b" "$b" "$p" || return 1
	done
	# The pid namespace is per container (namespace_options.pid = CONTAINER).
	a=$(ns_of_ctr "$(ctr_a)" pid) && b=$(ns_of_ctr "$(ctr_b)" pid) || return 1
	[[ $a != "$b" && $a != $(readlink "/proc/$pause_pid/ns/pid") ]] ||
		{ echo "pid namespaces shared: a $a, b $b"; return 1; }
	expect_eq "pid 1 of b" "$(cri exec "$(ctr_b)" cat /proc/1/cmdline | tr '\0' ' ')" "sleep 4302 "
}

exec_output() {
	local out
	out=$(cri exec "$(ctr_a)" sh -c 'echo "out-$(hostname)"; id -u; cat /proc/sys/net/ipv4/ping_group_range') || return 1
	expect_eq "exec output (hostname, uid, pod sysctl)" "$(echo $out)" "out-nsrun-pod 0 0 4242"
}

exec_failing() {
	local out
	out=$(cri exec "$(ctr_b)" sh -c 'echo partial; exit 3' 2>&1) && { echo "exec of exit 3 exited 0"; return 1; }
	echo "$out"
	expect_contains "exec output" "$out" partial &&
		expect_contains "exec message" "$out" "command terminated with exit code 3" || return 1
	cri exec "$(ctr_b)" /no/such/binary && { echo "exec of a missing binary exited 0"; return 1; }
	# And the container is still fine afterwards.
	out=$(cri exec "$(ctr_b)" echo still-here) && expect_eq "exec after failures" "$out" still-here
}

# ExecSync: the path of the kubelet's exec probes.
exec_sync() {
	local out
	out=$(cri exec --sync "$(ctr_a)" sh -c 'echo sync-out; echo sync-err >&2') || return 1
	expect_eq "exec --sync output" "$(echo $out)" "sync-out sync-err" || return 1
	out=$(cri exec --sync "$(ctr_a)" sh -c 'exit 4' 2>&1) && { echo "exec --sync of exit 4 exited 0"; return 1; }
	expect_contains "exec --sync message" "$out" "exited with 4"
}

exec_tty() {
	local out
	out=$(timeout 60 script -qec "$(printf '%q ' "$CRICTL" --config "$T/crictl.yaml" exec -it "$(ctr_a)" \
		sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty')" /dev/null < /dev/null) || return 1
	expect_contains "output" "$out" tty-ok && expect_contains "output" "$out" /dev/pts/
}

# c: uid 1000, read-only rootfs, no capabilities, RuntimeDefault seccomp;
# exits 5 by itself; then removed.
security_context() {
	local id st i out
	id=$(cri create "$(pod)" "$T/c.json" "$T/pod.json") && cri start "$id" || return 1
	for ((i = 0; i < 50; i++)); do
		st=$(tmpl inspect "$id" '{{.status.state}} {{.status.exitCode}}') || return 1
		[[ $st == CONTAINER_EXITED* ]] && break
		sleep 0.2
	done
	expect_eq "state, exit code" "$st" "CONTAINER_EXITED 5" || return 1
	out=$(cri logs "$id" 2>&1) || return 1
	cri rm "$id" > /dev/null || return 1
	expect_eq "output" "$(echo $out)" "1000 ro-ok CapEff: 0000000000000000 Seccomp: 2"
}

logs() {
	local out
	out=$(cri logs "$(ctr_a)" 2>&1) || { echo "$out"; return 1; }
	expect_eq "logs of a" "$out" hello-from-a
}

stop_ctrs() {
	local id st
	cri stop --timeout 2 "$(ctr_a)" "$(ctr_b)" || return 1
	for id in $(ctr_a) $(ctr_b); do
		st=$(tmpl inspect "$id" '{{.status.state}} {{.status.exitCode}}') || return 1
		expect_eq "state, exit code" "$st" "CONTAINER_EXITED 137" || return 1 # sleep as pid 1 ignores SIGTERM
	done
	[[ -z $(pgrep -f "sleep 430[12]") ]] || { echo "container processes still alive"; return 1; }
}

rm_ctrs() {
	cri rm "$(ctr_a)" "$(ctr_b)" && expect_eq "containers" "$(cri ps -a -q)" ""
}

stop_rm_pod() {
	cri stopp "$(pod)" || return 1
	expect_eq "pod state" "$(tmpl inspectp "$(pod)" '{{.status.state}}')" SANDBOX_NOTREADY || return 1
	cri rmp "$(pod)" && expect_eq "pods" "$(cri pods -q)" ""
}

no_leftovers() {
	local bad=0 ns=$(cat "$T/netns")
	left() { [[ -z $2 ]] || { echo "$1 left: $2"; bad=1; }; }
	left "containers/sandboxes" "$(cri ps -a -q; cri pods -q)"
	left processes "$(pgrep -af "containerd-shim-runc-v2 .*-address $SOCK|sleep 430[12]")"
	kill -0 "$(cat "$T/pause.pid")" 2> /dev/null && left "pause process" "$(cat "$T/pause.pid")"
	# In containerd's mount namespace (the host's unless start_containerd made one).
	left mounts "$(grep -F "$T/" "/proc/$CTRD_PID/mountinfo" | grep -vF "$T/cg/")"
	# The pod's and the containers' cgroups (the parents stay, as with the kubelet).
	left cgroups "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -path "*$CGPARENT/*" 2> /dev/null)"
	[[ -n $ns ]] || { echo "the pod's netns path was not recorded"; bad=1; }
	[[ -n $ns ]] && { [[ -e $ns ]] || grep -qF " $ns " "/proc/$CTRD_PID/mountinfo"; } && left netns "$ns"
	left "veths on $BRIDGE" "$(ip -o link show master "$BRIDGE" 2> /dev/null)"
	left "IP leases" "$(ls "$T/ipam/nsruncri" 2> /dev/null | grep '^10\.')"
	left "runtime state" "$(ls -A "$T/runtime-root/k8s.io" 2> /dev/null)"
	return $bad
}

echo "cri scenario: runtime $RUNTIME (handler $HANDLER), containerd $(containerd --version | awk '{print $3}')," \
	"crictl $(cat "$CRICTL.version" 2> /dev/null || echo '(version unknown)'), temp $T"
start=$SECONDS
# Not in a $(...) subshell: setup sets CTRD_PID for the teardown.
if ! setup > "$T/setup.log" 2>&1; then
	echo "setup failed:"
	sed 's/^/    /' "$T/setup.log"
	exit 2
fi
grep '^note:' "$T/setup.log"
step "1 runp: pod sandbox Ready through handler $HANDLER" run_pod
step "2 pod network: IP from $SUBNET on $BRIDGE, pingable" pod_network
step "3a create + start container a" start_ctr a
step "3b create + start container b" start_ctr b
step "3c resources of b in its cgroup (memory, cpu shares, quota)" resources
step "3d securityContext: uid, read-only rootfs, no caps, seccomp; own exit 5" security_context
step "4 net + ipc namespaces shared with the pause process, pid not" shared_ns
step "5a exec: output (hostname, uid, pod sysctl)" exec_output
step "5b exec: failing command (exit code 3) and missing binary" exec_failing
step "5c exec --sync (probe path): output, exit code 4" exec_sync
step "5d exec -it (tty)" exec_tty
step "6a logs: hello-from-a" logs
step "6b update: memory and cpu quota of b" update
step "6c stats of b" stats
step "7 stop both containers (exit 137)" stop_ctrs
step "8 rm both containers" rm_ctrs
step "9 stopp + rmp" stop_rm_pod
step "10 no containers, sandboxes, shims, mounts, cgroups, netns, veths, state left" no_leftovers
echo "time: $((SECONDS - start)) s"
summary cri "$RUNTIME_NAME"
