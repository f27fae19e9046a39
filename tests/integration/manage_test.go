package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startDetached creates and starts the bundle's container; it is
// force-deleted at the end of the test.
func (b *bundle) startDetached(id string) {
	b.t.Helper()
	b.write()
	b.cleanup(id)
	mustOK(b.t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(b.t, b.nsrun("start", id), "start")
}

// recordedResources decodes linux.resources of the config snapshot in
// state.json.
func (b *bundle) recordedResources(id string) *specs.LinuxResources {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.Root, id, "state.json"))
	if err != nil {
		b.t.Fatal(err)
	}
	var st struct {
		Config specs.Spec `json:"config"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		b.t.Fatalf("state.json: %v", err)
	}
	if st.Config.Linux == nil || st.Config.Linux.Resources == nil {
		b.t.Fatal("state.json: no linux.resources in the config snapshot")
	}
	return st.Config.Linux.Resources
}

// expectCgroupFiles checks the files of a container with the default
// cgroupsPath (see expectCgroupValues).
func expectCgroupFiles(t *testing.T, id string, want map[string]string) {
	t.Helper()
	expectCgroupValues(t, "nsrun/"+id, want)
}

func TestUpdateFlagsAndResourcesJSON(t *testing.T) {
	b := newBundle(t, "sleep", "30")
	id := newID(t)
	b.startDetached(id)

	// Flags after the ID, as runc's tests and scripts pass them.
	mustOK(t, b.nsrun("update", id, "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "20",
		"--cpu-quota", "50000", "--cpu-period", "100000", "--cpu-shares", "512"), "update (flags)")
	expectCgroupFiles(t, id, map[string]string{
		"memory/memory.limit_in_bytes":       "67108864",
		"memory/memory.memsw.limit_in_bytes": "134217728",
		"pids/pids.max":                      "20",
		"cpu/cpu.cfs_quota_us":               "50000",
		"cpu/cpu.cfs_period_us":              "100000",
		"cpu/cpu.shares":                     "512",
	})

	// One flag changes one value; the others stay, live and recorded.
	mustOK(t, b.nsrun("update", "--pids-limit", "30", id), "update (one flag)")
	expectCgroupFiles(t, id, map[string]string{
		"pids/pids.max":                "30",
		"memory/memory.limit_in_bytes": "67108864",
		"cpu/cpu.cfs_quota_us":         "50000",
	})

	// --resources from stdin; a flag overrides the JSON's field.
	js := `{"memory":{"limit":33554432},"cpu":{"quota":25000},"pids":{"limit":35}}`
	r := runNsrun(b.Root, []byte(js), "update", "-r", "-", "--pids-limit", "40", id)
	mustOK(t, r, "update -r -")
	expectCgroupFiles(t, id, map[string]string{
		"memory/memory.limit_in_bytes":       "33554432",
		"memory/memory.memsw.limit_in_bytes": "134217728",
		"cpu/cpu.cfs_quota_us":               "25000",
		"cpu/cpu.cfs_period_us":              "100000",
		"pids/pids.max":                      "40",
	})

	// --resources from a file, as conmon passes it.
	file := filepath.Join(b.Dir, "res.json")
	os.WriteFile(file, []byte(`{"memory":{"reservation":16777216}}`), 0o644)
	mustOK(t, b.nsrun("update", "--resources="+file, id), "update --resources=FILE")
	expectCgroupFiles(t, id, map[string]string{"memory/memory.soft_limit_in_bytes": "16777216"})

	res := b.recordedResources(id)
	switch {
	case res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != 32<<20:
		t.Errorf("recorded memory.limit: %+v", res.Memory)
	case res.Memory.Swap == nil || *res.Memory.Swap != 128<<20:
		t.Errorf("recorded memory.swap: %+v", res.Memory.Swap)
	case res.Memory.Reservation == nil || *res.Memory.Reservation != 16<<20:
		t.Errorf("recorded memory.reservation: %+v", res.Memory.Reservation)
	case res.Pids == nil || res.Pids.Limit == nil || *res.Pids.Limit != 40:
		t.Errorf("recorded pids: %+v", res.Pids)
	case res.CPU == nil || res.CPU.Quota == nil || *res.CPU.Quota != 25000 || res.CPU.Shares == nil || *res.CPU.Shares != 512:
		t.Errorf("recorded cpu: %+v", res.CPU)
	}
	// The device rules of create are still recorded as given.
	if len(res.Devices) != 1 {
		t.Errorf("recorded devices changed: %+v", res.Devices)
	}

	// Errors name what is wrong and change nothing.
	r = b.nsrun("update", id, "--memory", "256m") // above the recorded memory+swap 128m
	if r.Code == 0 || !strings.Contains(r.Stderr, "linux.resources.memory.swap") {
		t.Errorf("memory above memory+swap: exit %d, stderr %q; want an error naming linux.resources.memory.swap", r.Code, r.Stderr)
	}
	r = b.nsrun("update", id, "--memory", "12x")
	if r.Code == 0 || !strings.Contains(r.Stderr, "--memory") {
		t.Errorf("bad size: exit %d, stderr %q; want an error naming --memory", r.Code, r.Stderr)
	}
	r = runNsrun(b.Root, []byte(`{"memory":`), "update", "-r", "-", id)
	if r.Code == 0 || !strings.Contains(r.Stderr, "--resources") {
		t.Errorf("bad JSON: exit %d, stderr %q", r.Code, r.Stderr)
	}
	expectCgroupFiles(t, id, map[string]string{"memory/memory.limit_in_bytes": "33554432"})

	// -1 lifts memory and memory+swap.
	mustOK(t, b.nsrun("update", id, "--memory", "-1"), "update --memory -1")
	expectCgroupFiles(t, id, map[string]string{
		"memory/memory.limit_in_bytes":       "9223372036854771712",
		"memory/memory.memsw.limit_in_bytes": "9223372036854771712",
	})

	// A paused container can be updated.
	mustOK(t, b.nsrun("pause", id), "pause")
	mustOK(t, b.nsrun("update", id, "--pids-limit", "50"), "update of a paused container")
	expectCgroupFiles(t, id, map[string]string{"pids/pids.max": "50"})
	mustOK(t, b.nsrun("resume", id), "resume")
}

func TestUpdateStoppedContainerFails(t *testing.T) {
	b := newBundle(t, "true")
	id := newID(t)
	b.startDetached(id)
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	for _, args := range [][]string{{"update", id, "--pids-limit", "10"}, {"events", "--stats", id}} {
		r := b.nsrun(args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "not running") {
			t.Errorf("%v on a stopped container: exit %d, stderr %q; want \"not running\"", args, r.Code, r.Stderr)
		}
	}
	if r := b.nsrun("update", "no-such-ctr", "--pids-limit", "10"); r.Code == 0 || !strings.Contains(r.Stderr, "does not exist") {
		t.Errorf("update of a missing container: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// statsEvent is the part of a stats line the tests check.
type statsEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data *struct {
		CPU struct {
			Usage struct {
				Total  uint64   `json:"total"`
				Percpu []uint64 `json:"percpu"`
			} `json:"usage"`
			Throttling map[string]uint64 `json:"throttling"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Usage, Max, Failcnt, Limit uint64
			} `json:"usage"`
			Swap struct{ Usage, Limit uint64 } `json:"swap"`
			Raw  map[string]uint64             `json:"raw"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
		Blkio   map[string]any `json:"blkio"`
		Hugetlb map[string]any `json:"hugetlb"`
	} `json:"data"`
}

func TestEventsStats(t *testing.T) {
	b := newBundle(t, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30")
	limit := int64(20)
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	id := newID(t)
	b.startDetached(id)
	r := b.nsrun("events", "--stats", id)
	mustOK(t, r, "events --stats")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("events --stats printed %d lines, want 1:\n%s", len(lines), r.Stdout)
	}
	var ev statsEvent
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, lines[0])
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data == nil {
		t.Fatalf("event header: %s", lines[0])
	}
	d := ev.Data
	// cgroup v2 has no per-CPU usage.
	if d.CPU.Usage.Total == 0 || (len(d.CPU.Usage.Percpu) == 0 && !pureV2) {
		t.Errorf("cpu usage: %+v", d.CPU.Usage)
	}
	if d.Memory.Usage.Usage == 0 || d.Memory.Usage.Limit == 0 || len(d.Memory.Raw) == 0 {
		t.Errorf("memory: %+v", d.Memory.Usage)
	}
	if d.Pids.Current < 1 || d.Pids.Limit != 20 {
		t.Errorf("pids: %+v, want current >= 1, limit 20", d.Pids)
	}
	for _, key := range []string{`"throttling"`, `"blkio"`, `"hugetlb"`, `"cpuset"`} {
		if !strings.Contains(lines[0], key) {
			t.Errorf("stats lack %s: %s", key, lines[0])
		}
	}
	// Flags after the ID work too.
	mustOK(t, b.nsrun("events", id, "--stats"), "events ID --stats")
}

func TestEventsStreamReportsOOM(t *testing.T) {
	// The shell waits for a go-ahead, then collects 64 MiB of output in a
	// variable: the memory cgroup (16 MiB, no swap) kills it, and with it
	// the container.
	b := newBundle(t, "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; x=$(yes | head -c 67108864); echo ${#x}")
	id := newID(t)
	b.startDetached(id)
	pid := b.initPid(id)
	mustOK(t, b.nsrun("update", id, "--memory", "16m", "--memory-swap", "16m"), "update")

	out, err := os.CreateTemp(t.TempDir(), "events-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var stderr strings.Builder
	cmd := exec.Command(nsrunBin, "--root", b.Root, "events", "--interval", "200ms", id)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Let it print a stats line or two before the OOM.
	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile(filepath.Join("/proc", itoa(pid), "root", "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("events: %v\nstderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("events did not end when the container stopped")
	}
	reap(pid)
	data, _ := os.ReadFile(out.Name())
	var nStats, nOOM int
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev statsEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		if ev.ID != id {
			t.Errorf("event for %q: %s", ev.ID, line)
		}
		switch ev.Type {
		case "stats":
			nStats++
		case "oom":
			nOOM++
			if ev.Data != nil {
				t.Errorf("oom event with data: %s", line)
			}
		default:
			t.Errorf("unknown event: %s", line)
		}
	}
	if nStats < 2 || nOOM < 1 {
		t.Errorf("got %d stats and %d oom events, want >= 2 and >= 1:\n%s", nStats, nOOM, data)
	}
	if st := b.state(id)["status"]; st != "stopped" {
		t.Errorf("status after the OOM kill: %v", st)
	}
}

func itoa(n int) string { return fmtInt(int64(n)) }
