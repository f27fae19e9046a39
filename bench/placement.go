package main

// -placement: what putting a new process into its cgroups costs, with and
// without the paths nsrun takes to avoid the RCU grace period that a v1 (or
// v2) write of another process's pid into cgroup.procs waits for. See the
// "Cgroup placement" section of docs/bench.md.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	placementMode = flag.Bool("placement", false, "measure the cgroup placement cost instead of the runtimes (see docs/bench.md)")
	placementGap  = flag.Duration("placement-gap", 20*time.Millisecond, "with -placement: sleep before every case, so that no move rides on the grace period an earlier one waited for")
)

const busybox = "/bin/busybox"

// hierarchy is one mounted cgroup hierarchy and the bench cgroup in it.
type hierarchy struct {
	mount string // mount point
	name  string // controllers, as in the super options
	v2    bool
	dir   string // the bench cgroup, once created
}

type placementCase struct {
	name string
	base *placementCase // the baseline it is compared with; nil for a baseline
	run  func() error
	key  string // a baseline's label, named by the rows compared with it
	ms   []float64
}

// cgroupHierarchies lists the cgroup mounts in a mountinfo, one per hierarchy
// (a hierarchy mounted twice is listed once). Mountinfo, not a fixed path:
// cgroup2 is /sys/fs/cgroup/unified on this hybrid host, /sys/fs/cgroup on a
// pure-v2 one, and a lane may mount extra v1 hierarchies anywhere.
func cgroupHierarchies(mountinfo io.Reader) (v1 []*hierarchy, v2 *hierarchy, err error) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(b) < 3 || (b[0] != "cgroup" && b[0] != "cgroup2") || seen[a[2]] {
			continue
		}
		seen[a[2]] = true
		h := &hierarchy{mount: a[4], v2: b[0] == "cgroup2", name: "cgroup2"}
		if h.v2 {
			v2 = h
			continue
		}
		var names []string
		for _, o := range strings.Split(b[2], ",") {
			if o != "rw" && o != "ro" && o != "xattr" && !strings.HasPrefix(o, "release_agent=") {
				names = append(names, o)
			}
		}
		h.name = strings.Join(names, ",")
		v1 = append(v1, h)
	}
	return v1, v2, sc.Err()
}

