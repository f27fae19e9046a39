package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/urfave/cli"

	"github.com/nsrun/nsrun/libcontainer/stats"
)

var eventsCommand = cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage and OOM events as JSON lines",
	ArgsUsage: "<container-id>",
	Description: `Without --stats, prints a stats line at once and then every --interval,
and an {"type":"oom"} line when the container's memory cgroup hits its
limit, until the container stops.`,
	Flags: []cli.Flag{
		cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats lines"},
		cli.BoolFlag{Name: "stats", Usage: "print the stats once and exit"},
	},
	Action: func(ctx *cli.Context) error {
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		mon, err := c.Monitor()
		// Streaming lasts as long as the container: never hold its lock
		// meanwhile (delete, pause and update need it).
		c.Close()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		emit := func(e *stats.Event) error { return enc.Encode(e) }
		if ctx.Bool("stats") {
			s, err := mon.Stats()
			if err != nil {
				return err
			}
			return emit(&stats.Event{Type: stats.TypeStats, ID: mon.ID, Data: s})
		}
		return mon.Stream(ctx.Duration("interval"), emit)
	},
}
