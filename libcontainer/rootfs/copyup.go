package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp copies the content of the directory a tmpfs was mounted over into
// the tmpfs ("tmpcopyup"), so the image's files stay visible but writes go
// to memory. Both arguments are handles; nothing is resolved by path, so
// symlinks in the image are copied as symlinks and never followed.
func copyUp(under, top *os.File) error {
	src, err := unix.Openat(int(under.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", under.Name(), err)
	}
	dst, err := unix.Openat(int(top.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(src)
		return fmt.Errorf("open %s: %w", top.Name(), err)
	}
	return copyDirContent(src, dst, under.Name())
}

// copyDirContent copies every entry of src into dst and closes both.
func copyDirContent(src, dst int, name string) error {
	srcDir := os.NewFile(uintptr(src), name)
	defer srcDir.Close()
	defer unix.Close(dst)
	entries, err := srcDir.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	for _, e := range entries {
		if err := copyEntry(src, dst, e.Name(), name+"/"+e.Name()); err != nil {
			return err
		}
	}
	return nil
}

func copyEntry(srcDir, dstDir int, entry, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, entry, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	perm := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dstDir, entry, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", name, err)
		}
		s, err := unix.Openat(srcDir, entry, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		d, err := unix.Openat(dstDir, entry, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(s)
			return fmt.Errorf("open copy of %s: %w", name, err)
		}
		if err := copyDirContent(s, d, name); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(srcDir, dstDir, entry, name); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkat(srcDir, entry)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", name, err)
		}
		if err := unix.Symlinkat(target, dstDir, entry); err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
		return chownNoFollow(dstDir, entry, st, name)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(dstDir, entry, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod copy of %s: %w", name, err)
		}
	default:
		// Sockets mean nothing without their listener.
		return nil
	}
	if err := chownNoFollow(dstDir, entry, st, name); err != nil {
		return err
	}
	if err := unix.Fchmodat(dstDir, entry, perm, 0); err != nil {
		return fmt.Errorf("chmod copy of %s: %w", name, err)
	}
	return nil
}

func chownNoFollow(dir int, entry string, st unix.Stat_t, name string) error {
	if err := unix.Fchownat(dir, entry, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown copy of %s: %w", name, err)
	}
	return nil
}

func copyFile(srcDir, dstDir int, entry, name string) error {
	s, err := unix.Openat(srcDir, entry, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	in := os.NewFile(uintptr(s), name)
	defer in.Close()
	d, err := unix.Openat(dstDir, entry, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create copy of %s: %w", name, err)
	}
	out := os.NewFile(uintptr(d), name)
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}

func readlinkat(dir int, entry string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, entry, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > 1<<16 {
			return "", errors.New("symlink target too long")
		}
	}
}
