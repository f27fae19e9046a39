package main

import (
	"errors"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
	"github.com/nsrun/nsrun/libcontainer/state"
)

var deleteCommand = cli.Command{
	Name:      "delete",
	Usage:     "delete a container and everything it holds",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "force, f", Usage: "kill a running container first"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := containerID(ctx)
		if err != nil {
			return err
		}
		force := ctx.Bool("force")
		c, err := container.Open(stateRoot(ctx), id)
		// A create that was killed left no state.json, or it is
		// damaged: the lock file's record is enough to clean up.
		if (errors.Is(err, state.ErrIncomplete) || errors.Is(err, state.ErrCorrupt)) && force {
			return container.ForceDeleteIncomplete(stateRoot(ctx), id)
		}
		// Like runc, a forced delete of a container that is already gone
		// succeeds: containerd's shim runs `delete --force` again when it
		// cleans up after a task whose container was deleted.
		if errors.Is(err, state.ErrNotExist) && force {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.Delete(force); err != nil {
			c.Close()
			return err
		}
		return nil
	},
}
