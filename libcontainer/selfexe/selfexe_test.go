package selfexe

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The handle of each kind names this binary's content and refuses writes;
// the read-only view's mount cannot be made writable again.
func TestOpen(t *testing.T) {
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []Kind{ReadOnlyMount, SealedMemfd} {
		t.Run(string(kind), func(t *testing.T) {
			t.Setenv(Env, string(kind))
			f, got, err := Open()
			if err != nil {
				if kind == ReadOnlyMount && os.Geteuid() != 0 {
					t.Skip("needs root:", err)
				}
				t.Fatal(err)
			}
			defer f.Close()
			if got != kind && !(kind == ReadOnlyMount && os.Geteuid() != 0) {
				t.Fatalf("kind %s, want %s", got, kind)
			}
			path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
			data, err := os.ReadFile(path)
			if err != nil || string(data) != string(want) {
				t.Fatalf("content differs from %s (%d bytes, %v)", self, len(data), err)
			}
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			switch {
			case got == ReadOnlyMount && !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.ETXTBSY):
				// ETXTBSY comes first while this binary runs (it does).
				t.Errorf("open for writing: %v, want EROFS", err)
			case got == ReadOnlyMount:
				if err := unix.Faccessat2(int(f.Fd()), "", unix.W_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS); !errors.Is(err, unix.EROFS) {
					t.Errorf("access(W_OK): %v, want EROFS", err)
				}
			case got == SealedMemfd && err == nil:
				if _, err := w.Write([]byte("x")); !errors.Is(err, unix.EPERM) {
					t.Errorf("write to the sealed copy: %v, want EPERM", err)
				}
				w.Close()
			}
			if got == ReadOnlyMount {
				clr := &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
				if err := unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH, clr); !errors.Is(err, unix.EINVAL) {
					t.Errorf("mount_setattr on the view: %v, want EINVAL", err)
				}
				if fd, err := unix.OpenTree(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLONE); !errors.Is(err, unix.EINVAL) {
					if err == nil {
						unix.Close(fd)
					}
					t.Errorf("open_tree clone of the view: %v, want EINVAL", err)
				}
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Setenv(Env, "none")
		if f, _, err := Open(); err == nil {
			f.Close()
			t.Fatal("NSRUN_BINARY_VIEW=none accepted")
		}
	})
}
