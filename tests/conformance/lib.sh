# shellcheck shell=bash
# Helpers of tests/conformance/run.sh (sourced by its inner half, which runs
# inside a private mount namespace under the subreaper).

# ---------------------------------------------------------------- cgroups
# Hierarchies this lane mounted itself (not on the host): they hold only our
# cgroups, and every one of them must be gone before the namespace ends, or
# the hierarchy lives on (for hugetlb: it stays off cgroup2 kernel-wide).
lane_hierarchies=()

# setup_cgroup_layout DIR: puts over /sys/fs/cgroup a fresh tmpfs holding the
# host's hierarchies (bind mounts) plus net_cls,net_prio and a v1 hugetlb.
# Why a new tmpfs: the host's /sys/fs/cgroup is a tmpfs whose directories
# are shared with the host even in a private mount namespace; a mkdir there
# would persist. The new tmpfs and its mounts vanish with the namespace.
setup_cgroup_layout() {
	local dir=$1 entry name
	mkdir -p "$dir"
	mount -t tmpfs -o mode=0755,size=64k nsrun-conformance-cgroup "$dir"
	for entry in /sys/fs/cgroup/*; do
		name=${entry##*/}
		if [[ $name == unified && ${NO_CGROUP2:-0} == 1 ]]; then
			continue
		elif [[ -L $entry ]]; then
			cp -P "$entry" "$dir/$name"
		elif mountpoint -q "$entry"; then
			mkdir "$dir/$name"
			mount --rbind "$entry" "$dir/$name"
		fi
	done
	if [[ ! -e $dir/net_cls && ! -e $dir/net_prio ]]; then
		mkdir "$dir/net_cls,net_prio"
		if mount -t cgroup -o net_cls,net_prio cgroup "$dir/net_cls,net_prio"; then
			ln -s net_cls,net_prio "$dir/net_cls"
			ln -s net_cls,net_prio "$dir/net_prio"
			lane_hierarchies+=("/sys/fs/cgroup/net_cls,net_prio")
		else
			log "warning: cannot mount net_cls,net_prio; the network tests will fail"
			rmdir "$dir/net_cls,net_prio"
		fi
	fi
	if [[ ! -e $dir/hugetlb ]]; then
		mkdir "$dir/hugetlb"
		# Takes hugetlb off cgroup2 while this mount lives; it returns when
		# the namespace (and every cgroup made in it) is gone. The kernel
		# refuses while cgroup2 still has (dying) cgroups using hugetlb, as
		# for a moment after earlier tests removed theirs: retry up to 20 s.
		local tries=0
		until mount -t cgroup -o hugetlb cgroup "$dir/hugetlb" 2>/dev/null || ((++tries > 40)); do
			sleep 0.5
		done
		if ((tries <= 40)); then
			lane_hierarchies+=("/sys/fs/cgroup/hugetlb")
		else
			log "warning: cannot mount hugetlb as cgroup v1; the hugetlb tests will fail"
			rmdir "$dir/hugetlb"
		fi
	fi
	mount --move "$dir" /sys/fs/cgroup
}

# remove_cgroup_tree DIR: kills what runs in DIR and below, then removes the
# cgroups deepest first. Prints what it removed.
remove_cgroup_tree() {
	local top=$1 d pid tries
	[[ -d $top ]] || return 0
	while IFS= read -r d; do
		# Only real cgroups: never touch a plain directory.
		case $(stat -f -c %T "$d" 2>/dev/null) in cgroupfs | cgroup2fs) ;; *) continue ;; esac
		for tries in 1 2 3 4 5 6 7 8 9 10; do
			while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$d/cgroup.procs"
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
		if [[ -d $d ]]; then echo "could not remove cgroup $d"; else echo "removed leftover cgroup $d"; fi
	done < <(find "$top" -depth -type d)
}

