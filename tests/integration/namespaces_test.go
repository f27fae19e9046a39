package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func TestUserNamespaceMapping(t *testing.T) {
	b := newBundle(t, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x && stat -c %u /tmp/x")
	withUserNS(b.Spec)
	r := b.run(newID(t))
	mustOK(t, r, "run")
	f := strings.Fields(r.Stdout)
	want := []string{"0", "100000", "65536", "0", "100000", "65536", "0", "0"}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", f, want)
	}
}

// sleeper starts a process in new namespaces and returns its pid.
func sleeper(t *testing.T, args ...string) int {
	t.Helper()
	cmd := exec.Command("unshare", append(args, "sleep", "60")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// unshare execs sleep: the pid is the namespaced process.
	waitFor(t, func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		return strings.HasSuffix(exe, "sleep")
	})
	return cmd.Process.Pid
}

func nsInode(t *testing.T, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJoinNamespacesByPath(t *testing.T) {
	pid := sleeper(t, "--net", "--uts", "--ipc")
	b := newBundle(t, "sh", "-c", "for n in net uts ipc; do readlink /proc/self/ns/$n; done; hostname")
	for i, ns := range b.Spec.Linux.Namespaces {
		switch ns.Type {
		case specs.NetworkNamespace:
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", pid)
		case specs.UTSNamespace:
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/uts", pid)
		case specs.IPCNamespace:
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/ipc", pid)
		}
	}
	b.Spec.Hostname = "" // the joined UTS namespace keeps its name
	r := b.run(newID(t))
	mustOK(t, r, "run")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	want := []string{
		nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)),
		nsInode(t, fmt.Sprintf("/proc/%d/ns/uts", pid)),
		nsInode(t, fmt.Sprintf("/proc/%d/ns/ipc", pid)),
	}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Fatalf("namespaces %q, want %q", lines, want)
		}
	}
}

func TestJoinUserAndMountNamespace(t *testing.T) {
	// A user namespace joined by path goes through the
	// pre-Go-runtime constructor; the mount namespace is new, owned by the
	// joined user namespace.
	pid := sleeper(t, "--user", "--map-root-user")
	b := newBundle(t, "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map")
	b.Spec.Linux.Namespaces = []specs.LinuxNamespace{
		{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)},
		{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.NetworkNamespace}, {Type: specs.PIDNamespace},
	}
	// sysfs needs a network namespace owned by the user namespace: fine here.
	r := b.run(newID(t))
	mustOK(t, r, "run")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if lines[0] != nsInode(t, fmt.Sprintf("/proc/%d/ns/user", pid)) {
		t.Fatalf("user namespace %q, want the joined one", lines[0])
	}
}

func TestNewUserNamespaceWithJoinedNet(t *testing.T) {
	// A joined network namespace forces the constructor path, which then
	// unshares the user namespace and asks the runtime for the id maps.
	pid := sleeper(t, "--net")
	b := newBundle(t, "sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/net")
	withUserNS(b.Spec)
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", pid)
		}
	}
	// sysfs cannot be mounted from a user namespace that does not own the
	// network namespace; bind the host's instead.
	for i, m := range b.Spec.Mounts {
		if m.Destination == "/sys" {
			b.Spec.Mounts[i] = specsBind("/sys", "/sys", "ro", "nosuid", "nodev", "noexec")
		}
	}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	f := strings.Fields(r.Stdout)
	if len(f) != 4 || f[1] != "100000" || f[3] != nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)) {
		t.Fatalf("got %q", r.Stdout)
	}
}

func TestTimeNamespaceOffsets(t *testing.T) {
	b := newBundle(t, "cat", "/proc/uptime")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	b.Spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1000000}}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	var up float64
	fmt.Sscanf(r.Stdout, "%f", &up)
	if up < 1000000 {
		t.Fatalf("uptime %v: boottime offset not applied", up)
	}
}

func TestCgroupNamespace(t *testing.T) {
	b := newBundle(t, "cat", "/proc/self/cgroup")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	r := b.run(newID(t))
	mustOK(t, r, "run")
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] != "name=systemd" && parts[2] != "/" {
			t.Errorf("cgroup ns root is not the container's cgroup: %q", line)
		}
	}
}

func TestJoinPIDNamespace(t *testing.T) {
	// Joining a PID namespace takes the constructor's fork: the init runs
	// inside it, next to the namespace's own PID 1.
	cmd := exec.Command("unshare", "--pid", "--fork", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var sleepPid int
	waitFor(t, func() bool {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		_, err := fmt.Sscanf(string(data), "%d", &sleepPid)
		return err == nil
	})
	b := newBundle(t, "sh", "-c", "echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '")
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", sleepPid)
		}
	}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if strings.HasPrefix(r.Stdout, "pid=1\n") || !strings.Contains(r.Stdout, "sleep 60") {
		t.Fatalf("not in the joined PID namespace: %q", r.Stdout)
	}
}
