package rootfs

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// specOptionTable is the option table of runtime-spec v1.3 config.md,
// without idmap/ridmap (not implemented).
const specOptionTable = `async atime bind defaults dev diratime dirsync exec iversion lazytime loud
mand noatime nodev nodiratime noexec noiversion nolazytime nomand norelatime nostrictatime nosuid
nosymfollow private ratime rbind rdev rdiratime relatime remount rexec rnoatime rnodev rnodiratime
rnoexec rnorelatime rnostrictatime rnosuid rnosymfollow ro rprivate rrelatime rro rrw rshared rslave
rstrictatime rsuid rsymfollow runbindable rw shared silent slave strictatime suid symfollow sync unbindable`

func TestMountOptionNamesCoverTable(t *testing.T) {
	names := MountOptionNames()
	if !sort.StringsAreSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	have := map[string]bool{}
	for _, n := range names {
		if have[n] {
			t.Errorf("duplicate %q", n)
		}
		have[n] = true
	}
	for _, n := range strings.Fields(specOptionTable) {
		if !have[n] {
			t.Errorf("table option %q missing", n)
		}
		delete(have, n)
	}
	delete(have, "tmpcopyup")
	if len(have) != 0 {
		t.Errorf("options outside the table: %v", have)
	}
	for _, n := range []string{"idmap", "ridmap"} {
		for _, m := range names {
			if m == n {
				t.Errorf("%s listed but not implemented", n)
			}
		}
	}
}

// Every listed option must parse without turning into filesystem data.
func TestEveryListedOptionIsKnown(t *testing.T) {
	for _, n := range MountOptionNames() {
		o, err := parseMountOptions([]string{n})
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if o.data != "" {
			t.Errorf("%s ended up as data %q", n, o.data)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []string
		flags   uintptr
		cleared uintptr
		prop    []uintptr
		rec     unix.MountAttr
		data    string
	}{
		{name: "empty"},
		{
			name:  "tmpfs /dev",
			opts:  []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			flags: unix.MS_NOSUID | unix.MS_STRICTATIME,
			data:  "mode=755,size=65536k",
		},
		{
			name:  "devpts",
			opts:  []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			flags: unix.MS_NOSUID | unix.MS_NOEXEC,
			data:  "newinstance,ptmxmode=0666,mode=0620,gid=5",
		},
		{
			name:  "bind ro",
			opts:  []string{"rbind", "ro", "rprivate"},
			flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY,
			prop:  []uintptr{unix.MS_PRIVATE | unix.MS_REC},
		},
		{
			name:    "later wins",
			opts:    []string{"ro", "rw", "nosuid", "suid", "noexec"},
			flags:   unix.MS_NOEXEC,
			cleared: unix.MS_RDONLY | unix.MS_NOSUID,
		},
		{
			name:  "clear then set",
			opts:  []string{"rw", "ro"},
			flags: unix.MS_RDONLY,
		},
		{
			name: "propagation in order",
			opts: []string{"shared", "rslave", "unbindable"},
			prop: []uintptr{unix.MS_SHARED, unix.MS_SLAVE | unix.MS_REC, unix.MS_UNBINDABLE},
		},
		{
			name: "recursive attrs",
			opts: []string{"rro", "rnosuid", "rdev", "rnoexec", "rexec"},
			rec:  unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, Attr_clr: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		},
		{
			name: "recursive atime needs the whole field cleared",
			opts: []string{"rnoatime"},
			rec:  unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		},
		{
			name: "last recursive atime wins",
			opts: []string{"rnoatime", "rstrictatime"},
			rec:  unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		},
		{
			name: "ratime is relatime",
			opts: []string{"rnodiratime", "ratime"},
			rec:  unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
		},
		{
			name:  "superblock flags",
			opts:  []string{"sync", "dirsync", "mand", "iversion", "lazytime", "silent", "defaults"},
			flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_MANDLOCK | unix.MS_I_VERSION | unix.MS_LAZYTIME | unix.MS_SILENT,
		},
		{
			name:    "negated superblock flags",
			opts:    []string{"sync", "async", "loud", "nomand", "noiversion", "nolazytime"},
			cleared: unix.MS_SYNCHRONOUS | unix.MS_SILENT | unix.MS_MANDLOCK | unix.MS_I_VERSION | unix.MS_LAZYTIME,
		},
		{
			name:  "remount and symfollow",
			opts:  []string{"remount", "nosymfollow", "nodiratime", "noatime"},
			flags: unix.MS_REMOUNT | unix.MS_NOSYMFOLLOW | unix.MS_NODIRATIME | unix.MS_NOATIME,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseMountOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if o.flags != tt.flags {
				t.Errorf("flags %#x, want %#x", o.flags, tt.flags)
			}
			if o.cleared != tt.cleared {
				t.Errorf("cleared %#x, want %#x", o.cleared, tt.cleared)
			}
			if !reflect.DeepEqual(o.propagation, tt.prop) {
				t.Errorf("propagation %#x, want %#x", o.propagation, tt.prop)
			}
			if o.recAttr != tt.rec {
				t.Errorf("recursive attr %+v, want %+v", o.recAttr, tt.rec)
			}
			if o.data != tt.data {
				t.Errorf("data %q, want %q", o.data, tt.data)
			}
		})
	}
}

