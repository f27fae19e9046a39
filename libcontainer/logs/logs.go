// Package logs sets up nsrun's logging from the global flags, the way
// clients expect it: containerd and podman read --log FILE, and with
// --log-format json they take the last (podman: the only) line of level
// "error" as the failure message.
package logs

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

var toFile bool

// Setup directs logrus to path (appending) or stderr, in "text" or "json".
func Setup(path, format string, debug bool) error {
	var out io.Writer = os.Stderr
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file %s: %w", path, err)
		}
		out = f
		toFile = true
	}
	logrus.SetOutput(out)
	switch format {
	case "", "text":
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format: unknown format %q (want text or json)", format)
	}
	if debug {
		logrus.SetLevel(logrus.DebugLevel)
	} else {
		logrus.SetLevel(logrus.InfoLevel)
	}
	return nil
}

// Fatal reports err exactly once in the log (one line at level error) and,
// when the log is a file, also as plain text on stderr for a human caller;
// then exits with code.
func Fatal(err error, code int) {
	logrus.Error(err.Error())
	if toFile {
		fmt.Fprintln(os.Stderr, "nsrun: "+err.Error())
	}
	os.Exit(code)
}
