#!/usr/bin/env bash
# The runtime-tools validation lane: builds opencontainers/runtime-tools'
# validation tests, runs them one at a time against an OCI runtime and
# judges each against tests/conformance/expected-failures.txt.
# See docs/conformance.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: tests/conformance/run.sh [options] [TEST...]

Runs the runtime-tools validation tests (all, or the TESTs named) against
RUNTIME and prints a table and the line "N passed, M failed".

options:
  -r, --runtime PATH   runtime to test (default: $RUNTIME, else <repo>/nsrun)
  -o, --results DIR    where logs go (default: tests/conformance/results/<runtime name>)
  -t, --timeout SEC    per-test timeout (default: 120)
  -x, --expected FILE  expected failures (default: tests/conformance/expected-failures.txt)
  --no-cgroup2         leave /sys/fs/cgroup/unified out of the lane's cgroup
                       layout: a pure cgroup v1 machine (crun 1.8.1 refuses hybrid)
  -l, --list           list the test names and exit
  -h, --help

environment:
  RUNTIME                 same as --runtime
  NSRUN_CACHE             build cache (default /var/cache/nsrun-conformance)
  RUNTIME_TOOLS_VERSION   module version to use instead of the latest master
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
module=github.com/opencontainers/runtime-tools
# The module proxy here refuses "@master" queries; this is the newest master
# pseudo-version seen in use (runtime-spec 1.3.0). Used only when the lookup fails.
pinned_version=v0.9.1-0.20260316125833-8a4db579f5c8

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- options
runtime=${RUNTIME:-$repo/nsrun}
results=""
timeout_sec=120
expected_file=$here/expected-failures.txt
list_only=0
no_cgroup2=${NO_CGROUP2:-0}
tests=()
while (($#)); do
	case $1 in
	-r | --runtime) runtime=$2; shift 2 ;;
	-o | --results) results=$2; shift 2 ;;
	-t | --timeout) timeout_sec=$2; shift 2 ;;
	-x | --expected) expected_file=$2; shift 2 ;;
	-l | --list) list_only=1; shift ;;
	--no-cgroup2) no_cgroup2=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; tests+=("$@"); break ;;
	-*) usage >&2; exit 2 ;;
	*) tests+=("$1"); shift ;;
	esac
done

# ---------------------------------------------------------------- build
# build_suite VERSION DIR: builds runtimetest and every validation test of the
# module version into DIR (bin/*.t, runtimetest, rootfs-amd64.tar.gz).
build_suite() {
	local version=$1 out=$2 src tmp
	src=$(cd / && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $src ]] || die "go mod download $module@$version gave no directory"
	tmp=$(mktemp -d "$out.build.XXXXXX")
	cp -r "$src" "$tmp/src"
	chmod -R u+w "$tmp/src"
	# The module zip keeps only vendor/modules.txt, which would switch the
	# build to (broken) vendor mode: build in module mode instead.
	rm -rf "$tmp/src/vendor"
	mkdir -p "$tmp/out/bin"
	(
		cd "$tmp/src"
		export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
		if ! go build -o "$tmp/out/runtimetest" ./cmd/runtimetest 2>"$tmp/build.err"; then
			cat "$tmp/build.err" >&2
			log "build failed; retrying after go mod tidy (of the suite's own go.mod)"
			go mod tidy
			go build -o "$tmp/out/runtimetest" ./cmd/runtimetest
		fi
		# One build of all the mains: each validation/<name>/ is a main
		# package (validation/util is the shared library).
		go build -o "$tmp/out/bin/" ./validation/...
	)
	local f
	for f in "$tmp/out/bin/"*; do mv "$f" "$f.t"; done
	cp "$tmp/src/rootfs-amd64.tar.gz" "$tmp/out/"
	echo "$version" >"$tmp/out/VERSION"
	rm -rf "$out"
	mv "$tmp/out" "$out"
	rm -rf "$tmp"
}

prepare() {
	command -v go >/dev/null || die "go is not installed"
	local cache=${NSRUN_CACHE:-/var/cache/nsrun-conformance} version
	mkdir -p "$cache"
	version=${RUNTIME_TOOLS_VERSION:-}
	if [[ -z $version ]]; then
		version=$(cd / && go list -m -f '{{.Version}}' "$module@master" 2>/dev/null) || {
			version=$pinned_version
			log "the module proxy would not resolve $module@master; using $version"
		}
	fi
	suite=$cache/runtime-tools-$version
	exec 8>"$cache/.lock"
	flock 8
	if [[ ! -f $suite/VERSION ]]; then
		log "building $module@$version into $suite"
		build_suite "$version" "$suite"
	fi
	flock -u 8
	exec 8>&-
	# Our own tool: cheap to rebuild (go's build cache), never stale.
	(cd "$repo" && CGO_ENABLED=0 go build -o "$suite/subreaper" ./tests/tools/subreaper) ||
		die "cannot build tests/tools/subreaper"
}

