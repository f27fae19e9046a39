#!/bin/sh
# Builds nsrun with one protection removed, to show that a test of
# tests/security fails without it:
#
#   tests/security/weaken/build.sh NAME /tmp/nsrun-NAME
#   NSRUN=/tmp/nsrun-NAME go test -count=1 -run TEST ./tests/security/
#
# NAME.patch (beside this script; or NAME is the path of a patch, as for
# tests/faults/weaken) is applied to a copy of the work tree;
# the work tree itself is never changed.
set -eu
name=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d /tmp/nsrun-weak-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tmp" 2>/dev/null || true)
patchfile=$here/$name.patch
case $name in */*) patchfile=$(realpath "$name") ;; esac
patch -s -d "$tmp" -p1 < "$patchfile"
make -s -C "$tmp" nsrun OUT="$(realpath -m "$out")"
