package container

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64 { return &v }

// defaultDeviceRules allow the devices every container gets (runtime-spec
// "Default Devices", the pty devices and mknod), appended after the
// config's own rules as runc does, so that a leading deny-all still lets
// /dev/null work.
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
// needs: the config's, then the defaults, then one per linux.devices entry.
func cgroupResources(spec *specs.Spec) *specs.LinuxResources {
	var res specs.LinuxResources
	if spec.Linux.Resources != nil {
		res = *spec.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup{}, res.Devices...)
	rules = append(rules, defaultDeviceRules...)
	for _, d := range spec.Linux.Devices {
		if d.Type == "p" {
			continue // fifos are not under the devices controller
		}
		t := d.Type
		if t == "u" {
			t = "c"
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	res.Devices = rules
	return &res
}
