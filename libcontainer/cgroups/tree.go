package cgroups

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The walks over a container's cgroup trees (Pids, Destroy) run in every
// delete, over every hierarchy. They use raw fds (one open per cgroup, its
// files read through openat, its children listed with getdents): the
// generic walk (filepath.WalkDir, os.ReadDir, os.ReadFile) cost ~1 ms for
// the nine hierarchies here, three times as much.

// collectPids adds the pids of dir's cgroup and of its sub-cgroups to seen.
// A cgroup that is gone (removed meanwhile) has none.
func collectPids(dir string, seen map[int]bool, buf []byte) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := readPidsAt(fd, dir, seen, buf); err != nil {
		return err
	}
	children, err := childCgroups(fd, dir, buf)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := collectPids(filepath.Join(dir, c), seen, buf); err != nil {
			return err
		}
	}
	return nil
}

// readPidsAt adds the pids in the cgroup.procs file of the cgroup dirfd.
func readPidsAt(dirfd int, dir string, seen map[int]bool, buf []byte) error {
	name := filepath.Join(dir, "cgroup.procs")
	fd, err := unix.Openat(dirfd, "cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	data := buf[:0]
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, len(data)+4096)
		}
		n, err := unix.Read(fd, data[len(data):cap(data)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		data = data[:len(data)+n]
	}
	for _, f := range bytes.Fields(data) {
		pid, err := strconv.Atoi(string(f))
		if err != nil {
			return fmt.Errorf("parse %s: %q is not a pid", name, f)
		}
		seen[pid] = true
	}
	return nil
}

// childCgroups lists the sub-directories (child cgroups) of the cgroup
// directory open at fd.
func childCgroups(fd int, dir string, buf []byte) ([]string, error) {
	if len(buf) < 1024 {
		buf = make([]byte, 1024) // getdents wants room for a whole entry
	}
	var children []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return children, nil
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type,
		// then the NUL-terminated name.
		for off := 0; off+19 <= n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return nil, fmt.Errorf("getdents %s: bad record length %d", dir, reclen)
			}
			if buf[off+18] == unix.DT_DIR {
				name := buf[off+19 : off+reclen]
				for i, c := range name {
					if c == 0 {
						name = name[:i]
						break
					}
				}
				if s := string(name); s != "." && s != ".." {
					children = append(children, s)
				}
			}
			off += reclen
		}
	}
}

// hasChildCgroups reports whether dir has a child cgroup (true when that
// cannot be told).
func hasChildCgroups(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	children, err := childCgroups(fd, dir, make([]byte, 4096))
	return err != nil || len(children) > 0
}

// removeCgroupTree removes dir and its sub-cgroups, deepest first. Only
// directories are removed: cgroupfs refuses unlink of its files, and rmdir
// of a cgroup directory takes them along. The usual cgroup has no child,
// so rmdir is tried first and the directory listed only when it refuses.
// EBUSY is retried until deadline: the caller killed the processes, but
// the last task may still be leaving the cgroup.
func removeCgroupTree(dir string, deadline time.Time) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	children, err := childCgroups(fd, dir, make([]byte, 4096))
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, c := range children {
		if err := removeCgroupTree(filepath.Join(dir, c), deadline); err != nil {
			return err
		}
	}
	delay := time.Millisecond
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(delay)
			delay = min(2*delay, 10*time.Millisecond)
		default:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}
