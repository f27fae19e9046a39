package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"
)

var updateCommand = cli.Command{
	Name:      "update",
	Usage:     "update the resource limits of a running container",
	ArgsUsage: "<container-id>",
	Description: `The new limits come from --resources (a runtime-spec linux.resources
object; "-" reads it from stdin) and from the flags, which override the
matching fields of --resources. Unset fields keep their values.
Memory sizes take a suffix (b, k, m, g, t, p; 1024-based): 64m, 1g; -1 is unlimited.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "resources, r", Usage: "path to a linux.resources JSON file, or - for stdin"},
		cli.StringFlag{Name: "memory", Usage: "memory limit (e.g. 64m; -1 unlimited)"},
		cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (e.g. 128m; -1 unlimited)"},
		cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		cli.StringFlag{Name: "kernel-memory", Usage: "ignored (kernel memory limits are obsolete)"},
		cli.StringFlag{Name: "kernel-memory-tcp", Usage: "ignored (kernel memory limits are obsolete)"},
		cli.StringFlag{Name: "cpu-share, cpu-shares", Usage: "CPU shares (relative weight)"},
		cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota in microseconds per period (-1 unlimited)"},
		cli.StringFlag{Name: "cpu-period", Usage: "CFS period in microseconds"},
		cli.StringFlag{Name: "cpu-burst", Usage: "CFS burst in microseconds"},
		cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime in microseconds per period"},
		cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period in microseconds"},
		cli.StringFlag{Name: "cpu-idle", Usage: "1: SCHED_IDLE for the cgroup, 0: normal"},
		cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (e.g. 0-1)"},
		cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		cli.StringFlag{Name: "pids-limit", Usage: "maximum number of pids (0 or -1: unlimited)"},
		cli.StringFlag{Name: "blkio-weight", Usage: "block I/O weight (10-1000)"},
	},
	Action: func(ctx *cli.Context) error {
		res, err := updateRequest(ctx)
		if err != nil {
			return err
		}
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Update(res)
	},
}

// updateRequest builds the resources to apply: --resources, then the
// flags on top.
func updateRequest(ctx *cli.Context) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if src := ctx.String("resources"); src != "" {
		var r io.Reader = os.Stdin
		if src != "-" {
			f, err := os.Open(src)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			r = f
		}
		if err := json.NewDecoder(r).Decode(res); err != nil {
			return nil, fmt.Errorf("--resources %s: invalid linux.resources JSON: %w", src, err)
		}
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	for _, f := range []struct {
		flag string
		dst  func() **int64
	}{
		{"memory", func() **int64 { return &mem().Limit }},
		{"memory-swap", func() **int64 { return &mem().Swap }},
		{"memory-reservation", func() **int64 { return &mem().Reservation }},
	} {
		if v := ctx.String(f.flag); v != "" {
			n, err := parseMemorySize(v)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", f.flag, err)
			}
			*f.dst() = &n
		}
	}
	for _, flag := range []string{"kernel-memory", "kernel-memory-tcp"} {
		if ctx.String(flag) != "" {
			logrus.Warnf("--%s is ignored: kernel memory limits are obsolete", flag)
		}
	}
	for _, f := range []struct {
		flag string
		dst  func() **uint64
	}{
		{"cpu-share", func() **uint64 { return &cpu().Shares }},
		{"cpu-period", func() **uint64 { return &cpu().Period }},
		{"cpu-burst", func() **uint64 { return &cpu().Burst }},
		{"cpu-rt-period", func() **uint64 { return &cpu().RealtimePeriod }},
	} {
		if v := ctx.String(f.flag); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not a non-negative integer", f.flag, v)
			}
			*f.dst() = &n
		}
	}
	for _, f := range []struct {
		flag string
		dst  func() **int64
	}{
		{"cpu-quota", func() **int64 { return &cpu().Quota }},
		{"cpu-rt-runtime", func() **int64 { return &cpu().RealtimeRuntime }},
		{"cpu-idle", func() **int64 { return &cpu().Idle }},
	} {
		if v := ctx.String(f.flag); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not an integer", f.flag, v)
			}
			*f.dst() = &n
		}
	}
	if v := ctx.String("cpuset-cpus"); v != "" {
		cpu().Cpus = v
	}
	if v := ctx.String("cpuset-mems"); v != "" {
		cpu().Mems = v
	}
	if v := ctx.String("pids-limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--pids-limit: %q is not an integer", v)
		}
		res.Pids = &specs.LinuxPids{Limit: &n}
	}
	if v := ctx.String("blkio-weight"); v != "" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n < 10 || n > 1000 {
			return nil, fmt.Errorf("--blkio-weight: %q is not a weight in 10..1000", v)
		}
		w := uint16(n)
		if res.BlockIO == nil {
			res.BlockIO = &specs.LinuxBlockIO{}
		}
		res.BlockIO.Weight = &w
	}
	return res, nil
}

// parseMemorySize reads a size the way runc's flags do (docker's
// RAMInBytes): a decimal number, optionally fractional, then an optional
// unit b, k, m, g, t or p (any case, 1024-based, optionally followed by
// "b" or "ib"). "-1" means unlimited.
func parseMemorySize(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil {
		return 0, fmt.Errorf("invalid size %q (want e.g. 64m, 1g, 1048576 or -1)", s)
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit (want b, k, m, g, t or p)", s)
	}
	bytes := v * m
	if bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(bytes), nil
}