// create makes the bench cgroup. A new v1 cpuset cgroup has no cpus and
// mems, and refuses tasks until they are set: copy them from the parent,
// as a runtime does.
func (h *hierarchy) create(name string) error {
	dir := filepath.Join(h.mount, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	h.dir = dir
	if h.v2 || !strings.Contains(","+h.name+",", ",cpuset,") {
		return nil
	}
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := os.ReadFile(filepath.Join(h.mount, file))
		if err == nil {
			err = writeFile(filepath.Join(dir, file), strings.TrimSpace(string(v)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the bench cgroup. The last child was reaped, but a cgroup
// can stay busy for a moment after its last task exited: retry.
func (h *hierarchy) remove() error {
	var err error
	for i := 0; i < 100; i++ {
		if err = os.Remove(h.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	return errors.Join(err, f.Close())
}

// startHold starts `sh -c 'read x || :'`, which waits on its stdin pipe,
// lets place act on its pid, then closes the pipe and waits for its exit.
// The child is single-threaded when place runs, as a runtime's init is when
// its parent moves it. With cgroupDir set, the child is cloned into that
// cgroup (clone3 CLONE_INTO_CGROUP), as nsrun's spawn.go does on cgroup2.
func startHold(cgroupDir *os.File, place func(pid int) error) error {
	cmd := exec.Command(busybox, "sh", "-c", "read x || :") // read fails at EOF
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if cgroupDir != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgroupDir.Fd())}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var perr error
	if place != nil {
		perr = place(cmd.Process.Pid)
	}
	in.Close()
	return errors.Join(perr, cmd.Wait())
}

// writePid moves pid, from the parent, into the bench cgroup of each h: the
// slow path, one RCU grace period unless a move happened just before.
func writePid(hs []*hierarchy, pid int) error {
	for _, h := range hs {
		if err := writeFile(filepath.Join(h.dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move %d into %s: %w", pid, h.dir, err)
		}
	}
	return nil
}

// selfMoveScript writes "0" into each target, by the single-threaded busybox
// shell itself; with /dev/null targets it is the baseline: the same opens
// and writes, no move.
func selfMoveScript(targets []string) string {
	s := "set -e"
	for _, t := range targets {
		s += "; echo 0 > " + t
	}
	return s
}

func runShell(script string) error {
	cmd := exec.Command(busybox, "sh", "-c", script)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// checkPlacement runs each path once and reads /proc/self/cgroup, so that a
// fast path that silently did not move anything cannot pass for cheap.
func checkPlacement(v1 []*hierarchy, tasks []string, v2dir *os.File, name string) error {
	if len(v1) > 0 {
		out, err := exec.Command(busybox, "sh", "-c", selfMoveScript(tasks)+"; cat /proc/self/cgroup").Output()
		if n := strings.Count(string(out), "/"+name+"\n"); err != nil || n != len(v1) {
			return fmt.Errorf("self-move check: %d of %d v1 hierarchies moved (%v): %s", n, len(v1), err, out)
		}
	}
	if v2dir != nil {
		cmd := exec.Command(busybox, "cat", "/proc/self/cgroup")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(v2dir.Fd())}
		out, err := cmd.Output()
		if err != nil || !strings.Contains("\n"+string(out), "\n0::/"+name+"\n") {
			return fmt.Errorf("clone-into-cgroup check (%v): %s", err, out)
		}
	}
	return nil
}

// placementMain runs the -placement mode, in the caller's mount namespace
// (unmounting cgroup2 as the runtime benchmark does would hide the v2 cases).
func placementMain(n, warmup int) int {
	var v1 []*hierarchy
	var v2 *hierarchy
	f, err := os.Open("/proc/self/mountinfo")
	if err == nil {
		v1, v2, err = cgroupHierarchies(f)
		f.Close()
	}
	if err == nil && len(v1) == 0 && v2 == nil {
		err = errors.New("no cgroup hierarchy mounted")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	// Stop between rounds on a signal, so that the cleanup below runs.
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() { <-sigs; stop.Store(true) }()

	name := fmt.Sprintf("nsrun-bench-%d", os.Getpid())
	defer func() {
		for _, h := range append(append([]*hierarchy{}, v1...), v2) {
			if h != nil && h.dir != "" {
				if err := h.remove(); err != nil {
					fmt.Fprintf(os.Stderr, "bench: LEFT BEHIND %s: %v\n", h.dir, err)
				}
			}
		}
	}()
	if err := measurePlacement(v1, v2, name, n, warmup, &stop); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	if stop.Load() {
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	}
	return 0
}

func measurePlacement(v1 []*hierarchy, v2 *hierarchy, name string, n, warmup int, stop *atomic.Bool) error {
	var tasks, devnull, names []string
	for _, h := range v1 {
		if err := h.create(name); err != nil {
			return fmt.Errorf("create cgroup in %s: %w", h.mount, err)
		}
		tasks = append(tasks, filepath.Join(h.dir, "tasks"))
		devnull = append(devnull, "/dev/null")
		names = append(names, h.name)
	}
	var v2dir *os.File
	if v2 != nil {
		if err := v2.create(name); err != nil {
			return fmt.Errorf("create cgroup in %s: %w", v2.mount, err)
		}
		f, err := os.Open(v2.dir)
		if err != nil {
			return err
		}
		defer f.Close()
		v2dir = f
	}
	if err := checkPlacement(v1, tasks, v2dir, name); err != nil {
		return err
	}

	base := &placementCase{key: "A", name: "A: start sh 'read x', close stdin, wait", run: func() error { return startHold(nil, nil) }}
	cases := []*placementCase{base}
	if len(v1) > 0 {
		selfBase := &placementCase{key: "B", name: fmt.Sprintf("B: sh, %d x echo 0 > /dev/null", len(v1)),
			run: func() error { return runShell(selfMoveScript(devnull)) }}
		cases = append(cases,
			&placementCase{name: fmt.Sprintf("v1: parent writes pid, %d hierarchies", len(v1)), base: base,
				run: func() error { return startHold(nil, func(pid int) error { return writePid(v1, pid) }) }},
			selfBase,
			&placementCase{name: fmt.Sprintf("v1: child writes 0 to %d tasks", len(v1)), base: selfBase,
				run: func() error { return runShell(selfMoveScript(tasks)) }})
	}
	if v2 != nil {
		cases = append(cases,
			&placementCase{name: "cgroup2: parent writes pid", base: base,
				run: func() error { return startHold(nil, func(pid int) error { return writePid([]*hierarchy{v2}, pid) }) }},
			&placementCase{name: "cgroup2: clone into cgroup", base: base,
				run: func() error { return startHold(v2dir, nil) }})
	}

	fmt.Printf("bench -placement: %d rounds (+%d warm-up), cases interleaved, order rotated every round;\n", n, warmup)
	fmt.Printf("  a %v sleep before every case, so that no cgroup move rides on the RCU grace period of an earlier one\n", *placementGap)
	if len(v1) > 0 {
		fmt.Printf("  v1: %s (%d hierarchies), bench cgroups /%s\n", strings.Join(names, " "), len(v1), name)
	}
	if v2 != nil {
		fmt.Printf("  cgroup2: %s, bench cgroup /%s\n", v2.mount, name)
	}
	// The wait avoided is synchronize_rcu(): expedited (IPIs, well under a
	// millisecond when no vCPU is preempted) if this global knob is 1.
	if v, err := os.ReadFile("/sys/kernel/rcu_expedited"); err == nil {
		fmt.Printf("  /sys/kernel/rcu_expedited = %s (1: expedited grace periods, the wait the fast paths avoid is short)\n", strings.TrimSpace(string(v)))
	}
	for round := -warmup; round < n && !stop.Load(); round++ {
		for k := range cases {
			c := cases[(k+round+warmup)%len(cases)]
			time.Sleep(*placementGap)
			t := time.Now()
			if err := c.run(); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if round >= 0 {
				c.ms = append(c.ms, float64(time.Since(t))/float64(time.Millisecond))
			}
		}
	}
	printPlacement(cases)
	return nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func printPlacement(cases []*placementCase) {
	fmt.Printf("\nms per container:\n  %-40s %4s %8s %8s %9s %9s\n", "", "n", "median", "mean", "Δ median", "Δ mean")
	for _, c := range cases {
		if len(c.ms) == 0 {
			continue // interrupted during the warm-up
		}
		line := fmt.Sprintf("  %-40s %4d %8.2f %8.2f", c.name, len(c.ms), median(c.ms), mean(c.ms))
		if c.base != nil && len(c.base.ms) > 0 {
			line += fmt.Sprintf(" %+9.2f %+9.2f  vs %s", median(c.ms)-median(c.base.ms), mean(c.ms)-mean(c.base.ms), c.base.key)
		}
		fmt.Println(line)
	}
	fmt.Println("  Δ: difference from the row's baseline (A or B), i.e. the placement cost")
}
