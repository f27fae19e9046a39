package main

import (
	"os"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
	"github.com/nsrun/nsrun/libcontainer/logs"
)

var runCommand = cli.Command{
	Name:      "run",
	Usage:     "create and start a container, wait for it and delete it",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		cli.BoolFlag{Name: "detach, d", Usage: "return once the container started"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, createFlags...),
	Action: func(ctx *cli.Context) error {
		opts, err := createOptions(ctx)
		if err != nil {
			return err
		}
		code, err := container.Run(&container.RunOptions{Create: opts, Detach: ctx.Bool("detach"), Keep: ctx.Bool("keep")})
		if err != nil {
			logs.Fatal(err, 1)
		}
		os.Exit(code)
		return nil
	},
}
