// Command bench compares the start-up cost of nsrun, runc and crun.
//
//	go run ./bench [-n 30] [-runtimes nsrun,runc,crun] [-nsrun ./nsrun]
//	go run ./bench -placement [-n 50]    # cgroup placement cost, placement.go
//
// It starts N containers of /bin/true with each runtime, interleaved (one
// container of each runtime in turn, the order rotated every round), in two
// scenarios: `run`, and `create` + `start` + wait + `delete`. It prints the
// milliseconds per container (median and mean), the ratios of nsrun to the
// others, the peak RSS of the runtime process (wait4's ru_maxrss) and the RSS
// of the process parked between create and start. See docs/bench.md.
//
// Every runtime runs alike inside a private mount namespace where
// /sys/fs/cgroup/unified is unmounted (crun 1.8.1 refuses this machine's
// hybrid cgroup layout), each with its own --root. bench is a subreaper, so
// the container processes re-parented after `create` are reaped by it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const innerEnv = "_NSRUN_BENCH_INNER"

type options struct {
	n          int
	warmup     int
	runtimes   []string
	paths      map[string]string
	makeRootfs string
	rootfs     string
	keep       bool
}

func main() {
	opts := parseFlags()
	if *placementMode {
		// Before the re-exec: it would unmount cgroup2, which this mode measures.
		os.Exit(placementMain(opts.n, opts.warmup))
	}
	if os.Getenv(innerEnv) == "" {
		os.Exit(reexecInPrivateMountNS())
	}
	if err := bench(opts); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	var list, nsrun, runc, crun string
	flag.IntVar(&o.n, "n", 30, "containers per runtime and scenario")
	flag.IntVar(&o.warmup, "warmup", 2, "unmeasured rounds before the measured ones")
	flag.StringVar(&list, "runtimes", "nsrun,runc,crun", "runtimes to compare, comma separated")
	flag.StringVar(&nsrun, "nsrun", "", "path of nsrun (default: nsrun at the top of the source tree)")
	flag.StringVar(&runc, "runc", "runc", "path of runc")
	flag.StringVar(&crun, "crun", "crun", "path of crun")
	flag.StringVar(&o.makeRootfs, "make-rootfs", "", "script that builds the busybox rootfs (default: bundle-example/make-rootfs.sh of the source tree)")
	flag.StringVar(&o.rootfs, "rootfs", "", "use a copy of this rootfs instead of building one")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	if o.n < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n must be at least 1")
		os.Exit(2)
	}
	if nsrun == "" {
		nsrun = inSourceTree("nsrun")
	}
	if o.makeRootfs == "" && o.rootfs == "" {
		o.makeRootfs = inSourceTree("bundle-example/make-rootfs.sh")
	}
	o.paths = map[string]string{"nsrun": nsrun, "runc": runc, "crun": crun}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if _, ok := o.paths[name]; !ok {
			fmt.Fprintf(os.Stderr, "bench: unknown runtime %q (known: nsrun, runc, crun)\n", name)
			os.Exit(2)
		}
		o.runtimes = append(o.runtimes, name)
	}
	if o.rootfs == "" && !*placementMode {
		if _, err := os.Stat(o.makeRootfs); err != nil {
			fmt.Fprintf(os.Stderr, "bench: no rootfs script at %q: run from nsrun's source tree, or pass -make-rootfs or -rootfs\n", o.makeRootfs)
			os.Exit(2)
		}
	}
	return o
}

// inSourceTree returns rel below the nearest directory, from the working
// directory up, that holds bundle-example/ (the top of nsrun's tree), or rel
// itself if there is none. `go run ./bench` leaves no binary to locate.
func inSourceTree(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "bundle-example", "make-rootfs.sh")); err == nil {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}

// reexecInPrivateMountNS runs this program again in a new mount namespace
// (Go makes its mounts private before the exec) and returns its exit status.
func reexecInPrivateMountNS() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: find own executable: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "bench: run in a private mount namespace: %v\n", err)
		return 1
	}
	return 0
}

// bench runs inside the private mount namespace.
func bench(o options) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	// Only in our namespace: every runtime sees a pure cgroup v1 host.
	if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount /sys/fs/cgroup/unified in the private mount namespace: %w", err)
	}

	work, err := os.MkdirTemp("", "nsrun-bench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return fmt.Errorf("chmod work dir: %w", err)
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	bundle := filepath.Join(work, "bundle")
	if err := makeBundle(bundle, o.makeRootfs, o.rootfs); err != nil {
		return err
	}

	var rts []*runtime
	for _, name := range o.runtimes {
		path := o.paths[name]
		abs, err := exec.LookPath(path)
		if err == nil {
			abs, err = filepath.Abs(abs)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "\n*** bench: SKIPPING %s: no executable at %q (%v) ***\n\n", name, path, err)
			continue
		}
		r := &runtime{name: name, path: abs, bundle: bundle,
			root: filepath.Join(work, "root-"+name), scratch: filepath.Join(work, "scratch-"+name)}
		for _, d := range []string{r.root, r.scratch} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
		}
		rts = append(rts, r)
	}
	if len(rts) == 0 {
		return errors.New("no runtime to measure")
	}
	defer func() {
		for _, r := range rts {
			r.cleanup()
		}
		reapOrphans()
	}()

	fmt.Printf("bench: %d containers of /bin/true per runtime and scenario (+%d warm-up rounds)\n", o.n, o.warmup)
	for _, r := range rts {
		fmt.Printf("  %-6s %s\n", r.name, r.path)
	}
	for round := -o.warmup; round < o.n; round++ {
		measureRound(rts, round)
	}
	report(rts, o.n)
	for _, r := range rts {
		if r.failed != nil {
			return fmt.Errorf("%s failed: %w", r.name, r.failed)
		}
	}
	return nil
}

// measureRound starts one container per runtime and scenario. The runtime
// order rotates with the round so that none always runs right after another.
// Negative rounds are warm-up: measured, then thrown away.
func measureRound(rts []*runtime, round int) {
	scenarios := []struct {
		name    string
		measure func(*runtime, string) (sample, error)
		keep    func(*runtime, sample)
	}{
		{"run", (*runtime).measureRun, func(r *runtime, s sample) { r.run = append(r.run, s) }},
		{"cycle", (*runtime).measureCycle, func(r *runtime, s sample) { r.cycle = append(r.cycle, s) }},
	}
	for _, sc := range scenarios {
		for k := range rts {
			r := rts[(k+round+len(rts))%len(rts)]
			if r.failed != nil {
				continue
			}
			id := fmt.Sprintf("bench-%d-%s-%s-%d", os.Getpid(), r.name, sc.name, round+1000)
			s, err := sc.measure(r, id)
			reapOrphans()
			if err != nil {
				fmt.Fprintf(os.Stderr, "\n*** bench: %s failed, dropping it: %v ***\n\n", r.name, err)
				r.failed = err
				r.cleanup()
				continue
			}
			if round >= 0 {
				sc.keep(r, s)
			}
		}
	}
}
