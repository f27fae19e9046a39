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
// rules in their order, then nsrun's defaults, then one rule per
// linux.devices entry. Later rules win, so a leading deny-all does not take
// /dev/null away (the order runc uses, and the one the validation suite
// checks in devices.list). A default the config denies by a rule of its
// own (not a deny-all: "deny c 1:5") is left out, so that such a rule
// decides; runc would allow the device again.
func deviceRules(config []specs.LinuxDeviceCgroup, devices []specs.LinuxDevice) []specs.LinuxDeviceCgroup {
	rules := append([]specs.LinuxDeviceCgroup{}, config...)
	for _, d := range defaultDeviceRules {
		if !deniedExplicitly(d, config) {
			rules = append(rules, d)
		}
	}
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

// deniedExplicitly reports whether a deny rule of config, other than a
// deny-all, covers the device of the default rule d.
func deniedExplicitly(d specs.LinuxDeviceCgroup, config []specs.LinuxDeviceCgroup) bool {
	covers := func(rule, dev *int64) bool { return rule == nil || *rule == -1 || (dev != nil && *rule == *dev) }
	for _, r := range config {
		if r.Allow || isDenyAll(r) {
			continue
		}
		if (r.Type == d.Type || r.Type == "a" || r.Type == "") && covers(r.Major, d.Major) && covers(r.Minor, d.Minor) {
			return true
		}
	}
	return false
}

// isDenyAll reports whether r denies every access to every device.
func isDenyAll(r specs.LinuxDeviceCgroup) bool {
	wild := func(p *int64) bool { return p == nil || *p == -1 }
	access := r.Access == "" || (strings.Contains(r.Access, "r") && strings.Contains(r.Access, "w") && strings.Contains(r.Access, "m"))
	return !r.Allow && (r.Type == "" || r.Type == "a") && wild(r.Major) && wild(r.Minor) && access
}
