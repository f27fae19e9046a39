package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/features"
)

var featuresCommand = cli.Command{
	Name:  "features",
	Usage: "print what this nsrun supports, as runtime-spec features JSON",
	Action: func(ctx *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(features.Get())
	},
}