# cleanup_test_cgroups: removes the cgroups a test left behind. On the host's
# hierarchies only the names the suite uses (its fixed paths and the uuid
# container IDs of a runtime's default cgroup path) are touched; the lane's
# own hierarchies are emptied entirely.
cleanup_test_cgroups() {
	local h d
	for h in /sys/fs/cgroup/*/; do
		h=${h%/}
		[[ -L $h ]] && continue
		for d in "$h"/cgrouptest "$h"/testdir "$h"/????????-????-????-????-????????????; do
			[[ -d $d ]] && remove_cgroup_tree "$d"
		done
	done
	cleanup_lane_cgroups
}

cleanup_lane_cgroups() {
	local h d
	for h in "${lane_hierarchies[@]}"; do
		for d in "$h"/*/; do
			[[ -d $d ]] && remove_cgroup_tree "${d%/}"
		done
	done
	return 0
}

# ---------------------------------------------------------------- files
# remove_tree DIR: removes DIR after unmounting whatever a runtime left
# mounted below it (a container without its own mount namespace mounts /proc
# and /sys on the bundle's rootfs in ours). rm never crosses a mount point.
remove_tree() {
	local dir=$1 mp
	[[ -e $dir ]] || return 0
	dir=$(readlink -f "$dir")
	# mountinfo field 5 is the mount point, octal-escaped; deepest first.
	while IFS= read -r mp; do
		umount -l "$mp" 2>/dev/null || echo "cannot unmount $mp"
	done < <(awk -v d="$dir" '{ mp = $5; gsub(/\\040/, " ", mp) }
		mp == d || index(mp, d "/") == 1 { print length(mp) "\t" mp }' /proc/self/mountinfo |
		sort -rn | cut -f2-)
	rm -rf --one-file-system "$dir"
}

