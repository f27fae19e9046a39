#!/usr/bin/env bash
# The cgroup v2 lane: the cgroup tests of nsrun on a pure cgroup v2 kernel,
# while this host keeps its hybrid v1 hierarchy (never touched here).
#
#   sudo tests/vm/cgroupv2-lane.sh
#
# 1. builds on the host, into tests/vm/.work/bin: nsrun (make), and the test
#    binaries of tests/integration, libcontainer/cgroups (and, when they
#    exist and have tests, libcontainer/stats and
#    libcontainer/cgroups/devicefilter), statically linked with the
#    Makefile's tags and flags, plus tests/tools/subreaper;
# 2. boots one throw-away VM (run-in-vm.sh: qemu, TCG, pure v2 through
#    cgroup_no_v1=all) with tests/vm/.work shared read-write, and runs
#    cgroupv2-guest.sh in it: a pure-v2 check, then every test binary;
# 3. prints one PASS/FAIL line per item and "cgroupv2 lane: N passed, M failed",
#    and exits non-zero on any failure.
#
# Which integration tests run: $V2_TESTS (a -test.run regex) if set, else the
# lines of tests/vm/v2-tests.txt joined with '|'.
# Other knobs: V2_VM_TIMEOUT (s, whole VM, default 720), V2_CPUS (2),
# V2_MEM (MiB, 2048), V2_WORK (work dir), LANE_CAP_<name> (s, cap of one
# binary's -test.timeout, e.g. LANE_CAP_integration=300).
# docs/vm.md describes the lane and how to run one test in the VM by hand.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
T0=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}'; }
log() { printf '=== cgroupv2 lane: %s\n' "$*"; }

if [[ $(id -u) != 0 ]]; then
	echo "cgroupv2-lane.sh: the VM and the tests need root" >&2
	exit 2
fi

WORK=${V2_WORK:-$here/.work}
VM_TIMEOUT=${V2_VM_TIMEOUT:-720}
CPUS=${V2_CPUS:-2}
MEM=${V2_MEM:-2048}
if [[ -n ${V2_TESTS:-} ]]; then
	regex=$V2_TESTS
else
	regex=$(sed 's/#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//' "$here/v2-tests.txt" | grep -v '^$' | paste -sd'|')
fi

# Items expected to report, in order; anything that does not is a failure.
items=(build v2-check)
declare -A result note secs

