package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var stateCommand = cli.Command{
	Name:      "state",
	Usage:     "print the state of a container as JSON",
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
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c.OCIState())
	},
}
