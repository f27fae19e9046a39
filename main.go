// nsrun is an OCI runtime: it turns an OCI bundle into a running container.
// This package is its command line; libcontainer/ does the work.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/initproc"
	"github.com/nsrun/nsrun/libcontainer/logs"
	_ "github.com/nsrun/nsrun/libcontainer/nsenter" // the init's pre-Go-runtime constructor
	"github.com/nsrun/nsrun/libcontainer/state"
)

// version and gitCommit are set at build time (Makefile).
var (
	version   = "0.1.0"
	gitCommit = "unknown"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// The init's setup is per-thread (capabilities, the time namespace)
		// and ends in execve: keep it all on the main thread. Locking in an
		// init function pins the main goroutine to the main thread.
		runtime.GOMAXPROCS(1)
		runtime.LockOSThread()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		initproc.Main()
		return
	}
	app := cli.NewApp()
	app.Name = "nsrun"
	app.Usage = "an OCI container runtime"
	app.Version = fmt.Sprintf("%s\ncommit: %s\nspec: %s\ngo: %s", version, gitCommit, specVersion(), runtime.Version())
	app.Flags = []cli.Flag{
		cli.StringFlag{Name: "root", Value: state.DefaultRoot, Usage: "directory for container state"},
		cli.StringFlag{Name: "log", Usage: "append the log to this file (default stderr)"},
		cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
		cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "use systemd to manage cgroups (not supported)"},
		cli.StringFlag{Name: "rootless", Value: "auto", Usage: "rootless mode: true, false or auto (accepted for compatibility)"},
	}
	app.Commands = []cli.Command{
		createCommand, startCommand, stateCommand, killCommand, deleteCommand,
		runCommand, listCommand, specCommand, featuresCommand,
		pauseCommand, resumeCommand, psCommand, execCommand,
		updateCommand, eventsCommand, checkpointCommand, restoreCommand,
	}
	app.Before = func(ctx *cli.Context) error {
		if err := logs.Setup(ctx.GlobalString("log"), ctx.GlobalString("log-format"), ctx.GlobalBool("debug")); err != nil {
			return err
		}
		if ctx.GlobalBool("systemd-cgroup") {
			return fmt.Errorf("--systemd-cgroup: systemd cgroup management is not supported by nsrun")
		}
		return nil
	}
	cli.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		logs.Fatal(err, 1)
	}
}
