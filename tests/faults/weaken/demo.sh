#!/bin/sh
# Shows tests of tests/faults failing without the protection they check:
# builds nsrun with NAME.patch (beside this script) applied, through
# tests/security/weaken/build.sh, and runs the tests it weakens, which
# must FAIL. Run as root:
#
#   tests/faults/weaken/demo.sh                 # every entry below
#   tests/faults/weaken/demo.sh no-pdeathsig    # one entry
#
# Entries: patch name, then the -run pattern of the tests it defeats.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
entries='
no-pdeathsig      TestKillCreateAtPoints
late-first-record TestKillCreateAtPoints
no-lock-record    TestDamagedState
state-follow      TestDamagedState
no-late-failure   TestFailingLaterHooks
stderr-first      TestLateFailureWithFullStderr
shared-create     TestConcurrentCreateSameID
'
out=$(mktemp -d /tmp/nsrun-faults-demo-XXXXXX)
echo "$entries" | while read -r name tests; do
	[ -n "$name" ] || continue
	[ $# -eq 0 ] || [ "$1" = "$name" ] || continue
	if ! "$repo/tests/security/weaken/build.sh" "$here/$name.patch" "$out/nsrun-$name" >"$out/$name.build" 2>&1; then
		echo "$name: BUILD FAILED (see $out/$name.build)"
		continue
	fi
	if (cd "$repo" && NSRUN="$out/nsrun-$name" go test -count=1 -timeout 10m -v -run "^($tests)\$" ./tests/faults/ >"$out/$name.log" 2>&1); then
		echo "$name: tests PASSED: the weakening is not detected (see $out/$name.log)"
	else
		echo "$name: $(grep -c -- '--- FAIL' "$out/$name.log") failures, as expected (log: $out/$name.log)"
	fi
done