all_tests() {
	local f
	for f in "$suite"/bin/*.t; do basename "$f" .t; done
}

# ---------------------------------------------------------------- outer
# The outer half builds, then re-enters itself under unshare + subreaper.
if [[ -z ${_NSRUN_LANE_INNER:-} ]]; then
	[[ $(id -u) == 0 ]] || die "must run as root"
	prepare
	if ((list_only)); then all_tests; exit 0; fi
	if ((${#tests[@]} == 0)); then mapfile -t tests < <(all_tests); fi
	for t in "${tests[@]}"; do
		[[ -x $suite/bin/$t.t ]] || die "no such test: $t (see --list)"
	done
	runtime_path=$(command -v "$runtime") || die "runtime not found: $runtime"
	runtime_path=$(readlink -f "$runtime_path")
	[[ -f $expected_file ]] || die "no expected-failures file: $expected_file"
	results=${results:-$here/results/$(basename "$runtime_path")}
	mkdir -p "$results"
	results=$(cd "$results" && pwd)
	rm -f "$results"/*.tap "$results"/*.stderr "$results"/*.cleanup "$results"/summary.txt

	# Only one lane at a time on a machine: the tests use fixed cgroup paths.
	exec 9>/run/nsrun-conformance.lock
	flock -n 9 || { log "another conformance run holds /run/nsrun-conformance.lock; waiting"; flock 9; }

	hugetlb_on_v2_before=0
	grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null && hugetlb_on_v2_before=1

	rc=0
	_NSRUN_LANE_INNER=1 SUITE=$suite RUNTIME_PATH=$runtime_path RESULTS=$results \
		TIMEOUT_SEC=$timeout_sec EXPECTED_FILE=$expected_file NO_CGROUP2=$no_cgroup2 \
		unshare -m --propagation private -- "$suite/subreaper" bash "${BASH_SOURCE[0]}" "${tests[@]}" || rc=$?

	# The kernel releases a hierarchy asynchronously after its last mount
	# is gone: give it a few seconds before crying foul.
	for _ in $(seq 50); do
		grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break
		sleep 0.1
	done
	if ((hugetlb_on_v2_before)) && ! grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
		log "WARNING: hugetlb has not returned to cgroup2: a v1 hugetlb cgroup or mount outlived the lane"
	fi
	exit "$rc"
fi

# ---------------------------------------------------------------- inner
# From here on we run inside a private mount namespace, as a child of the
# subreaper, so nothing we mount is seen by the host.
# shellcheck source=lib.sh
source "$here/lib.sh"

work=$(mktemp -d /tmp/nsrun-conformance.XXXXXX)
# The bundles live below here and user-namespace tests need a mapped root to
# traverse the path: 0755 all the way down.
chmod 0755 "$work"
mkdir -m 0755 "$work/run" "$work/tmp" "$work/state"
cp "$SUITE/runtimetest" "$SUITE/rootfs-amd64.tar.gz" "$work/run/"

# The tests call the runtime with no global flags; this wrapper gives every
# run a private state directory, so that leftovers can be found and deleted
# and no other user of the runtime is disturbed.
cat >"$work/runtime" <<EOF
#!/bin/sh
exec '$RUNTIME_PATH' --root '$work/state' "\$@"
EOF
chmod 0755 "$work/runtime"

cleanup() {
	cleanup_containers "$work/runtime" "$work/state" >/dev/null 2>&1 || true
	cleanup_lane_cgroups || true
	remove_tree "$work" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

setup_cgroup_layout "$work/cgroupfs"
load_expected "$EXPECTED_FILE"

out 'runtime: %s\nsuite:   %s\nresults: %s\n\n' "$RUNTIME_PATH" "$(cat "$SUITE/VERSION")" "$RESULTS"
print_header
for name in "${tests[@]}"; do
	mkdir -m 0755 "$work/tmp/$name"
	status=0
	(
		cd "$work/run"
		RUNTIME=$work/runtime TMPDIR=$work/tmp/$name \
			exec timeout -k 10 "$TIMEOUT_SEC" "$SUITE/subreaper" "$SUITE/bin/$name.t"
	) >"$RESULTS/$name.tap" 2>"$RESULTS/$name.stderr" </dev/null || status=$?
	{
		cleanup_containers "$work/runtime" "$work/state"
		cleanup_test_cgroups
		remove_tree "$work/tmp/$name"
	} >"$RESULTS/$name.cleanup" 2>&1 || true
	[[ -s $RESULTS/$name.cleanup ]] || rm -f "$RESULTS/$name.cleanup"
	judge_test "$name" "$RESULTS/$name.tap" "$status" "$RESULTS/$name.cleanup"
done
print_totals | tee -a "$RESULTS/summary.txt"
((failed_tests == 0))
