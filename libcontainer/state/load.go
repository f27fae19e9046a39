package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MaxStateSize bounds what Load reads. state.json holds the config
// snapshot (config.json is at most 64 MiB) and the annotations once more.
const MaxStateSize = 192 << 20

// maxRecordSize bounds the lock file's record (no config snapshot in it).
const maxRecordSize = 1 << 20

// ErrCorrupt matches (errors.Is) the error of a state.json that exists but
// cannot be used: not a regular file, not JSON, wrong types, another
// container's, or an implausible cgroup record. delete --force falls back
// to the lock file's record (see Save).
var ErrCorrupt = errors.New("container state is corrupt")

type corruptError struct {
	path string
	err  error
}

func (e *corruptError) Error() string {
	hint := ""
	if filepath.Base(e.path) == stateFile {
		hint = " (delete --force removes the container)"
	}
	return fmt.Sprintf("state file %s is corrupt: %v%s", e.path, e.err, hint)
}

func (e *corruptError) Unwrap() []error { return []error{ErrCorrupt, e.err} }

// incompleteError is ErrIncomplete naming the file that is missing.
type incompleteError struct{ path string }

func (e *incompleteError) Error() string {
	return fmt.Sprintf("%s: %v; delete --force removes it", e.path, ErrIncomplete)
}

func (e *incompleteError) Unwrap() error { return ErrIncomplete }

// readBounded reads a regular file of at most limit bytes, without
// following a symlink and without blocking on a fifo.
func readBounded(path string, limit int64) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, &corruptError{path, errors.New("it is a symbolic link")}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &corruptError{path, errors.New("not a regular file")}
	}
	if st.Size > limit {
		return nil, &corruptError{path, fmt.Errorf("%d bytes, more than the %d MiB limit", st.Size, limit>>20)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, &corruptError{path, fmt.Errorf("more than the %d MiB limit", limit>>20)}
	}
	return data, nil
}

// ParseState decodes a state.json document of container id and checks
// that later commands can act on it safely.
func ParseState(data []byte, id string) (*State, error) {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if err := s.check(id); err != nil {
		return nil, err
	}
	return &s, nil
}

// check refuses a state nsrun cannot have written for container id. The
// cgroup directories matter most: kill --all and delete kill every process
// below them and remove them, with their children.
func (s *State) check(id string) error {
	if s.ID != id {
		return fmt.Errorf("it names container %q", s.ID)
	}
	if s.Pid < 0 || s.Pid == 1 {
		// Never an init of ours (pid 1 exists before any container):
		// kill and delete would signal it.
		return fmt.Errorf("pid %d", s.Pid)
	}
	if s.Cgroups == nil {
		return nil
	}
	for key, dir := range s.Cgroups.Paths {
		if err := checkCgroupDir(dir); err != nil {
			return fmt.Errorf("cgroups.paths[%q]: %w", key, err)
		}
	}
	for i, dir := range s.Cgroups.Created {
		// delete removes these: never a directory outside a cgroup file
		// system, nor a hierarchy's root.
		if err := checkCgroupDir(dir); err != nil {
			return fmt.Errorf("cgroups.created[%d]: %w", i, err)
		}
	}
	return nil
}

// checkCgroupDir accepts a clean absolute path that, if it exists, is a
// directory of a cgroup file system below the root of its hierarchy.
func checkCgroupDir(dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" {
		return fmt.Errorf("%q is not a clean absolute path", dir)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		if err == unix.ENOENT {
			return nil // removed already: nothing to do there
		}
		return fmt.Errorf("%s: %w", dir, err)
	}
	if fs.Type != unix.CGROUP_SUPER_MAGIC && fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a cgroup file system", dir)
	}
	var here, parent unix.Stat_t
	if err := unix.Lstat(dir, &here); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil || here.Dev != parent.Dev || here.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is the root of a cgroup hierarchy, or not a directory", dir)
	}
	return nil
}

// saveRecord keeps a copy of what delete --force needs (the state without
// the config snapshot and annotations: pid, start time, cgroup record, the
// host-mount facts) in the lock file, which nsrun writes nothing else to.
// It costs two system calls on a file that is open anyway, and lets
// delete --force clean up when state.json is lost or damaged.
func (c *Container) saveRecord(s *State) error {
	if c.lock == nil {
		return nil
	}
	r := *s
	r.Config, r.Annotations = nil, nil
	data, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("encode state record: %w", err)
	}
	data = append(data, '\n')
	if _, err := c.lock.WriteAt(data, 0); err != nil {
		return fmt.Errorf("write state record %s: %w", c.lock.Name(), err)
	}
	if err := c.lock.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("write state record %s: %w", c.lock.Name(), err)
	}
	return nil
}

// Recover returns the record Save kept in the lock file, for delete
// --force when state.json is missing or corrupt: everything but the
// config snapshot (so no poststop hooks) and the annotations. It returns
// an error matching ErrIncomplete when there is no record.
func (c *Container) Recover() (*State, error) {
	path := c.Path(lockFile)
	if c.lock == nil {
		return nil, errors.New("state: Recover needs the lock")
	}
	data := make([]byte, maxRecordSize)
	n, err := c.lock.ReadAt(data, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	data = data[:n]
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &incompleteError{path}
	}
	// The first JSON value: a shorter record written over a longer one by
	// a writer killed before its truncate leaves a tail behind.
	var s State
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return nil, &corruptError{path, err}
	}
	if err := s.check(c.ID); err != nil {
		return nil, &corruptError{path, err}
	}
	return &s, nil
}
