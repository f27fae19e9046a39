package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func fileMode(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the nodes every container gets (config-linux.md,
// "Default Devices"); /dev/console belongs to the console setup and
// /dev/ptmx is a symlink made by setupDev.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o666)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fileMode(0o666)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fileMode(0o666)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fileMode(0o666)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fileMode(0o666)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fileMode(0o666)},
}

// devSymlinks are the default symlinks, name in /dev -> target.
var devSymlinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// devNeedsSetup is false when /dev is a bind mount: then it is someone's
// existing /dev (the host's, for a privileged container), and creating or
// removing nodes there would change it for everyone.
func devNeedsSetup(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if cleanInRoot(m.Destination) != "/dev" {
			continue
		}
		if m.Type == "bind" || m.Type == "rbind" {
			return false
		}
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				return false
			}
		}
	}
	return true
}

// containerDevices merges the default devices with linux.devices; an entry
// of linux.devices replaces the default one with the same path.
func containerDevices(spec *specs.Spec) []specs.LinuxDevice {
	var extra []specs.LinuxDevice
	if spec.Linux != nil {
		extra = spec.Linux.Devices
	}
	listed := map[string]bool{}
	for _, d := range extra {
		listed[cleanInRoot(d.Path)] = true
	}
	var out []specs.LinuxDevice
	for _, d := range defaultDevices {
		if !listed[d.Path] {
			out = append(out, d)
		}
	}
	return append(out, extra...)
}

// setupDev creates the device nodes and the default symlinks in the
// container's /dev.
func setupDev(c *Config, r *root) error {
	// Without a /dev mount the nodes go into the image's own /dev: a
	// symlink there would put them wherever the image points.
	if err := r.refuseSymlink("/dev"); err != nil {
		return err
	}
	dev, err := r.mkdirAll("/dev", 0o755)
	if err != nil {
		return err
	}
	defer dev.Close()
	// The modes of the spec are exact: no umask on the nodes.
	old := unix.Umask(0)
	defer unix.Umask(old)
	devices := containerDevices(c.Spec)
	for _, d := range devices {
		if err := createDevice(r, d, c.InUserNS); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	ownPtmx := false
	for _, d := range devices {
		ownPtmx = ownPtmx || cleanInRoot(d.Path) == "/dev/ptmx"
	}
	links := devSymlinks
	if !ownPtmx {
		// The ptmx of the container's devpts instance, whatever the
		// mode of the host's /dev/pts/ptmx.
		links = append(links, [2]string{"ptmx", "pts/ptmx"})
	}
	for _, l := range links {
		if err := replaceWithSymlink(dev, l[0], l[1]); err != nil {
			return fmt.Errorf("/dev/%s: %w", l[0], err)
		}
	}
	return nil
}

// clearEntry removes what the image has at name in dir (a symlink, file or
// node), so that a new node is created there and nothing planted is
// followed. A mount point is kept (false is returned): someone put it there
// on purpose.
func clearEntry(dir *os.File, name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	if mounted, err := isMountRoot(dir, name); err != nil {
		return false, fmt.Errorf("statx: %w", err)
	} else if mounted {
		return false, nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false, errors.New("a directory is in the way")
	}
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("remove: %w", err)
	}
	return true, nil
}

func replaceWithSymlink(dir *os.File, name, target string) error {
	if cur, err := readlinkat(int(dir.Fd()), name); err == nil && cur == target {
		return nil
	}
	free, err := clearEntry(dir, name)
	if err != nil || !free {
		return err
	}
	if err := unix.Symlinkat(target, int(dir.Fd()), name); err != nil {
		return fmt.Errorf("symlink to %s: %w", target, err)
	}
	return nil
}

