package procattr

import (
	"fmt"
	"slices"
	"strings"
)

// SetSysctls writes each linux.sysctl entry to /proc/sys, in sorted key
// order so that a failure is reproducible. Keys use sysctl(8)'s notation:
// "net.ipv4.ip_forward" maps to net/ipv4/ip_forward; a key that already
// contains '/' is taken as a path, so that dots inside a component (e.g.
// a VLAN interface "eth0.100") can be expressed.
//
// Which sysctls are safe to set (namespaced ones only) is the config
// validator's job; here the kernel decides, and /proc/sys paths outside
// the container's namespaces are typically read-only or fail with EPERM.
func SetSysctls(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rel, err := sysctlPath(k)
		if err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %w", k, err)
		}
		if err := writeProcFile("sys/"+rel, m[k]); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %w", k, err)
		}
	}
	return nil
}

// sysctlPath converts a sysctl key to a path relative to /proc/sys,
// refusing anything that could leave it.
func sysctlPath(key string) (string, error) {
	p := key
	if !strings.Contains(key, "/") {
		p = strings.ReplaceAll(key, ".", "/")
	}
	if p == "" || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("invalid sysctl name")
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("invalid sysctl name")
		}
	}
	return p, nil
}
