#!/usr/bin/env bash
# The whole test suite of nsrun, as README.md and .ci/run call it:
#   sudo tests/run-all.sh
# Installs what the tests need from Debian, builds nsrun, then runs the unit
# tests, the integration tests (real containers), the escape and fault
# suites (tests/security, tests/faults), short fuzz runs, the runtime-tools
# validation lane, the cgroup v2 lane (a pure-v2 qemu VM, tests/vm) and the
# client scenarios (tests/clients), and ends with one line
# "suites: N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ $(id -u) != 0 ]]; then
	echo "run-all.sh: the tests run real containers: run as root" >&2
	exit 2
fi

log() { printf '\n=== %s\n' "$*"; }

log "installing test dependencies (Debian packages)"
"$repo/tests/install-deps.sh" || { echo "dependency install failed" >&2; exit 2; }

log "building nsrun"
make nsrun || { echo "build failed" >&2; exit 2; }
# The integration tests use this binary rather than building their own.
export NSRUN=$repo/nsrun

passed=0 failed=0 failures=()
# Each suite's output is also kept, so that the end of the run can repeat
# what failed: CI shows the start and the end of a long output.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
suite() {
	local name=$1
	shift
	log "$name: $*"
	"$@" 2>&1 | tee "$logs/$name.log"
	if ((PIPESTATUS[0] == 0)); then
		passed=$((passed + 1))
		echo "--- suite $name: PASS"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "--- suite $name: FAIL"
	fi
}

suite vet go vet ./...
# Unit tests of the library; some need root (cgroups, mounts in private
# namespaces), which we are.
suite unit go test -count=1 -p 1 ./libcontainer/... ./tests/tools/...
suite integration go test -count=1 -timeout 20m ./tests/integration/
# Escape classes (issue 6): each test fails on a runtime without the
# protection (tests/security/weaken/demo.sh shows it).
suite security go test -count=1 -timeout 15m ./tests/security/
# Faults and hostile input (issue 6): kill -9 of create at many points,
# concurrent creates, damaged state.json, absurd configs, failing hooks.
suite faults go test -count=1 -timeout 15m ./tests/faults/
# A short fuzz run of each target on top of its committed seed corpus
# (testdata/fuzz); longer runs: raise -fuzztime. A bounded minimization
# (200 runs) keeps a new input from taking most of the 20 s.
fuzz() {
	go test -run '^$' -fuzz '^FuzzLoadConfig$' -fuzztime 20s -fuzzminimizetime 200x ./libcontainer/config/ &&
		go test -run '^$' -fuzz '^FuzzStateJSON$' -fuzztime 20s -fuzzminimizetime 200x ./libcontainer/state/
}
suite fuzz fuzz
suite conformance bash tests/conformance/run.sh -r "$repo/nsrun"
# This host is cgroup v1/hybrid: the v2 driver is tested in a VM.
suite cgroupv2 bash tests/vm/cgroupv2-lane.sh
# Real clients (containerd, podman, Docker, containerd CRI + crictl), each
# with runc as the control and with nsrun.
suite clients bash tests/clients/run.sh -r "$repo/nsrun"

echo
if ((failed > 0)); then
	for name in "${failures[@]}"; do
		echo "=== what failed in $name (its FAIL lines, then its last lines):"
		grep -E -e '--- FAIL|^FAIL|FAIL:|panic:|timed out|left behind' "$logs/$name.log" | head -n 30
		echo "..."
		tail -n 25 "$logs/$name.log"
	done
	echo
	echo "failed suites: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