finish() {
	local passed=0 failed=0 it
	echo
	for it in "${items[@]}"; do
		local r=${result[$it]:-FAIL} n=${note[$it]:-did not report}
		printf -- '--- cgroupv2 %-14s %s (%ss) %s\n' "$it:" "$r" "${secs[$it]:-0}" "$n"
		if [[ $r == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
		if [[ $r != PASS && -f $WORK/logs/$it.log ]]; then
			grep -E $'^--- FAIL|^panic: test timed out|^\t\tTest[^ ]* \\(' "$WORK/logs/$it.log" | sed 's/^/      /' | head -n 40
		fi
	done
	log "boot ${BOOT:-?}s (VM start to guest script), VM ${VMTIME:-?}s, total $(since "$T0")s; logs in $WORK/logs"
	echo "cgroupv2 lane: $passed passed, $failed failed"
	((failed == 0))
	exit
}

# ---------------------------------------------------------------- 1. build
rm -rf "$WORK"
mkdir -p "$WORK/bin" "$WORK/logs"
chmod 755 "$WORK"
tb=$EPOCHREALTIME
# The Makefile's tags and static link flags (cgo for libseccomp, no dynamic
# loader: a static exec costs ~11 ms under TCG, a dynamic one ~90 ms).
mkvar() { make -s --no-print-directory -f Makefile -f - "lane-print-$1" <<< "lane-print-$1: ; @echo \$($1)"; }
tags=$(mkvar GO_TAGS)
ldflags=$(mkvar GO_LDFLAGS)
build_err=()
is_static() { ! LC_ALL=C grep -qa '/lib64/ld-linux' "$1"; } # static glibc still names ld-linux, not its path

log "building nsrun and the test binaries into $WORK/bin"
if ! make -s nsrun OUT="$WORK/bin/nsrun" > "$WORK/logs/build.log" 2>&1; then
	build_err+=("make nsrun")
fi
# test_bin NAME PKG: go test -c, static if it links, dynamic otherwise.
# A package that does not exist or has no tests is left out of the lane.
test_bin() {
	local name=$1 pkg=$2 n
	[[ -d $repo/$pkg ]] || { echo "    $pkg: not in this tree, left out"; return 0; }
	n=$(go list -f '{{len .TestGoFiles}} {{len .XTestGoFiles}}' "./$pkg" 2>> "$WORK/logs/build.log") ||
		{ build_err+=("go list ./$pkg"); return 0; }
	if [[ $n == "0 0" ]]; then echo "    $pkg: no test files, left out"; return 0; fi
	items+=("$name")
	if CGO_ENABLED=1 go test -c -tags "$tags" -ldflags "$ldflags" -o "$WORK/bin/$name.test" "./$pkg" >> "$WORK/logs/build.log" 2>&1; then
		:
	elif go test -c -tags "$tags" -o "$WORK/bin/$name.test" "./$pkg" >> "$WORK/logs/build.log" 2>&1; then
		echo "    $pkg: static link failed, using a dynamic binary (slower under TCG)"
	else
		build_err+=("go test -c ./$pkg")
		result[$name]=FAIL note[$name]="did not build"
		return 0
	fi
	is_static "$WORK/bin/$name.test" || echo "    $name.test is dynamically linked"
}
test_bin cgroups libcontainer/cgroups
test_bin devicefilter libcontainer/cgroups/devicefilter
test_bin stats libcontainer/stats
test_bin integration tests/integration
# The seccomp notify agent of TestSeccompNotify (the guest has no Go).
if [[ -d tests/tools/seccompagent ]]; then
	CGO_ENABLED=1 go build -tags "$tags" -ldflags "$ldflags" -o "$WORK/bin/seccompagent" ./tests/tools/seccompagent >> "$WORK/logs/build.log" 2>&1 ||
		build_err+=("go build ./tests/tools/seccompagent")
fi
if [[ -d tests/tools/subreaper ]]; then
	CGO_ENABLED=0 go build -o "$WORK/bin/subreaper" ./tests/tools/subreaper >> "$WORK/logs/build.log" 2>&1 ||
		build_err+=("go build ./tests/tools/subreaper")
fi
secs[build]=$(since "$tb")
if ((${#build_err[@]})); then
	cat "$WORK/logs/build.log"
	result[build]=FAIL note[build]="failed: $(IFS=,; echo "${build_err[*]}")"
	for it in "${items[@]}"; do note[$it]=${note[$it]:-not run: the build failed}; done
	finish
fi
result[build]=PASS note[build]="$(cd "$WORK/bin" && echo *)"
log "built in ${secs[build]}s: ${note[build]}"

# ---------------------------------------------------------------- 2. VM
export LANE_WORK=$WORK LANE_SRC=$repo LANE_REGEX=$regex LANE_DEADLINE=$((VM_TIMEOUT - 30))
fwd=(-e LANE_WORK -e LANE_SRC -e LANE_REGEX -e LANE_DEADLINE)
for v in $(compgen -v LANE_CAP_); do fwd+=(-e "$v"); done
log "booting the VM (TCG, -c $CPUS -m $MEM, budget ${VM_TIMEOUT}s); integration tests: -test.run '$regex'"

# The guest's output comes through a FIFO read here, so the "@@booted" line
# can be timestamped, and so that a signal to this script reaches
# run-in-vm.sh (whose own trap stops its qemu).
tmp=$(mktemp -d)
mkfifo "$tmp/out"
(
	while IFS= read -r line; do
		if [[ $line == "@@booted "* ]]; then
			echo "$EPOCHREALTIME ${line#@@booted }" > "$tmp/booted"
			continue
		fi
		printf '%s\n' "$line"
	done
) < "$tmp/out" &
rpid=$!
tv=$EPOCHREALTIME
# The guest script runs from the shared dir: the host's / is visible in the
# guest, but its /tmp is not, and a CI clone may live there.
cp "$here/cgroupv2-guest.sh" "$WORK/guest.sh"
"$here/run-in-vm.sh" -t "$VM_TIMEOUT" -m "$MEM" -c "$CPUS" "${fwd[@]}" \
	"bash $(printf '%q' "$WORK/guest.sh")" "$WORK" > "$tmp/out" 2>&1 &
vmpid=$!
stop() { kill -TERM "$vmpid" 2> /dev/null; }
trap 'stop; trap - INT; interrupted=130' INT
trap 'stop; trap - TERM; interrupted=143' TERM
interrupted=0
vmrc=0
while :; do
	wait "$vmpid"
	vmrc=$?
	kill -0 "$vmpid" 2> /dev/null || break
done
wait "$rpid"
trap - INT TERM
VMTIME=$(since "$tv")
if [[ -f $tmp/booted ]]; then
	read -r at up < "$tmp/booted"
	BOOT=$(awk -v a="$tv" -v b="$at" 'BEGIN{printf "%.1f", b - a}')
	log "guest script started ${BOOT}s after the VM was launched (guest uptime ${up}s)"
fi
rm -rf "$tmp"
case $vmrc in
124) log "the VM hit its ${VM_TIMEOUT}s budget and was killed" ;;
125) log "the VM died before reporting (kernel console tail above)" ;;
esac
((interrupted)) && log "interrupted" && note[v2-check]=${note[v2-check]:-not run: interrupted}

# ---------------------------------------------------------------- 3. report
if [[ -f $WORK/results.txt ]]; then
	while read -r name r s n; do
		result[$name]=$r secs[$name]=$s note[$name]=$n
	done < "$WORK/results.txt"
fi
finish
