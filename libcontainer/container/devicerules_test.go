package container

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDeviceRulesPlaceDefaultsAfterDenyAll(t *testing.T) {
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	denyZero := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"}
	allowNull := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}
	fuse := specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}
	n := len(defaultDeviceRules)

	got := deviceRules([]specs.LinuxDeviceCgroup{denyAll, allowNull, denyZero}, []specs.LinuxDevice{fuse})
	if len(got) != 3+n+1 {
		t.Fatalf("%d rules, want %d", len(got), 3+n+1)
	}
	if got[0] != denyAll || got[1+n] != allowNull || got[2+n] != denyZero {
		t.Errorf("config rules not around the defaults: %+v", got)
	}
	if last := got[len(got)-1]; !last.Allow || *last.Major != 10 || *last.Minor != 229 {
		t.Errorf("linux.devices rule not last: %+v", last)
	}
	// Without a deny-all the defaults come first, so specific denies win.
	got = deviceRules([]specs.LinuxDeviceCgroup{denyZero}, nil)
	if got[n] != denyZero {
		t.Errorf("deny not after the defaults: %+v", got)
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
