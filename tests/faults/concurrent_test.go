package faults

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestConcurrentCreateSameID: of 100 creates of one ID exactly one wins;
// the others say the container exists, and the loser's failures undo
// nothing of the winner's.
func TestConcurrentCreateSameID(t *testing.T) {
	c := newCtr(t, "sleep", "1000")
	c.write()
	const n = 100
	procs := make([]*proc, n)
	for i := range procs {
		p, err := startNsrun(c.Root, "create", "-b", c.Dir, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	won := 0
	for i, p := range procs {
		r := p.wait()
		noPanic(t, r, "create")
		if r.Code == 0 {
			won++
			continue
		}
		if !strings.Contains(r.Stderr, "already exists") {
			t.Errorf("create #%d: want an \"already exists\" error: %s", i, r)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates succeeded, want 1", won)
	}
	pid := c.recordedPid()
	r := c.nsrun("state", c.ID)
	mustOK(t, r, "state")
	var st struct{ Status string }
	if json.Unmarshal([]byte(r.Stdout), &st); st.Status != "created" {
		t.Fatalf("state after the race: %s", r)
	}
	if len(c.cgroupDirs()) == 0 {
		t.Fatal("the winner's cgroups were removed by a loser")
	}
	mustOK(t, c.nsrun("start", c.ID), "start")
	c.forceDelete("after the create race", pid)
}

// TestConcurrentOperations: 50 goroutines run kill, delete, state, pause,
// resume, ps and list on one running container for a few seconds, then a
// forced delete joins them. state.json stays valid JSON throughout, no
// command crashes, and at the end nothing is left.
func TestConcurrentOperations(t *testing.T) {
	by := startBystander(t)
	c := newCtr(t, "sh", "-c", "trap '' USR1; sleep 1000")
	c.write()
	mustOK(t, c.nsrun("create", "-b", c.Dir, c.ID), "create")
	mustOK(t, c.nsrun("start", c.ID), "start")
	pid := c.recordedPid()

	ops := [][]string{
		{"kill", c.ID, "USR1"}, {"delete", c.ID}, {"state", c.ID}, {"pause", c.ID},
		{"resume", c.ID}, {"ps", c.ID}, {"list"}, {"kill", c.ID, "CONT"},
	}
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		deleted  atomic.Bool
		mu       sync.Mutex
		failures []string
		counts   = map[string]int{}
	)
	fail := func(s string) {
		mu.Lock()
		if len(failures) < 20 {
			failures = append(failures, s)
		}
		mu.Unlock()
	}
	// A reader that checks state.json between the writers.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			data, err := os.ReadFile(c.statePath())
			if err == nil && !json.Valid(data) {
				fail("state.json is not valid JSON: " + string(data))
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(seed))
			for !stop.Load() {
				args := ops[rnd.Intn(len(ops))]
				r := c.nsrun(args...)
				mu.Lock()
				counts[args[0]]++
				mu.Unlock()
				if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") || r.Signaled || r.Code == 2 {
					fail(strings.Join(args, " ") + ": crashed: " + r.String())
				}
				if r.Code != 0 && strings.TrimSpace(r.Stderr) == "" {
					fail(strings.Join(args, " ") + ": failed without a message")
				}
				if args[0] == "state" && r.Code == 0 && !json.Valid([]byte(r.Stdout)) {
					fail("state printed invalid JSON: " + r.Stdout)
				}
				if args[0] == "state" && r.Code != 0 && !deleted.Load() {
					fail("state failed before the delete: " + r.String())
				}
			}
		}(int64(g))
	}
	time.Sleep(2500 * time.Millisecond)
	deleted.Store(true)
	r := c.nsrun("delete", "--force", c.ID)
	if r.Code != 0 {
		fail("delete --force amid the others: " + r.String())
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("commands run: %v", counts)
	for _, f := range failures {
		t.Error(f)
	}
	c.forceDelete("after the storm", pid)
	by.check("after the storm")
}

// TestConcurrentContainersDefaultParent: containers of different IDs come
// and go at once below the default parent /nsrun, which the last delete
// removes and a create may need to make again meanwhile. Every create and
// start succeeds, the containers leave no process without a PID namespace
// either (a shell forking in a loop), and /nsrun is gone at the end.
func TestConcurrentContainersDefaultParent(t *testing.T) {
	preexisting, _ := filepath.Glob("/sys/fs/cgroup/*/nsrun")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		all      []*ctr
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				c := newCtr(t, "sh", "-c", "while :; do sleep 30 & done")
				c.Spec.Linux.CgroupsPath = ""
				c.Cgroup = "/nsrun/" + c.ID
				if g%2 == 1 {
					testenv.WithoutNamespace(c.Spec, specs.PIDNamespace)
				}
				c.write()
				for _, op := range [][]string{{"create", "-b", c.Dir, c.ID}, {"start", c.ID}, {"delete", "--force", c.ID}} {
					if r := c.nsrun(op...); r.Code != 0 {
						fail("%s %s: %s", op[0], c.ID, r)
						break
					}
				}
				mu.Lock()
				all = append(all, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	// Checked once all are done: the check reaps orphans of this process,
	// which would steal the exit of another goroutine's nsrun.
	for _, c := range all {
		c.assertGone("create, start, delete --force beside others")
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/nsrun"); len(preexisting) == 0 && len(left) > 0 {
		t.Errorf("the default parent is left: %v", left)
	}
}
