package container

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64 { return &v }

// defaultDeviceRules allow the devices every container gets (runtime-spec
// "Default Devices", the pty devices and mknod). See deviceRules for where
// they go in the list.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},                                 // mknod of any char device
	{Allow: true, Type: "b", Access: "m"},                                 // mknod of any block device
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, // null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"}, // zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"}, // full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"}, // random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"}, // urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"}, // tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"}, // console
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"}, // ptmx
	{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},              // pts/*
}

// cgroupResources is linux.resources with the device rules the container
// needs (see deviceRules).
func cgroupResources(spec *specs.Spec) *specs.LinuxResources {
	var res specs.LinuxResources
	if spec.Linux.Resources != nil {
		res = *spec.Linux.Resources
	}
	res.Devices = deviceRules(res.Devices, spec.Linux.Devices)
	return &res
}

// deviceRules is the device access list a container gets: the config's
// rules with nsrun's defaults inserted right after the config's last
// deny-all rule (or first, without one), then one rule per linux.devices
// entry. Later rules win, so a leading deny-all does not take /dev/null
// away, while a rule the config writes after it still decides: a config
// may deny /dev/zero explicitly. (runc appends the defaults after all the
// config's rules, so they cannot be denied at all.)
func deviceRules(config []specs.LinuxDeviceCgroup, devices []specs.LinuxDevice) []specs.LinuxDeviceCgroup {
	at := 0
	for i, r := range config {
		if isDenyAll(r) {
			at = i + 1
		}
	}
	rules := append([]specs.LinuxDeviceCgroup{}, config[:at]...)
	rules = append(rules, defaultDeviceRules...)
	rules = append(rules, config[at:]...)
	for _, d := range devices {
		if d.Type == "p" {
			continue // fifos are not under the devices controller
		}
		t := d.Type
		if t == "u" {
			t = "c"
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	return rules
}

// isDenyAll reports whether r denies every access to every device.
func isDenyAll(r specs.LinuxDeviceCgroup) bool {
	wild := func(p *int64) bool { return p == nil || *p == -1 }
	access := r.Access == "" || (strings.Contains(r.Access, "r") && strings.Contains(r.Access, "w") && strings.Contains(r.Access, "m"))
	return !r.Allow && (r.Type == "" || r.Type == "a") && wild(r.Major) && wild(r.Minor) && access
}
