package main

import (
	"fmt"

	"github.com/urfave/cli"
)

// nsrun has no CRIU integration yet. Clients that checkpoint (podman
// container checkpoint/restore, ctr c checkpoint) still call these
// commands with runc's flags: answer with one clear error (one JSON line
// with --log-format json) rather than urfave/cli's "No help topic".
var checkpointCommand = notSupportedCommand("checkpoint", "checkpoint a running container (not supported)")
var restoreCommand = notSupportedCommand("restore", "restore a container from a checkpoint (not supported)")

func notSupportedCommand(name, usage string) cli.Command {
	return cli.Command{
		Name:  name,
		Usage: usage,
		// Any of runc's flags get the same answer, --help included: podman
		// probes "checkpoint --help" and takes exit 0 for CRIU support.
		SkipFlagParsing: true,
		Action: func(*cli.Context) error {
			return fmt.Errorf("%s is not supported by nsrun: it has no CRIU checkpoint/restore support", name)
		},
	}
}
