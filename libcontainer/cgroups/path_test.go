package cgroups

import (
	"strings"
	"testing"
)

func TestParseCgroupsPath(t *testing.T) {
	cases := []struct {
		in, id, own, want string
		err               string
	}{
		{in: "", id: "c1", own: "/user.slice", want: "/nsrun/c1"},
		{in: "/a/b", id: "c1", own: "/x", want: "/a/b"},
		{in: "/a//b/./", id: "c1", want: "/a/b"},
		{in: "a/b", id: "c1", own: "/process/x", want: "/process/x/a/b"},
		{in: "a", id: "c1", own: "/", want: "/a"},
		{in: "a", id: "c1", own: "", want: "/a"},
		{in: "/a/../b", id: "c1", err: `".." components`},
		{in: "../b", id: "c1", err: `".." components`},
		{in: "/", id: "c1", err: "hierarchy root"},
		{in: "//.", id: "c1", err: "hierarchy root"},
		{in: ".", id: "c1", err: "own cgroup"},
		{in: "", id: "a/b", err: "cannot name a cgroup"},
		{in: "", id: "..", err: "cannot name a cgroup"},
	}
	for _, c := range cases {
		rule, err := parseCgroupsPath(c.in, c.id)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "linux.cgroupsPath") {
				t.Errorf("parseCgroupsPath(%q, %q) error = %v, want one containing %q and linux.cgroupsPath", c.in, c.id, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCgroupsPath(%q, %q): %v", c.in, c.id, err)
			continue
		}
		if got := rule.inHierarchy(c.own); got != c.want {
			t.Errorf("parseCgroupsPath(%q, %q).inHierarchy(%q) = %q, want %q", c.in, c.id, c.own, got, c.want)
		}
	}
}
