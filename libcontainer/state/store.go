package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where state lives unless --root says otherwise.
const DefaultRoot = "/run/nsrun"

const (
	stateFile = "state.json"
	lockFile  = "lock"
	// FifoName is the exec fifo: it exists from create until start, and the
	// parked init blocks opening its write side.
	FifoName = "exec.fifo"
)

// Recorded statuses.
const (
	StatusCreating = "creating"
	StatusCreated  = "created"
	// StatusStarted is no longer written (see State.Status); a state file
	// that has it reads as running.
	StatusStarted = "started"
)

// ErrNotExist is returned for an ID that has no state directory. Its text is
// what clients match on.
var ErrNotExist = errors.New("container does not exist")

// ErrIncomplete marks a directory whose creator died before writing
// state.json (e.g. nsrun killed during create); only delete --force acts
// on it.
var ErrIncomplete = errors.New("container state is incomplete (create did not finish)")

// State is what nsrun records about one container. The OCI state fields
// are derived from it; the rest is what later commands need and must not
// re-read from the bundle (the spec says later edits of config.json do not
// affect the container).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`

	// InitStartTime is field 22 of /proc/<pid>/stat of the init, to tell
	// our init from a later process that reuses its PID.
	InitStartTime uint64 `json:"initStartTime"`
	// Status is what the runtime last recorded: StatusCreating until create
	// finished, then StatusCreated. start records nothing (a write costs
	// ~0.5 ms): the exec fifo it removes already tells "created" from
	// "running". The status shown to clients is derived from this, the fifo
	// and the init process.
	Status string `json:"status"`
	// HostMounts: the container has no mount namespace of its own; its
	// mounts live in the host's, under a bind of the rootfs that delete
	// detaches.
	HostMounts bool `json:"hostMounts,omitempty"`
	// RootfsBaseMount is the ID of the mount at the rootfs path before
	// create (0: none); delete unmounts only what is stacked above it.
	RootfsBaseMount int `json:"rootfsBaseMount,omitempty"`
	// Cgroups is the cgroup manager's record: the container's directories
	// and what create changed above them.
	Cgroups *cgroups.Record `json:"cgroups,omitempty"`
	// Config is the snapshot of config.json taken at create (later edits
	// of the bundle do not affect the container), kept as JSON: decoding a
	// whole runtime-spec document costs ~2 ms in a fresh process, because
	// encoding/json builds a codec for every type a Spec reaches, and most
	// commands need none of it. Spec decodes it all, Hooks only the hooks.
	Config json.RawMessage `json:"config"`
}

// SetSpec records spec as the config snapshot.
func (s *State) SetSpec(spec *specs.Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode config snapshot: %w", err)
	}
	s.Config = data
	return nil
}

// Spec decodes the config snapshot; nil when there is none.
func (s *State) Spec() (*specs.Spec, error) {
	if s.noConfig() {
		return nil, nil
	}
	var spec specs.Spec
	if err := json.Unmarshal(s.Config, &spec); err != nil {
		return nil, fmt.Errorf("state: config snapshot is corrupt: %w", err)
	}
	return &spec, nil
}

// Hooks decodes only the hooks of the config snapshot; nil when there are
// none.
func (s *State) Hooks() (*specs.Hooks, error) {
	// Most configs have no hooks: then nothing is decoded. The snapshot is
	// json.Marshal's output, where the member name is spelled plainly.
	if s.noConfig() || !bytes.Contains(s.Config, []byte(`"hooks"`)) {
		return nil, nil
	}
	// A struct with the one member: decoding into it builds codecs for the
	// hook types only.
	var only struct {
		Hooks *specs.Hooks `json:"hooks"`
	}
	if err := json.Unmarshal(s.Config, &only); err != nil {
		return nil, fmt.Errorf("state: config snapshot is corrupt: %w", err)
	}
	return only.Hooks, nil
}

func (s *State) noConfig() bool {
	return len(s.Config) == 0 || string(s.Config) == "null"
}

// Container is an open, locked state directory.
type Container struct {
	ID   string
	Dir  string
	lock *os.File
}

// Root is the state root directory (--root).
type Root string

func (r Root) dir(id string) string { return filepath.Join(string(r), id) }

// Create makes and locks the directory of a new container. mkdir is atomic,
// so of two creates of one ID exactly one wins.
func (r Root) Create(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(string(r), 0o711); err != nil {
		return nil, fmt.Errorf("state root %s: %w", r, err)
	}
	dir := r.dir(id)
	if err := unix.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("container with id %s already exists", id)
		}
		return nil, fmt.Errorf("create state dir %s: %w", dir, err)
	}
	c := &Container{ID: id, Dir: dir}
	if err := c.takeLock(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Open locks the directory of an existing container. It waits while
// another command holds the lock (e.g. a create in progress).
func (r Root) Open(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := r.dir(id)
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return nil, ErrNotExist
	}
	c := &Container{ID: id, Dir: dir}
	if err := c.takeLock(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	return c, nil
}

// takeLock flocks dir/lock, then checks that the directory still holds that
// very lock file: a delete that ran while we waited removed it.
func (c *Container) takeLock() error {
	path := filepath.Join(c.Dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("lock %s: %w", path, err)
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		f.Close()
		return fmt.Errorf("stat lock %s: %w", path, err)
	}
	if err := unix.Lstat(path, &now); err != nil || now.Ino != held.Ino || now.Dev != held.Dev {
		f.Close()
		return os.ErrNotExist
	}
	c.lock = f
	return nil
}

// Unlock releases the lock; the directory stays.
func (c *Container) Unlock() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// Path returns a file inside the container's directory.
func (c *Container) Path(name string) string { return filepath.Join(c.Dir, name) }

// Load reads state.json. A missing file is ErrIncomplete, a damaged one
// ErrCorrupt; both errors name the file.
func (c *Container) Load() (*State, error) {
	path := c.Path(stateFile)
	data, err := readBounded(path, MaxStateSize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &incompleteError{path}
		}
		return nil, err
	}
	s, err := ParseState(data, c.ID)
	if err != nil {
		return nil, &corruptError{path, err}
	}
	return s, nil
}

// Save writes state.json atomically: a reader sees the old or the new file,
// never a torn one. The lock file gets the record delete --force needs
// should state.json be lost (see saveRecord), first.
func (c *Container) Save(s *State) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := c.saveRecord(s); err != nil {
		return err
	}
	return WriteFileAtomic(c.Path(stateFile), data, 0o600)
}

// Remove deletes the container's directory (the caller holds the lock).
func (c *Container) Remove() error {
	err := c.removeKnown()
	if err != nil {
		err = os.RemoveAll(c.Dir)
	}
	c.Unlock()
	if err != nil {
		return fmt.Errorf("remove state dir %s: %w", c.Dir, err)
	}
	return nil
}

// removeKnown removes the directory when it holds only the files nsrun
// puts there, with one unlink each: os.RemoveAll lists the directory
// first and costs twice the system calls. Anything else there (a temporary
// file left by a killed Save) makes it fail, and Remove falls back.
func (c *Container) removeKnown() error {
	for _, name := range []string{stateFile, FifoName, lockFile} {
		if err := unix.Unlink(c.Path(name)); err != nil && err != unix.ENOENT {
			return err
		}
	}
	return unix.Rmdir(c.Dir)
}

// List returns the IDs under the root.
func (r Root) List() ([]string, error) {
	entries, err := os.ReadDir(string(r))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read state root %s: %w", r, err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames
// it over path.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(name, mode)
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
