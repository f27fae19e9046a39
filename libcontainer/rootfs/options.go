package rootfs

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// flagOption is one entry of the config.md option table that maps onto a
// mount(2) flag: clear=true means the option removes the flag ("rw" clears
// MS_RDONLY, "suid" clears MS_NOSUID).
type flagOption struct {
	clear bool
	flag  uintptr
}

// The option tables below are built on first use (sync.OnceValue): a
// package-level map literal is built at start-up in every nsrun process,
// ~0.3 ms for this package's tables here, and only the init and `features`
// look at mount options.

// flagOptions are the options that become mount(2) flags of the mount itself.
var flagOptions = sync.OnceValue(func() map[string]flagOption {
	return map[string]flagOption{
		"async":         {true, unix.MS_SYNCHRONOUS},
		"atime":         {true, unix.MS_NOATIME},
		"bind":          {false, unix.MS_BIND},
		"defaults":      {false, 0},
		"dev":           {true, unix.MS_NODEV},
		"diratime":      {true, unix.MS_NODIRATIME},
		"dirsync":       {false, unix.MS_DIRSYNC},
		"exec":          {true, unix.MS_NOEXEC},
		"iversion":      {false, unix.MS_I_VERSION},
		"lazytime":      {false, unix.MS_LAZYTIME},
		"loud":          {true, unix.MS_SILENT},
		"mand":          {false, unix.MS_MANDLOCK},
		"noatime":       {false, unix.MS_NOATIME},
		"nodev":         {false, unix.MS_NODEV},
		"nodiratime":    {false, unix.MS_NODIRATIME},
		"noexec":        {false, unix.MS_NOEXEC},
		"noiversion":    {true, unix.MS_I_VERSION},
		"nolazytime":    {true, unix.MS_LAZYTIME},
		"nomand":        {true, unix.MS_MANDLOCK},
		"norelatime":    {true, unix.MS_RELATIME},
		"nostrictatime": {true, unix.MS_STRICTATIME},
		"nosuid":        {false, unix.MS_NOSUID},
		"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
		"rbind":         {false, unix.MS_BIND | unix.MS_REC},
		"relatime":      {false, unix.MS_RELATIME},
		"remount":       {false, unix.MS_REMOUNT},
		"ro":            {false, unix.MS_RDONLY},
		"rw":            {true, unix.MS_RDONLY},
		"silent":        {false, unix.MS_SILENT},
		"strictatime":   {false, unix.MS_STRICTATIME},
		"suid":          {true, unix.MS_NOSUID},
		"symfollow":     {true, unix.MS_NOSYMFOLLOW},
		"sync":          {false, unix.MS_SYNCHRONOUS},
	}
})

// propagationOptions are applied by a separate call after the mount exists,
// because mount(2) ignores propagation flags combined with anything else.
var propagationOptions = sync.OnceValue(func() map[string]uintptr {
	return map[string]uintptr{
		"private":     unix.MS_PRIVATE,
		"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
		"shared":      unix.MS_SHARED,
		"rshared":     unix.MS_SHARED | unix.MS_REC,
		"slave":       unix.MS_SLAVE,
		"rslave":      unix.MS_SLAVE | unix.MS_REC,
		"unbindable":  unix.MS_UNBINDABLE,
		"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
	}
})

// recursiveAttr is one r* attribute option: clear=true removes attr.
type recursiveAttr struct {
	clear bool
	attr  uint64
}

// recursiveAttrOptions are the r* attribute options, applied with
// mount_setattr(AT_RECURSIVE) to the mount and every mount below it.
var recursiveAttrOptions = sync.OnceValue(func() map[string]recursiveAttr {
	return map[string]recursiveAttr{
		"rro":          {false, unix.MOUNT_ATTR_RDONLY},
		"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
		"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
		"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
		"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
		"rdev":         {true, unix.MOUNT_ATTR_NODEV},
		"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
		"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
		"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
		"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
		"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
		"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
	}
})

// recursiveAtimeOptions name the atime mode each recursive atime option asks
// for. The kernel keeps atime as one three-valued field, so "clear noatime"
// has to be expressed as a mode: without noatime and without strictatime the
// kernel default (relatime) applies; "no relatime" means strictatime.
var recursiveAtimeOptions = sync.OnceValue(func() map[string]uint64 {
	return map[string]uint64{
		"rnoatime":       unix.MOUNT_ATTR_NOATIME,
		"ratime":         unix.MOUNT_ATTR_RELATIME,
		"rrelatime":      unix.MOUNT_ATTR_RELATIME,
		"rnorelatime":    unix.MOUNT_ATTR_STRICTATIME,
		"rstrictatime":   unix.MOUNT_ATTR_STRICTATIME,
		"rnostrictatime": unix.MOUNT_ATTR_RELATIME,
	}
})

// extensionOptions are options outside the config.md table that real
// clients send and this package implements.
var extensionOptions = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		// tmpcopyup (podman, CRI-O): copy the directory's image content into a
		// freshly mounted tmpfs.
		"tmpcopyup": true,
	}
})

// unsupportedOptions are table entries this package deliberately does not
// implement; they fail with a clear error instead of reaching mount(2) as
// filesystem data.
var unsupportedOptions = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"idmap":  "idmapped mounts (MOUNT_ATTR_IDMAP) are not supported",
		"ridmap": "idmapped mounts (MOUNT_ATTR_IDMAP) are not supported",
	}
})

