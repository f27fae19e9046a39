// Package nsenter holds the C constructor that runs in `nsrun init` before
// the Go runtime starts: moving into cgroup v1 hierarchies as a single thread
// and joining namespaces (user, mount, time) that a multithreaded process
// cannot join. Import it for its side effect, from package main only.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"

// Env is the environment variable that switches the constructor on.
const Env = "_NSRUN_BOOTSTRAP"