# ---------------------------------------------------------------- containers
# cleanup_containers WRAPPER STATEDIR: deletes every container a test left
# in the lane's private state directory.
cleanup_containers() {
	local wrapper=$1 state=$2 d id pid
	for d in "$state"/*/; do
		[[ -d $d ]] || continue
		id=$(basename "$d")
		echo "left container $id: deleting it"
		if ! timeout 20 "$wrapper" delete --force "$id"; then
			pid=$(timeout 10 "$wrapper" state "$id" 2>/dev/null | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' || true)
			if [[ -n $pid && $pid != 0 ]]; then kill -9 "$pid" 2>/dev/null || true; fi
			timeout 20 "$wrapper" delete --force "$id" || echo "could not delete container $id"
		fi
		rm -rf "$d"
	done
}

# ---------------------------------------------------------------- verdicts
declare -A expected=()

# normalize_numbers LIST: a comma list of assertion names ("N" or "k:N") in
# one canonical order, so that two lists compare as strings.
normalize_numbers() {
	tr ',' '\n' <<<"$1" | sort -V -u | paste -sd, -
}

# load_expected FILE: "test n,m,..." lines; '#' starts a comment.
load_expected() {
	local line name nums
	while IFS= read -r line; do
		line=${line%%#*}
		read -r name nums _ <<<"$line" || true
		[[ -n ${name:-} ]] || continue
		[[ -n ${nums:-} ]] || die "$1: test $name names no assertion numbers"
		expected[$name]=$(normalize_numbers "$nums")
	done <"$1"
}

clean_tests=0 xfail_tests=0 failed_tests=0 total_ok=0 total_failed=0 total_skipped=0
failed_names=()

out() { printf "$@" | tee -a "$RESULTS/summary.txt"; }

print_header() {
	out '%-36s %5s %6s %5s  %-13s %s\n' TEST OK FAILED SKIP VERDICT NOTES
}

# parse_tap FILE: prints "ok failed skipped planned seen failures", where
# failures is a comma list of failed assertion numbers plus "error" when the
# test reported an error outside any assertion (a YAML diagnostic with an
# "error" key before the first assertion of its TAP document), or "-".
parse_tap() {
	awk '
		function name(n) { return docs > 1 ? docs ":" n : n }
		function add(n) { nums = nums (nums == "" ? "" : ",") name(n) }
		# A test may print several TAP documents (one per sub-case), each
		# with its own plan and numbering: assertions of the k-th document
		# (k > 1) are named "k:N".
		/^TAP version/ { docs++; asserted = 0; next }
		/^1\.\.[0-9]+/ { split($1, p, "\\.\\."); planned += p[2]; hasplan = 1; next }
		/^(not )?ok [0-9]+/ {
			seen++; asserted = 1
			if (docs == 0) docs = 1
			isnot = ($1 == "not")
			num = isnot ? $3 : $2
			if (tolower($0) ~ /# *(skip|todo)/) { skipped++; next }
			if (isnot) { failed++; add(num) } else { ok++ }
			next
		}
		/^  ---$/ { inyaml = 1; next }
		/^  \.\.\.$/ { inyaml = 0; next }
		inyaml && !asserted && /^ *"error":/ { if (docs == 0) docs = 1; add("error"); asserted = 1 }
		END {
			if (!hasplan) planned = "-"
			if (nums == "") nums = "-"
			printf "%d %d %d %s %d %s\n", ok, failed, skipped, planned, seen, nums
		}' "$1"
}

# judge_test NAME TAPFILE EXITSTATUS CLEANUPFILE: prints the test's row and
# counts it. A test's failure set is its failed assertions, "error" (see
# parse_tap), "exit" when it exited non-zero (the suite's util.Fatal: the test
# gave up, often before printing any TAP) and "incomplete" when it printed
# fewer assertions than planned. Empty set: clean. Exactly the set listed in
# the expected-failures file: expected-fail. Anything else, or a timeout: FAIL.
judge_test() {
	local name=$1 tap=$2 status=$3 cleanup=$4
	local ok failed skipped planned seen nums verdict notes=() timed_out=0
	read -r ok failed skipped planned seen nums < <(parse_tap "$tap")
	total_ok=$((total_ok + ok))
	total_failed=$((total_failed + failed))
	total_skipped=$((total_skipped + skipped))

	local set=()
	[[ $nums == - ]] || set+=("$nums")
	case $status in
	0) ;;
	124 | 137) timed_out=1; notes+=("timeout after ${TIMEOUT_SEC}s") ;;
	*) set+=(exit); notes+=("exit status $status") ;;
	esac
	if [[ $planned != - ]] && ((planned != seen)); then
		set+=(incomplete); notes+=("planned $planned, saw $seen")
	fi
	local got="" want=${expected[$name]:-}
	if ((${#set[@]})); then got=$(normalize_numbers "$(IFS=,; echo "${set[*]}")"); fi

	if ((timed_out)); then
		verdict=FAIL
	elif [[ -z $got ]]; then
		verdict=clean
	elif [[ $got == "$want" ]]; then
		verdict=expected-fail
		notes=("failed $got as expected" "${notes[@]}")
	else
		verdict=FAIL
		notes=("failed $got" "${want:+expected $want}" "${notes[@]}")
	fi
	if [[ -s $cleanup ]]; then
		notes+=("left $(grep -c '^left container' "$cleanup" || true) containers, $(grep -c 'leftover cgroup' "$cleanup" || true) cgroups; see $name.cleanup")
	fi

	case $verdict in
	clean) clean_tests=$((clean_tests + 1)) ;;
	expected-fail) xfail_tests=$((xfail_tests + 1)) ;;
	*) failed_tests=$((failed_tests + 1)); failed_names+=("$name") ;;
	esac
	local joined="" n
	for n in "${notes[@]}"; do [[ -n $n ]] && joined+="${joined:+; }$n"; done
	out '%-36s %5s %6s %5s  %-13s %s\n' "$name" "$ok" "$failed" "$skipped" "$verdict" "$joined"
}

print_totals() {
	local total=$((clean_tests + xfail_tests + failed_tests))
	printf '\ntests: %d clean, %d expected-fail, %d FAIL (of %d)\n' "$clean_tests" "$xfail_tests" "$failed_tests" "$total"
	printf 'assertions: %d ok, %d failed, %d skipped\n' "$total_ok" "$total_failed" "$total_skipped"
	if ((failed_tests)); then printf 'failed: %s\n' "${failed_names[*]}"; fi
	printf '%d passed, %d failed\n' "$((clean_tests + xfail_tests))" "$failed_tests"
}
