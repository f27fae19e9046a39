#!/bin/sh
# Shows each test of tests/security failing without its protection: builds
# nsrun with NAME.patch applied (build.sh) and runs the tests it weakens,
# which must FAIL. Run as root from anywhere:
#
#   tests/security/weaken/demo.sh            # every entry below
#   tests/security/weaken/demo.sh no-caps    # one entry
#
# Entries: patch name, then the -run pattern of the tests it defeats.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
entries='
mount-by-path   TestMountDestinationSymlinks|TestMountDestinationRace
naive-join      TestMountDestinationSymlinks|TestMountDestinationRace
inherit-fds     TestNoHostFdsInContainer|TestCwdProcSelfFd
mask-any-null   TestMaskedPathsNullSource
console-follow  TestConsolePlantedSymlink
keep-planted-dev TestPlantedDevSymlinks
no-proc-checks  TestProcfsWritesNotRedirected
symlinked-kernel-dirs TestSymlinkedKernelDirs
no-caps         TestCredentialsApplied
no-device-cgroup TestHostBlockDeviceDenied|TestAllowedDevicesWork
no-id-validation TestHostileIDs
plain-self-exe  TestBinaryShebangExec|TestBinaryShebangCreate
dumpable        TestPtraceJoiningProcess
'
out=$(mktemp -d /tmp/nsrun-demo-XXXXXX)
echo "$entries" | while read -r name tests; do
	[ -n "$name" ] || continue
	[ $# -eq 0 ] || [ "$1" = "$name" ] || continue
	if ! "$here/build.sh" "$name" "$out/nsrun-$name" >"$out/$name.build" 2>&1; then
		echo "$name: BUILD FAILED (see $out/$name.build)"
		continue
	fi
	if (cd "$repo" && NSRUN="$out/nsrun-$name" go test -count=1 -v -run "^($tests)\$" ./tests/security/ >"$out/$name.log" 2>&1); then
		echo "$name: tests PASSED: the weakening is not detected (see $out/$name.log)"
	else
		echo "$name: $(grep -c -- '--- FAIL' "$out/$name.log") failures, as expected (log: $out/$name.log)"
	fi
done