// mountOptions is the parsed form of one mount's option list.
type mountOptions struct {
	// flags are the mount(2) flags to set; cleared lists the flags an option
	// explicitly removed ("rw", "suid", ...), which matters for bind mounts
	// where the flags are changed on an existing mount.
	flags   uintptr
	cleared uintptr
	// propagation holds the propagation changes in option order.
	propagation []uintptr
	// recAttr is the mount_setattr(AT_RECURSIVE) request of the r* options;
	// zero when there is none.
	recAttr unix.MountAttr
	// data is the comma-joined filesystem data (unknown options).
	data string
	// tmpcopyup asks for copying the underlying directory into the tmpfs.
	tmpcopyup bool
}

// parseMountOptions splits a spec mount's options into flags, propagation,
// recursive attributes and filesystem data. Later options override earlier
// ones, as with mount(8).
func parseMountOptions(options []string) (*mountOptions, error) {
	o := &mountOptions{}
	var data []string
	var recSet, recClr uint64
	recAtime := uint64(0)
	haveRecAtime := false
	for _, opt := range options {
		if why, bad := unsupportedOptions()[opt]; bad {
			return nil, fmt.Errorf("option %q: %s", opt, why)
		}
		if f, ok := flagOptions()[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.cleared |= f.flag
			} else {
				o.flags |= f.flag
				o.cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions()[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if a, ok := recursiveAttrOptions()[opt]; ok {
			if a.clear {
				recSet &^= a.attr
				recClr |= a.attr
			} else {
				recSet |= a.attr
				recClr &^= a.attr
			}
			continue
		}
		if mode, ok := recursiveAtimeOptions()[opt]; ok {
			recAtime, haveRecAtime = mode, true
			continue
		}
		if opt == "tmpcopyup" {
			o.tmpcopyup = true
			continue
		}
		if opt == "" {
			continue
		}
		data = append(data, opt)
	}
	if haveRecAtime {
		// An atime mode is only accepted together with clearing the whole
		// atime field.
		recSet |= recAtime
		recClr |= unix.MOUNT_ATTR__ATIME
	}
	o.recAttr = unix.MountAttr{Attr_set: recSet, Attr_clr: recClr}
	o.data = strings.Join(data, ",")
	return o, nil
}

// isBind reports whether the options ask for a bind mount.
func (o *mountOptions) isBind() bool { return o.flags&unix.MS_BIND != 0 }

// isRecursiveBind reports whether the bind includes the submounts.
func (o *mountOptions) isRecursiveBind() bool { return o.flags&unix.MS_REC != 0 }

// hasRecAttr reports whether any r* attribute option was given.
func (o *mountOptions) hasRecAttr() bool {
	return o.recAttr.Attr_set != 0 || o.recAttr.Attr_clr != 0
}

// mountFlags are the flags passed to mount(2) for a new (non-bind)
// filesystem: propagation and bind bits never belong there.
func (o *mountOptions) mountFlags() uintptr {
	return o.flags &^ (unix.MS_BIND | unix.MS_REC)
}

// msToAttr maps the per-mount mount(2) flags to their mount_setattr bits.
// Superblock flags (sync, dirsync, mand, iversion, lazytime, silent) have no
// per-mount form: on a bind mount they are ignored, as the kernel does for
// MS_REMOUNT|MS_BIND.
var msToAttr = []struct {
	ms   uintptr
	attr uint64
}{
	{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// bindAttr is the mount_setattr request (without AT_RECURSIVE) that gives a
// bind mount the per-mount flags of its options. Only what the options name
// is touched, so flags the kernel locked on the source (nodev, nosuid, ro,
// atime inside a user namespace) stay unless an option asks to drop them.
func (o *mountOptions) bindAttr() unix.MountAttr {
	var a unix.MountAttr
	for _, m := range msToAttr {
		if o.flags&m.ms != 0 {
			a.Attr_set |= m.attr
		} else if o.cleared&m.ms != 0 {
			a.Attr_clr |= m.attr
		}
	}
	if (o.flags|o.cleared)&atimeFlags != 0 {
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		switch {
		case o.flags&unix.MS_NOATIME != 0:
			a.Attr_set |= unix.MOUNT_ATTR_NOATIME
		case o.flags&unix.MS_STRICTATIME != 0:
			a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
		case o.flags&unix.MS_RELATIME != 0:
			a.Attr_set |= unix.MOUNT_ATTR_RELATIME
		case o.cleared&unix.MS_RELATIME != 0:
			// "norelatime" alone: access times without relatime's
			// shortcut are strictatime.
			a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
		default:
			// "atime"/"nostrictatime": the kernel default.
			a.Attr_set |= unix.MOUNT_ATTR_RELATIME
		}
	}
	return a
}

// MountOptionNames returns every mount option name this package implements,
// sorted: the config.md table (without idmap/ridmap) plus tmpcopyup.
func MountOptionNames() []string {
	var names []string
	for n := range flagOptions() {
		names = append(names, n)
	}
	for n := range propagationOptions() {
		names = append(names, n)
	}
	for n := range recursiveAttrOptions() {
		names = append(names, n)
	}
	for n := range recursiveAtimeOptions() {
		names = append(names, n)
	}
	for n := range extensionOptions() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// propagationFlags maps linux.rootfsPropagation to mount(2) flags.
func propagationFlags(name string) (uintptr, error) {
	p, ok := propagationOptions()[name]
	if !ok {
		return 0, fmt.Errorf("linux.rootfsPropagation: unknown value %q", name)
	}
	return p, nil
}