// deviceMode is the S_IF* type of a linux.devices entry.
func deviceMode(typ string) (uint32, error) {
	switch typ {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("type %q: must be c, b, u or p", typ)
}

// createDevice makes one node: mknod, or in a user namespace (where mknod of
// devices is refused) a bind mount of the host's node at the same path.
func createDevice(r *root, d specs.LinuxDevice, inUserNS bool) error {
	if !path.IsAbs(d.Path) {
		return errors.New("path: must be absolute")
	}
	p := cleanInRoot(d.Path)
	typ, err := deviceMode(d.Type)
	if err != nil {
		return err
	}
	dir, name, err := r.openParent(p)
	if err != nil {
		return err
	}
	defer dir.Close()
	want := wantedNode{typ: typ, perm: 0o666, rdev: unix.Mkdev(uint32(d.Major), uint32(d.Minor)), uid: -1, gid: -1}
	if d.FileMode != nil {
		want.perm = uint32(d.FileMode.Perm())
	}
	if d.UID != nil {
		want.uid = int(*d.UID)
	}
	if d.GID != nil {
		want.gid = int(*d.GID)
	}
	if inUserNS && typ != unix.S_IFIFO {
		free, err := clearEntry(dir, name)
		if err != nil || !free {
			return err
		}
		return bindHostDevice(dir, name, d.Path)
	}
	// A rootfs without a /dev mount of its own may be shared by containers
	// created at the same time: another one may make the node between our
	// clearEntry and mknod (EEXIST). The node it made is the one we want.
	for attempt := 1; ; attempt++ {
		err := makeNode(dir, name, d.Path, want)
		if !errors.Is(err, unix.EEXIST) || attempt == 3 {
			return err
		}
		if want.isAt(dir, name) {
			return nil
		}
	}
}

// wantedNode is the device node a linux.devices entry asks for; uid and
// gid -1 leave the owner as mknod makes it.
type wantedNode struct {
	typ, perm uint32
	rdev      uint64
	uid, gid  int
}

// isAt reports whether name in dir already is that node (not a symlink,
// not a mount point): then it is kept as it is.
func (w wantedNode) isAt(dir *os.File, name string) bool {
	var st unix.Stat_t
	if unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	if mounted, err := isMountRoot(dir, name); err != nil || mounted {
		return false
	}
	return st.Mode&unix.S_IFMT == w.typ && st.Mode&0o7777 == w.perm && st.Rdev == w.rdev &&
		(w.uid == -1 || int(st.Uid) == w.uid) && (w.gid == -1 || int(st.Gid) == w.gid)
}

// makeNode replaces what is at name in dir by the node w (see createDevice).
func makeNode(dir *os.File, name, hostPath string, w wantedNode) error {
	if w.isAt(dir, name) {
		return nil
	}
	free, err := clearEntry(dir, name)
	if err != nil || !free {
		return err
	}
	dirfd := int(dir.Fd())
	if err := unix.Mknodat(dirfd, name, w.typ|w.perm, int(w.rdev)); err != nil {
		// The device cgroup may refuse mknod of a device the config
		// denies (the init is already in its cgroup). The node is still
		// expected to exist, unusable: bind the host's, if it is the
		// same device.
		if errors.Is(err, unix.EPERM) && w.typ != unix.S_IFIFO && hostNodeIs(hostPath, w.typ, w.rdev) {
			return bindHostDevice(dir, name, hostPath)
		}
		return fmt.Errorf("mknod %d:%d: %w", unix.Major(w.rdev), unix.Minor(w.rdev), err)
	}
	if w.uid != -1 || w.gid != -1 {
		if err := unix.Fchownat(dirfd, name, w.uid, w.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d: %w", w.uid, w.gid, err)
		}
	}
	return nil
}

// hostNodeIs reports whether the host's hostPath is a device node of type
// typ and number rdev.
func hostNodeIs(hostPath string, typ uint32, rdev uint64) bool {
	var st unix.Stat_t
	return unix.Stat(hostPath, &st) == nil && st.Mode&unix.S_IFMT == typ && st.Rdev == rdev
}

// bindHostDevice bind-mounts the host's node hostPath onto a new empty file
// name in dir.
func bindHostDevice(dir *os.File, name, hostPath string) error {
	var st unix.Stat_t
	if err := unix.Stat(hostPath, &st); err != nil {
		return fmt.Errorf("in a user namespace devices are bind-mounted from the host, and the host has none: %w", err)
	}
	if k := st.Mode & unix.S_IFMT; k != unix.S_IFCHR && k != unix.S_IFBLK {
		return fmt.Errorf("host %s is not a device node", hostPath)
	}
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	unix.Close(fd)
	dst, err := openInDir(dir, name)
	if err != nil {
		return err
	}
	defer dst.Close()
	tree, err := cloneTree(nil, hostPath, false)
	if err != nil {
		return err
	}
	defer tree.Close()
	return attachTree(tree, dst)
}

// openInDir opens name in dir as O_PATH without following a symlink.
func openInDir(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), name)), nil
}
