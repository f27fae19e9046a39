package main

import (
	"github.com/urfave/cli"
)

var startCommand = cli.Command{
	Name:      "start",
	Usage:     "run the program of a created container",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Start()
	},
}
