package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli"
)

var psCommand = cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: "table (ps output, filtered) or json (host PIDs)"},
	},
	Action: func(ctx *cli.Context) error {
		c, err := openContainer(ctx)
		if err != nil {
			return err
		}
		pids, err := c.Processes()
		c.Close()
		if err != nil {
			return err
		}
		switch ctx.String("format") {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
			return psTable(pids, ctx.Args().Tail())
		default:
			return fmt.Errorf("--format: unknown format %q (want table or json)", ctx.String("format"))
		}
	},
}

// psTable runs ps(1) with the caller's options (default -ef) and keeps the
// header and the lines of the container's processes.
func psTable(pids []int, args []string) error {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return fmt.Errorf("ps %s: no output", strings.Join(args, " "))
	}
	header := sc.Text()
	col := -1
	for i, f := range strings.Fields(header) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps %s: no PID column in the output", strings.Join(args, " "))
	}
	fmt.Println(header)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) <= col {
			continue
		}
		if pid, err := strconv.Atoi(fields[col]); err == nil && in[pid] {
			fmt.Println(sc.Text())
		}
	}
	return nil
}
