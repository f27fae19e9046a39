package main

import (
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var pauseCommand = cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a container",
	ArgsUsage: "<container-id>",
	Action:    onContainer((*container.Container).Pause),
}

var resumeCommand = cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Action:    onContainer((*container.Container).Resume),
}
