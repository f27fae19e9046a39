#!/usr/bin/env bash
# Runs the example container: a shell that prints what it sees of its
# isolation (hostname, pid 1, user mapping, cgroup, only "lo", read-only root).
#
#   bundle-example/run.sh            # with ../nsrun
#   NSRUN=/usr/sbin/runc bundle-example/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nsrun=${NSRUN:-$here/../nsrun}
[[ -x $nsrun ]] || { echo "run.sh: no runtime at $nsrun (build it: make -C $(dirname "$here"))" >&2; exit 1; }
[[ -d $here/rootfs ]] || "$here/make-rootfs.sh"

exec "$nsrun" run -b "$here" "nsrun-example-$$"
