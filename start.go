package main

import (
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var startCommand = cli.Command{
	Name:      "start",
	Usage:     "run the program of a created container",
	ArgsUsage: "<container-id>",
	Action:    onContainer((*container.Container).Start),
}
