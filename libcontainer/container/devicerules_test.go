package container

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDeviceRulesOrderAndExplicitDenies(t *testing.T) {
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	denyZero := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"}
	allowNull := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}
	fuse := specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}
	n := len(defaultDeviceRules)

	// Config rules first, in order; the defaults after; linux.devices last.
	got := deviceRules([]specs.LinuxDeviceCgroup{denyAll, allowNull}, []specs.LinuxDevice{fuse})
	if len(got) != 2+n+1 || got[0] != denyAll || got[1] != allowNull || got[2] != defaultDeviceRules[0] {
		t.Fatalf("order: %+v", got)
	}
	if last := got[len(got)-1]; !last.Allow || *last.Major != 10 || *last.Minor != 229 {
		t.Errorf("linux.devices rule not last: %+v", last)
	}
	// A specific deny drops the default it covers (and only that one).
	got = deviceRules([]specs.LinuxDeviceCgroup{denyAll, allowNull, denyZero}, nil)
	if len(got) != 3+n-1 {
		t.Fatalf("%d rules, want %d: %+v", len(got), 3+n-1, got)
	}
	for _, r := range got[3:] {
		if r.Major != nil && *r.Major == 1 && r.Minor != nil && *r.Minor == 5 {
			t.Errorf("default rule for 1:5 kept despite the explicit deny: %+v", got)
		}
	}
	// A deny of a whole major drops the defaults of that major.
	got = deviceRules([]specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: i64(1), Access: "rwm"}}, nil)
	if len(got) != 1+n-5 {
		t.Errorf("deny c 1:* kept %d defaults, want %d", len(got)-1, n-5)
	}
	for _, r := range []specs.LinuxDeviceCgroup{
		{Allow: false, Type: "a", Major: i64(-1), Access: "mwr"},
		{Allow: false, Type: "", Access: ""},
	} {
		if !isDenyAll(r) {
			t.Errorf("isDenyAll(%+v) = false", r)
		}
	}
	for _, r := range []specs.LinuxDeviceCgroup{denyZero, {Allow: false, Access: "rw"}, {Allow: true, Access: "rwm"}} {
		if isDenyAll(r) {
			t.Errorf("isDenyAll(%+v) = true", r)
		}
	}
}
