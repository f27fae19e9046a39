package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests in this file need a pure cgroup v2 host: the VM lane
// (tests/vm/cgroupv2-lane.sh) runs them; on this v1/hybrid host the same
// behaviour is covered by the v1 tests (cgroups_test.go, pause_test.go,
// manage_test.go).
func needPureV2(t *testing.T) {
	t.Helper()
	if !pureV2 {
		t.Skip("pure cgroup v2 only: runs in the cgroup v2 VM lane (tests/vm)")
	}
}

// cgroupEvent reads key from a flat-keyed cgroup file ("max 3").
func cgroupEvent(t *testing.T, file, key string) int64 {
	t.Helper()
	for _, line := range strings.Split(readCgroupFile(t, file), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("%s has no %q", file, key)
	return 0
}

// TestV2LimitsEnforcedAndManaged is issue 3's acceptance scenario: limits
// visible in the v2 files and enforced (pids.max stops a fork bomb, the
// OOM kill reaches `events`, the eBPF device program refuses /dev/zero and
// a mknod'd /dev/mem), pause/resume through cgroup.freeze, live update
// (including replacing the device program), and no cgroup left.
func TestV2LimitsEnforcedAndManaged(t *testing.T) {
	needPureV2(t)
	// The init forks once, before the limits are pushed, then waits in
	// waitpid(-1), which also reaps the killed orphans. A loop forking a
	// `sleep 1` every second died now and then: busybox sh exits at a
	// failed fork, which the full pids or memory cgroup makes likely.
	b := newBundle(t, "sh", "-c", "sleep 1000000 & wait")
	mem, pids := int64(64<<20), int64(32)
	quota, period := int64(50000), uint64(100000)
	weight := uint16(100)
	b.Spec.Linux.CgroupsPath = "/nsrun-it-v2/" + t.Name()
	for _, set := range []*[]string{&b.Spec.Process.Capabilities.Bounding, &b.Spec.Process.Capabilities.Effective, &b.Spec.Process.Capabilities.Permitted} {
		*set = append(*set, "CAP_MKNOD")
	}
	b.Spec.Linux.Resources = &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem, Swap: &mem},
		Pids:    &specs.LinuxPids{Limit: &pids},
		CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period},
		BlockIO: &specs.LinuxBlockIO{Weight: &weight},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "rwm"},
		},
	}
	id := newID(t)
	b.startDetached(id)
	dir := cgroupPathDir("", b.Spec.Linux.CgroupsPath)

	// Values in the files; the init was placed at clone time.
	for file, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "32", "cpu.max": "50000 100000",
	} {
		if got := readCgroupFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	ioFile, ioWant := filepath.Join(dir, "io.bfq.weight"), "default 100"
	if _, err := os.Stat(ioFile); err != nil {
		ioFile, ioWant = filepath.Join(dir, "io.weight"), "default 910" // 1 + (100-10)*9999/990
	}
	if got := readCgroupFile(t, ioFile); got != ioWant {
		t.Errorf("%s = %q, want %q", ioFile, got, ioWant)
	}
	pid := b.initPid(id)
	if own := readCgroupFile(t, filepath.Join("/proc", itoa(pid), "cgroup")); own != "0::"+b.Spec.Linux.CgroupsPath {
		t.Errorf("init's /proc/pid/cgroup = %q", own)
	}

	// Devices: /dev/null works, /dev/zero (denied after the deny-all) and a
	// fresh node of /dev/mem (only the deny-all) do not; mknod itself is
	// one of nsrun's default rules.
	devCheck := `echo x >/dev/null && echo null-ok
head -c1 /dev/zero >/dev/null 2>/tmp/zero && echo zero-ok || cat /tmp/zero
mknod /dev/mem2 c 1 1 && { head -c1 /dev/mem2 >/dev/null 2>/tmp/mem.err && echo mem-ok || cat /tmp/mem.err; }; rm -f /dev/mem2`
	r := b.nsrun("exec", id, "sh", "-c", devCheck)
	mustOK(t, r, "exec device check")
	if !strings.Contains(r.Stdout, "null-ok") || strings.Contains(r.Stdout, "zero-ok") || strings.Contains(r.Stdout, "mem-ok") ||
		strings.Count(r.Stdout, "Operation not permitted") != 2 {
		t.Errorf("device access: %q, want null-ok and two \"Operation not permitted\"", r.Stdout)
	}

	// pids.max stops a fork bomb: 40 sleepers in a cgroup that already
	// holds the init and its sleep. The shell gives up at the first failed
	// fork; the sleepers it made are then killed from the host (the cgroup
	// is full: not even an exec could start).
	b.nsrun("exec", id, "sh", "-c", `n=0; while [ $n -lt 40 ]; do sleep 60 & n=$((n+1)); done; echo all-forked`)
	if n := cgroupEvent(t, filepath.Join(dir, "pids.events"), "max"); n == 0 {
		t.Error("pids.events max = 0: the fork bomb was not stopped at pids.max")
	}
	if cur, _ := strconv.Atoi(readCgroupFile(t, filepath.Join(dir, "pids.current"))); cur > 32 {
		t.Errorf("pids.current %d above pids.max 32", cur)
	}
	// Repeated until none is left: a sleeper still being forked when the
	// list is read shows up in the next pass (and a killed one may still
	// be listed: pids are counted once).
	seen := map[int]bool{}
	for pass, found := 0, true; found && pass < 50; pass++ {
		found = false
		for _, p := range strings.Fields(readCgroupFile(t, filepath.Join(dir, "cgroup.procs"))) {
			if cmd, _ := os.ReadFile("/proc/" + p + "/cmdline"); string(cmd) == "sleep\x0060\x00" {
				if n, _ := strconv.Atoi(p); n > 0 && syscall.Kill(n, syscall.SIGKILL) == nil {
					seen[n] = true
					found = true
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := len(seen)
	if killed == 0 || killed >= 40 {
		t.Errorf("%d sleepers were running; want some, fewer than 40", killed)
	}
	// The container's init (a shell) reaps the killed orphans.
	deadline := time.Now().Add(5 * time.Second * time.Duration(timeScale))
	for {
		cur, _ := strconv.Atoi(readCgroupFile(t, filepath.Join(dir, "pids.current")))
		if cur <= 4 {
			break
		}
		if time.Now().After(deadline) {
			var procs []string
			for _, p := range strings.Fields(readCgroupFile(t, filepath.Join(dir, "cgroup.procs"))) {
				cmd, _ := os.ReadFile("/proc/" + p + "/cmdline")
				procs = append(procs, p+":"+procState(atoi(p))+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
			t.Fatalf("pids.current still %d after killing %d sleepers: %v", cur, killed, procs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// An OOM kill of an exec'd process reaches `events`.
	evOut, err := os.CreateTemp(t.TempDir(), "events-")
	if err != nil {
		t.Fatal(err)
	}
	ev := exec.Command(nsrunBin, "--root", b.Root, "events", "--interval", "1s", id)
	ev.Stdout = evOut
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ev.Process.Kill(); ev.Wait() }()
	time.Sleep(500 * time.Millisecond)
	r = b.nsrun("exec", id, "sh", "-c", "x=$(yes | head -c 134217728); echo ${#x}")
	if r.Code == 0 {
		t.Errorf("memory hog survived a 64 MiB limit: %+v", r)
	}
	waitFor(t, func() bool {
		data, _ := os.ReadFile(evOut.Name())
		return strings.Contains(string(data), `"type":"oom"`)
	})
	if n := cgroupEvent(t, filepath.Join(dir, "memory.events"), "oom_kill"); n == 0 {
		t.Error("memory.events oom_kill = 0")
	}
	if st := b.state(id)["status"]; st != "running" {
		t.Fatalf("the container died with its exec'd process: %v", st)
	}

	// pause / resume.
	mustOK(t, b.nsrun("pause", id), "pause")
	if st := b.state(id)["status"]; st != "paused" {
		t.Errorf("status after pause: %v", st)
	}
	if !strings.Contains(readCgroupFile(t, filepath.Join(dir, "cgroup.events")), "frozen 1") {
		t.Error("cgroup.events not frozen after pause")
	}
	if s := procState(pid); s != "S" && s != "D" {
		t.Errorf("init state %q while frozen", s)
	}
	mustOK(t, b.nsrun("resume", id), "resume")
	if !strings.Contains(readCgroupFile(t, filepath.Join(dir, "cgroup.events")), "frozen 0") {
		t.Error("cgroup.events still frozen after resume")
	}

	// Live update, devices included: the new list no longer denies zero.
	mustOK(t, b.nsrun("update", id, "--memory", "128m", "--memory-swap", "128m", "--pids-limit", "40", "--cpu-quota", "20000"), "update")
	for file, want := range map[string]string{"memory.max": "134217728", "pids.max": "40", "cpu.max": "20000 100000"} {
		if got := readCgroupFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("after update %s = %q, want %q", file, got, want)
		}
	}
	devs := `{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}`
	mustOK(t, runNsrun(b.Root, []byte(devs), "update", "-r", "-", id), "update devices")
	r = b.nsrun("exec", id, "sh", "-c", devCheck)
	if !strings.Contains(r.Stdout, "zero-ok") || strings.Contains(r.Stdout, "mem-ok") {
		t.Errorf("device access after update: %q, want zero-ok and /dev/mem still denied", r.Stdout)
	}
	if res := b.recordedResources(id); len(res.Devices) != 2 {
		t.Errorf("recorded devices after update: %+v", res.Devices)
	}

	// kill --all reaches every process of the cgroup; delete leaves nothing.
	mustOK(t, b.nsrun("kill", "--all", id, "KILL"), "kill --all")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	mustOK(t, b.nsrun("delete", id), "delete")
	reap(pid)
	if _, err := os.Stat(filepath.Dir(dir)); err == nil {
		t.Errorf("%s left after delete", filepath.Dir(dir))
	}
}

// TestV2EventsStats checks the v2 stats: usage from cpu.stat and
// memory.current, limits as set, swap reported as memory+swap.
func TestV2EventsStats(t *testing.T) {
	needPureV2(t)
	b := newBundle(t, "sleep", "60")
	mem, pids := int64(32<<20), int64(16)
	b.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem}
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	id := newID(t)
	b.startDetached(id)
	r := b.nsrun("events", "--stats", id)
	mustOK(t, r, "events --stats")
	var ev statsEvent
	if err := json.NewDecoder(bufio.NewReader(strings.NewReader(r.Stdout))).Decode(&ev); err != nil || ev.Data == nil {
		t.Fatalf("stats line %q: %v", r.Stdout, err)
	}
	d := ev.Data
	if d.CPU.Usage.Total == 0 || d.Memory.Usage.Usage == 0 || d.Memory.Usage.Limit != uint64(mem) || d.Pids.Limit != 16 || d.Pids.Current < 1 {
		t.Errorf("stats: %s", r.Stdout)
	}
	if len(d.Memory.Raw) == 0 {
		t.Errorf("no memory.stat in the stats: %s", r.Stdout)
	}
}

// TestV2UnifiedResources writes linux.resources.unified keys as given and
// names a bad one.
func TestV2UnifiedResources(t *testing.T) {
	needPureV2(t)
	b := newBundle(t, "sleep", "60")
	b.Spec.Linux.Resources.Unified = map[string]string{"memory.high": "50000000", "pids.max": "7"}
	id := newID(t)
	b.startDetached(id)
	dir := cgroupPathDir("", "nsrun/"+id)
	if got := readCgroupFile(t, filepath.Join(dir, "memory.high")); got != "49999872" && got != "50000000" {
		t.Errorf("memory.high = %q", got) // rounded down to pages by the kernel
	}
	if got := readCgroupFile(t, filepath.Join(dir, "pids.max")); got != "7" {
		t.Errorf("pids.max = %q", got)
	}

	bad := newBundle(t, "true")
	bad.Spec.Linux.Resources.Unified = map[string]string{"no.such_file": "1"}
	bad.write()
	createMustFailWith(t, bad, "linux.resources.unified", "no.such_file")
}

func i64p(v int64) *int64 { return &v }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
