#!/usr/bin/env bash
# Guest half of tests/vm/cgroupv2-lane.sh: runs as root inside the pure
# cgroup v2 VM (run-in-vm.sh), from the host's read-only root. Everything it
# writes goes to $LANE_WORK, the read-write shared directory.
#
# Environment (forwarded by the lane with run-in-vm.sh -e):
#   LANE_WORK      the work dir: bin/ (nsrun, *.test, subreaper), logs/, results.txt
#   LANE_SRC       the repository (read-only here); each test binary runs in
#                  its package's directory, as `go test` does, or in
#                  LANE_WORK when the guest cannot see it (a clone under /tmp)
#   LANE_REGEX     -test.run regex for integration.test
#   LANE_DEADLINE  guest uptime (s) by which every binary must have finished;
#                  each binary's -test.timeout is cut to fit before it
#   LANE_CAP_<name> optional per-binary timeout cap in seconds
#
# It prints "@@booted <uptime>" first (the lane stamps the boot time on it),
# then every binary's -test.v output; results.txt gets one line per item:
#   <name> <PASS|FAIL> <seconds> <note...>
exec 2>&1
set -u
echo "@@booted $(cut -d' ' -f1 /proc/uptime)"

W=${LANE_WORK:?}
SRC=${LANE_SRC:-/}
DEADLINE=${LANE_DEADLINE:-600}
res=$W/results.txt
mkdir -p "$W/logs"
: > "$res"
failed=0

uptime_s() { local u _; read -r u _ < /proc/uptime; echo "${u%.*}"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}'; }
record() { # record NAME PASS|FAIL SECS NOTE...
	local n=$1 r=$2 s=$3
	shift 3
	echo "$n $r $s $*" >> "$res"
	echo "--- cgroupv2 $n: $r (${s}s) $*"
	[ "$r" = PASS ] || failed=$((failed + 1))
}

# ---------------------------------------------------------------- pure v2?
echo "=== guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo)"
t=$EPOCHREALTIME
why=()
fs=$(stat -fc %T /sys/fs/cgroup)
[ "$fs" = cgroup2fs ] || why+=("/sys/fs/cgroup is $fs, not cgroup2fs")
v1=$(awk '$3 == "cgroup" {print $2}' /proc/mounts)
[ -z "$v1" ] || why+=("cgroup v1 mounts: $(echo $v1)")
self=$(cat /proc/self/cgroup)
[ "$self" = "0::/" ] || why+=("/proc/self/cgroup is not just 0::/ : $(echo $self)")
# cgroup_no_v1=all: no v1 hierarchy can be mounted at all.
mkdir -p /tmp/.v1probe
if mount -t cgroup -o pids cgroup /tmp/.v1probe 2> /dev/null; then
	why+=("a cgroup v1 hierarchy (pids) could be mounted")
	umount /tmp/.v1probe
fi
rmdir /tmp/.v1probe
ctrls=$(cat /sys/fs/cgroup/cgroup.controllers)
for c in cpu cpuset io memory pids hugetlb; do
	[[ " $ctrls " == *" $c "* ]] || why+=("controller $c missing from cgroup.controllers")
done
echo "=== cgroup: $fs, controllers: $ctrls; subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if ((${#why[@]})); then
	printf 'not a pure cgroup v2 guest: %s\n' "${why[@]}"
	record v2-check FAIL "$(since "$t")" "${why[0]}"
	exit 1
fi
record v2-check PASS "$(since "$t")" "pure v2: no v1 mounts, v1 unmountable, $fs"

# Like on a real host, the runtime does not run from the root cgroup: a
# child cgroup holds this script and everything it starts, so the v2
# no-internal-process rule applies to nsrun's own cgroup as it would there.
mkdir -p /sys/fs/cgroup/lane.scope && echo $$ > /sys/fs/cgroup/lane.scope/cgroup.procs ||
	echo "warning: could not move into /sys/fs/cgroup/lane.scope"
