package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/config"
	"github.com/nsrun/nsrun/libcontainer/container"
	"github.com/nsrun/nsrun/libcontainer/logs"
)

var execCommand = cli.Command{
	Name:      "exec",
	Usage:     "run a new process in a running container",
	ArgsUsage: "<container-id> <command> [args...]",
	// Everything after the ID is the command and its arguments, flags
	// included: urfave/cli must not move them in front.
	SkipArgReorder: true,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "process, p", Usage: "a JSON file with the process to run (runtime-spec process object)"},
		cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
		cli.StringSliceFlag{Name: "env, e", Usage: "set an environment variable KEY=VALUE (repeatable)"},
		cli.StringFlag{Name: "user, u", Usage: "run as user[:group]: uid[:gid], or names from the container's /etc/passwd and /etc/group"},
		cli.StringSliceFlag{Name: "additional-gids, g", Usage: "an additional group id (repeatable)"},
		cli.StringSliceFlag{Name: "cap", Usage: "add a capability to the container's sets (repeatable)"},
		cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
		cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile of the process"},
		cli.StringFlag{Name: "process-label", Usage: "SELinux label of the process"},
		cli.BoolFlag{Name: "tty, t", Usage: "allocate a pseudo-terminal"},
		cli.BoolFlag{Name: "detach, d", Usage: "return once the process runs"},
		cli.StringFlag{Name: "pid-file", Usage: "write the process's pid to this file"},
		cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master (with a terminal)"},
		cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (3..3+N-1) to the process"},
		cli.StringSliceFlag{Name: "cgroup", Usage: "sub-cgroup to run in (only the container's own cgroup is supported)"},
		cli.BoolFlag{Name: "ignore-paused", Usage: "exec even if the container is paused"},
	},
	Action: func(ctx *cli.Context) error {
		opts, err := execOptions(ctx)
		if err != nil {
			logs.Fatal(err, 255)
		}
		code, err := container.Exec(opts)
		if err != nil {
			// 255: a runtime failure, told apart from the process's own
			// exit codes.
			logs.Fatal(err, 255)
		}
		os.Exit(code)
		return nil
	},
}

func execOptions(ctx *cli.Context) (*container.ExecOptions, error) {
	id, err := containerID(ctx)
	if err != nil {
		return nil, err
	}
	if n := ctx.Int("preserve-fds"); n < 0 {
		return nil, errors.New("--preserve-fds must not be negative")
	}
	o := &container.ExecOptions{
		Root:          stateRoot(ctx),
		ID:            id,
		Detach:        ctx.Bool("detach"),
		PidFile:       ctx.String("pid-file"),
		ConsoleSocket: ctx.String("console-socket"),
		PreserveFds:   ctx.Int("preserve-fds"),
		IgnorePaused:  ctx.Bool("ignore-paused"),
	}
	for _, cg := range ctx.StringSlice("cgroup") {
		if o.Cgroup != "" && o.Cgroup != cg {
			return nil, fmt.Errorf("--cgroup %q: nsrun only runs exec'd processes in the container's own cgroup", cg)
		}
		o.Cgroup = cg
	}
	args := ctx.Args().Tail()
	if path := ctx.String("process"); path != "" {
		if len(args) > 0 {
			return nil, errors.New("exec: give either --process or a command, not both")
		}
		if o.Process, err = loadProcess(path); err != nil {
			return nil, err
		}
		return o, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("exec: a command is required (usage: nsrun exec [flags] %s)", ctx.Command.ArgsUsage)
	}
	var gids []uint32
	for _, g := range ctx.StringSlice("additional-gids") {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: not a group id", g)
		}
		gids = append(gids, uint32(n))
	}
	o.Overrides = &container.ProcessOverrides{
		Args:           args,
		Cwd:            ctx.String("cwd"),
		Env:            ctx.StringSlice("env"),
		User:           ctx.String("user"),
		AdditionalGids: gids,
		Caps:           ctx.StringSlice("cap"),
		NoNewPrivs:     ctx.Bool("no-new-privs"),
		Apparmor:       ctx.String("apparmor"),
		ProcessLabel:   ctx.String("process-label"),
		Terminal:       ctx.Bool("tty"),
	}
	return o, nil
}

// loadProcess reads a runtime-spec process object (what containerd and
// conmon write for exec) and validates it on its own.
func loadProcess(path string) (*specs.Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--process: %w", err)
	}
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	if err := config.ValidateProcess(&p, ""); err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	return &p, nil
}