func TestParseMountOptionsRejectsIdmap(t *testing.T) {
	for _, opt := range []string{"idmap", "ridmap"} {
		_, err := parseMountOptions([]string{"rbind", opt})
		if err == nil || !strings.Contains(err.Error(), "idmap") {
			t.Errorf("%s: err = %v, want a clear refusal", opt, err)
		}
	}
}

func TestBindAttr(t *testing.T) {
	tests := []struct {
		opts []string
		want unix.MountAttr
	}{
		{[]string{"rbind"}, unix.MountAttr{}},
		{[]string{"bind", "ro"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}},
		{[]string{"bind", "rw", "suid"}, unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}},
		{[]string{"bind", "nosuid", "nodev", "noexec", "nodiratime", "nosymfollow"}, unix.MountAttr{
			Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW,
		}},
		// Superblock flags mean nothing for a bind mount.
		{[]string{"bind", "sync", "mand"}, unix.MountAttr{}},
		{[]string{"bind", "noatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{[]string{"bind", "strictatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{[]string{"bind", "relatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{[]string{"bind", "noatime", "atime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{[]string{"bind", "norelatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
	}
	for _, tt := range tests {
		o, err := parseMountOptions(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.bindAttr(); got != tt.want {
			t.Errorf("%v: %+v, want %+v", tt.opts, got, tt.want)
		}
	}
}

func TestMountFlagsDropBind(t *testing.T) {
	o, _ := parseMountOptions([]string{"rbind", "ro", "nosuid"})
	if got, want := o.mountFlags(), uintptr(unix.MS_RDONLY|unix.MS_NOSUID); got != want {
		t.Errorf("mountFlags %#x, want %#x", got, want)
	}
	if !o.isBind() || !o.isRecursiveBind() {
		t.Error("rbind not seen as recursive bind")
	}
}

func TestPropagationFlags(t *testing.T) {
	for name, want := range map[string]uintptr{
		"shared": unix.MS_SHARED, "rslave": unix.MS_SLAVE | unix.MS_REC,
		"private": unix.MS_PRIVATE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
	} {
		got, err := propagationFlags(name)
		if err != nil || got != want {
			t.Errorf("%s: %#x, %v; want %#x", name, got, err, want)
		}
	}
	if _, err := propagationFlags("bogus"); err == nil || !strings.Contains(err.Error(), "linux.rootfsPropagation") {
		t.Errorf("bogus: err = %v", err)
	}
}

func TestDevNeedsSetup(t *testing.T) {
	tmpfs := specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"}
	bind := specs.Mount{Destination: "/dev/", Source: "/dev", Options: []string{"rbind"}}
	if !devNeedsSetup(&specs.Spec{}) || !devNeedsSetup(&specs.Spec{Mounts: []specs.Mount{tmpfs}}) {
		t.Error("a tmpfs /dev (or none) needs the default devices")
	}
	if devNeedsSetup(&specs.Spec{Mounts: []specs.Mount{bind}}) {
		t.Error("a bind-mounted /dev must be left alone")
	}
}

func TestContainerDevicesOverride(t *testing.T) {
	mode := fileMode(0o600)
	spec := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode},
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
	}}}
	devs := containerDevices(spec)
	if len(devs) != len(defaultDevices)+1 {
		t.Fatalf("got %d devices: %+v", len(devs), devs)
	}
	nulls := 0
	for _, d := range devs {
		if d.Path == "/dev/null" {
			nulls++
			if d.FileMode != mode {
				t.Error("linux.devices entry did not replace the default /dev/null")
			}
		}
	}
	if nulls != 1 {
		t.Errorf("/dev/null listed %d times", nulls)
	}
}