echo "=== lane runs in cgroup $(cut -d: -f3 /proc/self/cgroup)"

# ---------------------------------------------------------------- environment
# The integration tests use $NSRUN instead of building nsrun (no Go in the
# loop here), copy busybox (busybox-static, the host's, visible read-only)
# into a rootfs under TMPDIR, and make themselves a subreaper in TestMain.
export NSRUN=$W/bin/nsrun
export TMPDIR=/tmp
export GOTRACEBACK=all
# Waits in the tests stretch: everything is 5-80x slower under TCG.
export NSRUN_TEST_TIME_SCALE=10
[ -x "$W/bin/seccompagent" ] && export SECCOMPAGENT=$W/bin/seccompagent
command -v busybox > /dev/null || echo "warning: no busybox in the guest's PATH; integration tests cannot build their rootfs"
"$NSRUN" --version 2>&1 | sed 's/^/=== nsrun: /'

# Orphans (container inits whose runtime exited) are reaped by subreaper
# rather than by the guest's PID 1, a shell waiting for this script.
reaper=()
[ -x "$W/bin/subreaper" ] && reaper=("$W/bin/subreaper")

# run_bin NAME PKGDIR CAP [ARGS...]: one test binary, -test.v, with a
# -test.timeout of CAP seconds or whatever is left before DEADLINE, and a
# hard `timeout` a little later in case the binary wedges.
run_bin() {
	local name=$1 pkg=$2 cap=$3
	shift 3
	local bin=$W/bin/$name.test capvar=LANE_CAP_$name
	[ -x "$bin" ] || return 0
	cap=${!capvar:-$cap}
	local left=$((DEADLINE - $(uptime_s)))
	local to=$cap
	((left < to)) && to=$left
	if ((to < 20)); then
		record "$name" FAIL 0 "not run: only ${left}s left of the lane's budget"
		return
	fi
	local log=$W/logs/$name.log dir=$SRC/$pkg
	[ -d "$dir" ] || dir=$W
	echo
	echo "=== RUN $name (timeout ${to}s): $bin -test.v -test.count=1 $*"
	local t=$EPOCHREALTIME rc
	(cd "$dir" && exec timeout -k 5 $((to + 10)) "${reaper[@]}" "$bin" \
		-test.v -test.count=1 -test.timeout="${to}s" "$@") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	local np nf ns note
	np=$(grep -c '^--- PASS' "$log")
	nf=$(grep -c '^--- FAIL' "$log")
	ns=$(grep -c '^--- SKIP' "$log")
	note="tests: $np passed, $nf failed, $ns skipped"
	((rc == 124 || rc == 137)) && note+="; killed after ${to}s"
	grep -q '^panic: test timed out' "$log" && note+="; -test.timeout hit"
	if ((rc == 0)); then record "$name" PASS "$(since "$t")" "$note"; else record "$name" FAIL "$(since "$t")" "exit $rc; $note"; fi
}

# Unit tests of the cgroup code first (quick), the containers last: they get
# whatever is left of the budget.
run_bin cgroups libcontainer/cgroups 240
run_bin devicefilter libcontainer/cgroups/devicefilter 120
run_bin stats libcontainer/stats 120
if [ -x "$W/bin/integration.test" ]; then
	regex=${LANE_REGEX:-}
	if [ -z "$regex" ]; then
		record integration FAIL 0 "no test regex (tests/vm/v2-tests.txt empty?)"
	else
		sel=$("$W/bin/integration.test" -test.list "$regex" 2> /dev/null | grep '^Test' || true)
		nsel=$(printf '%s' "$sel" | grep -c '^Test')
		echo
		echo "=== integration: $nsel tests match -test.run '$regex': $(echo $sel)"
		if ((nsel == 0)); then
			record integration FAIL 0 "no test matches '$regex'"
		else
			run_bin integration tests/integration 900 -test.run "$regex"
		fi
	fi
fi
exit $((failed > 0))
