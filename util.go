package main

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
	"github.com/nsrun/nsrun/libcontainer/state"
)

func specVersion() string { return specs.Version }

func stateRoot(ctx *cli.Context) state.Root { return state.Root(ctx.GlobalString("root")) }

// containerID returns the single ID argument, or an error naming the
// command's usage.
func containerID(ctx *cli.Context) (string, error) {
	if ctx.NArg() < 1 {
		return "", fmt.Errorf("%s: container id is required (usage: nsrun %s %s)", ctx.Command.Name, ctx.Command.Name, ctx.Command.ArgsUsage)
	}
	id := ctx.Args().First()
	return id, state.ValidateID(id)
}

// openContainer opens and locks the container named by the ID argument;
// the caller closes it.
func openContainer(ctx *cli.Context) (*container.Container, error) {
	id, err := containerID(ctx)
	if err != nil {
		return nil, err
	}
	return container.Open(stateRoot(ctx), id)
}

// onContainer is the Action of a command that does one operation on the
// container named by the ID argument, under its lock.
func onContainer(op func(*container.Container) error) func(*cli.Context) error {
	return func(ctx *cli.Context) error {
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return op(c)
	}
}

// createFlags are shared by create and run.
var createFlags = []cli.Flag{
	cli.StringFlag{Name: "bundle, b", Value: ".", Usage: "path to the bundle directory"},
	cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master (process.terminal)"},
	cli.StringFlag{Name: "pid-file", Usage: "write the init's pid to this file"},
	cli.BoolFlag{Name: "no-pivot", Usage: "use MS_MOVE + chroot instead of pivot_root"},
	cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the runtime's session keyring"},
	cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (3..3+N-1) to the container"},
	cli.StringFlag{Name: "pidfd-socket", Usage: "not supported"},
}
