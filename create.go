package main

import (
	"errors"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
)

var createCommand = cli.Command{
	Name:      "create",
	Usage:     "create a container: set it up, but do not run its program yet",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(ctx *cli.Context) error {
		opts, err := createOptions(ctx)
		if err != nil {
			return err
		}
		_, err = container.Create(opts)
		return err
	},
}

func createOptions(ctx *cli.Context) (*container.CreateOptions, error) {
	id, err := containerID(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.String("pidfd-socket") != "" {
		return nil, errors.New("--pidfd-socket is not supported by nsrun")
	}
	if n := ctx.Int("preserve-fds"); n < 0 {
		return nil, errors.New("--preserve-fds must not be negative")
	}
	return &container.CreateOptions{
		Root:          stateRoot(ctx),
		ID:            id,
		Bundle:        ctx.String("bundle"),
		ConsoleSocket: ctx.String("console-socket"),
		PidFile:       ctx.String("pid-file"),
		NoPivot:       ctx.Bool("no-pivot"),
		NoNewKeyring:  ctx.Bool("no-new-keyring"),
		PreserveFds:   ctx.Int("preserve-fds"),
	}, nil
}
