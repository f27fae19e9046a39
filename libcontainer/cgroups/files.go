package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File access shared by the v1/hybrid and the v2 drivers.

// writeTo performs one planned write in the cgroup directory dir, falling
// back to w.Alt when w.File does not exist, and names the config field in
// any error.
func writeTo(dir string, w cgroupWrite) error {
	file := w.File
	err := writeCgroupFile(filepath.Join(dir, file), w.Value)
	if errors.Is(err, unix.ENOENT) && w.Alt != "" {
		file = w.Alt
		err = writeCgroupFile(filepath.Join(dir, file), w.altValue())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		if w.Optional {
			return nil
		}
		if _, serr := os.Stat(dir); serr != nil {
			return fieldError(w.Field, "cgroup %s: %v", dir, serr)
		}
		if w.Alt != "" {
			return fieldError(w.Field, "neither %s nor %s is available (no such file in %s)", w.File, w.Alt, dir)
		}
		return fieldError(w.Field, "%s not available (no such file in %s)", w.File, dir)
	default:
		return fmt.Errorf("%s: write %q to %s: %w", w.Field, w.Value, filepath.Join(dir, file), err)
	}
}

// enableInAncestors turns controller on in cgroup.subtree_control of every
// ancestor of the cgroup2 directory leaf, top-down, so that its interface
// files appear in leaf. It returns the "<dir> <controller>" entries it
// changed (for Destroy to undo), also on error. The cgroup2 root may enable
// controllers although it holds processes; below it v2's no-internal-process
// rule refuses a cgroup that has processes (EBUSY), which the error spells
// out: a relative cgroupsPath under nsrun's own cgroup hits it.
func enableInAncestors(leaf, controller, field string) ([]string, error) {
	var chain []string
	for p := filepath.Dir(leaf); ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			break
		}
		if _, err := os.Stat(filepath.Join(p, "cgroup.subtree_control")); err != nil {
			break
		}
		chain = append(chain, p)
		if p == "/" {
			break
		}
	}
	var enabled []string
	for i := len(chain) - 1; i >= 0; i-- {
		file := filepath.Join(chain[i], "cgroup.subtree_control")
		cur, err := readTrimmed(file)
		if err != nil {
			return enabled, fieldError(field, "%v", err)
		}
		if containsWord(cur, controller) {
			continue
		}
		if err := writeCgroupFile(file, "+"+controller); err != nil {
			switch {
			case errors.Is(err, unix.ENOENT):
				return enabled, fieldError(field, "the %s controller is not available on cgroup2 at %s", controller, chain[i])
			case errors.Is(err, unix.EBUSY):
				return enabled, fieldError(field, "enable %s in %s: cgroup %s has processes of its own (cgroup v2 allows controllers only in cgroups without processes; use a cgroupsPath outside it)", controller, file, chain[i])
			}
			return enabled, fieldError(field, "enable %s in %s: %v", controller, file, err)
		}
		enabled = append(enabled, chain[i]+" "+controller)
	}
	return enabled, nil
}

func containsWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// writeCgroupFile writes one value with a single write(2): cgroupfs parses
// each write on its own. The file is never created (a missing interface
// file is ENOENT, not an attempt to create it).
func writeCgroupFile(name, value string) error {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

func readTrimmed(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// undoAncestors reverts what a Create did above a container's directories:
// controllers it enabled in a subtree_control are disabled again where no
// child cgroup is left to use them, and the ancestors it made are removed
// when empty. Another container still below them keeps them (EBUSY).
func undoAncestors(created, enabledAt []string) {
	for i := len(created) - 1; i >= 0; i-- {
		_ = unix.Rmdir(created[i])
	}
	for i := len(enabledAt) - 1; i >= 0; i-- {
		dir, ctrl, ok := strings.Cut(enabledAt[i], " ")
		// With any child left, the controller may be what it relies on.
		if !ok || hasChildCgroups(dir) {
			continue
		}
		_ = writeCgroupFile(filepath.Join(dir, "cgroup.subtree_control"), "-"+ctrl)
	}
}

// checkUsageBelow honours linux.resources.memory.checkBeforeUpdate: a new
// limit below the current usage (read from usageFile) is refused instead
// of forcing reclaim or an OOM kill.
func checkUsageBelow(usageFile string, limit int64) error {
	const field = "linux.resources.memory.checkBeforeUpdate"
	s, err := readTrimmed(usageFile)
	if err != nil {
		return fieldError(field, "%v", err)
	}
	usage, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fieldError(field, "parse %s %q: %v", filepath.Base(usageFile), s, err)
	}
	if limit < usage {
		return fieldError("linux.resources.memory.limit", "%d is below the current usage %d (checkBeforeUpdate)", limit, usage)
	}
	return nil
}

// ancestorsToUndo is what a successful Create records for Destroy: the
// directories it made except the container's own (leaf; they go with
// Destroy's tree removal), plus the conventional parents (the default
// /nsrun, removed by whichever container goes last) it did not make.
func ancestorsToUndo(created []string, leaf map[string]bool, conventional []string) []string {
	var out []string
	made := map[string]bool{}
	for _, d := range created {
		if !leaf[d] {
			out = append(out, d)
			made[d] = true
		}
	}
	for _, d := range conventional {
		if !made[d] {
			out = append(out, d)
		}
	}
	return out
}
