#!/usr/bin/env bash
# Runs every client scenario (containerd, podman, docker, cri) against runc
# (the control) and nsrun, one after another, and prints the table
# client x runtime, then "clients: N passed, M failed" (a scenario run is
# one unit). Usage: tests/clients/run.sh [-r NSRUN] [CLIENT...]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nsrun=$(cd "$here/../.." && pwd)/nsrun
if [[ ${1:-} == -r ]]; then
	nsrun=$(realpath "$2")
	shift 2
fi
clients=("$@")
((${#clients[@]})) || clients=(containerd podman docker cri)
runc=$(command -v runc || echo /usr/sbin/runc)

declare -A cell
passed=0 failed=0
for c in "${clients[@]}"; do
	for rt in "$runc" "$nsrun"; do
		name=$(basename "$rt")
		echo
		echo "=== client $c with $name ($rt)"
		start=$SECONDS
		out=$(bash "$here/$c.sh" "$rt" 2>&1 | tee -a /dev/stderr | tail -n 1)
		rc=${PIPESTATUS[0]}
		secs=$((SECONDS - start))
		if ((rc == 0)); then
			passed=$((passed + 1))
			cell[$c,$name]="PASS ${out##*: } (${secs}s)"
		else
			failed=$((failed + 1))
			cell[$c,$name]="FAIL ${out##*: } (${secs}s)"
		fi
	done
done
echo
printf '%-12s %-36s %-36s\n' client runc nsrun
for c in "${clients[@]}"; do
	printf '%-12s %-36s %-36s\n' "$c" "${cell[$c,runc]:-}" "${cell[$c,nsrun]:-}"
done
echo "clients: $passed passed, $failed failed"
((failed == 0))
