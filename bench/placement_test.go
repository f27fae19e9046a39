package main

import (
	"strings"
	"testing"
)

func TestCgroupHierarchies(t *testing.T) {
	hybrid := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
50 22 0:36 / /mnt/again rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v1, v2, err := cgroupHierarchies(strings.NewReader(hybrid))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range v1 {
		got = append(got, h.name+"@"+h.mount)
	}
	if want := "cpu@/sys/fs/cgroup/cpu cpuset@/sys/fs/cgroup/cpuset name=systemd@/sys/fs/cgroup/systemd"; strings.Join(got, " ") != want {
		t.Errorf("v1 = %q, want %q", strings.Join(got, " "), want)
	}
	if v2 == nil || v2.mount != "/sys/fs/cgroup/unified" || !v2.v2 {
		t.Errorf("v2 = %+v, want /sys/fs/cgroup/unified", v2)
	}

	pure := "38 23 0:33 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	v1, v2, err = cgroupHierarchies(strings.NewReader(pure))
	if err != nil || len(v1) != 0 || v2 == nil || v2.mount != "/sys/fs/cgroup" {
		t.Errorf("pure v2: v1 %v, v2 %+v, err %v", v1, v2, err)
	}
}

func TestSelfMoveScript(t *testing.T) {
	got := selfMoveScript([]string{"/a/tasks", "/b/tasks"})
	if want := "set -e; echo 0 > /a/tasks; echo 0 > /b/tasks"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
