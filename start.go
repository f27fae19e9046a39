package main

import (
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var startCommand = cli.Command{
	Name:      "start",
	Usage:     "run the program of a created container",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		id, err := containerID(ctx)
		if err != nil {
			return err
		}
		c, err := container.Open(stateRoot(ctx), id)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Start()
	},
}
