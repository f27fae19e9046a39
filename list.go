package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/container"
	"github.com/nsrun/nsrun/libcontainer/state"
)

var listCommand = cli.Command{
	Name:  "list",
	Usage: "list the containers under --root",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: "table or json"},
		cli.BoolFlag{Name: "quiet, q", Usage: "print only the IDs"},
	},
	Action: func(ctx *cli.Context) error {
		root := stateRoot(ctx)
		ids, err := root.List()
		if err != nil {
			return err
		}
		var states []*container.OCIStateJSON
		for _, id := range ids {
			c, err := container.Open(root, id)
			if errors.Is(err, state.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				// A killed create, a damaged state.json: say so, and
				// list the others.
				logrus.Warnf("container %s: %v", id, err)
				continue
			}
			states = append(states, c.OCIState())
			c.Close()
		}
		if ctx.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		switch ctx.String("format") {
		case "json":
			if states == nil {
				states = []*container.OCIStateJSON{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				created, _ := time.Parse(time.RFC3339Nano, s.Created)
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format: unknown format %q (want table or json)", ctx.String("format"))
		}
	},
}
