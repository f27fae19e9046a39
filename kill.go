package main

import (
	"syscall"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var killCommand = cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "all, a", Usage: "signal every process in the container's cgroup"},
	},
	Action: func(ctx *cli.Context) error {
		sig := syscall.SIGTERM
		if ctx.NArg() > 1 {
			var err error
			if sig, err = container.ParseSignal(ctx.Args().Get(1)); err != nil {
				return err
			}
		}
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Signal(sig, ctx.Bool("all"))
	},
}
