package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/specconv"
)

var specCommand = cli.Command{
	Name:  "spec",
	Usage: "write a default config.json into the bundle directory",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "bundle, b", Value: ".", Usage: "bundle directory to write config.json into"},
		cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by an unprivileged user"},
	},
	Action: func(ctx *cli.Context) error {
		s := specconv.Example()
		if ctx.Bool("rootless") {
			specconv.ToRootless(s, uint32(os.Geteuid()), uint32(os.Getegid()))
		}
		path := filepath.Join(ctx.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("file %s exists: remove it first", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		data, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(data, '\n'), 0o666)
	},
}
