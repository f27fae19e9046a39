package procattr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotFound is the error LookPath wraps when no PATH entry holds the
// file. Its text is matched by clients (podman, docker map it to exit
// status 127), so it must not change.
var ErrNotFound = errors.New("executable file not found in $PATH")

// DefaultPath is searched when the process environment has no PATH,
// like execvp(3) does (glibc's default search path).
const DefaultPath = "/bin:/usr/bin"

// LookPath finds the program to execve the way execvp(3) would inside the
// container: with the PATH of the process's own environment (env, the
// config's process.env, not nsrun's), relative to the current root and
// working directory (so call it after pivot_root and Chdir).
//
// Error texts follow what clients classify on: a bare name that no PATH
// entry holds gives `exec: "name": executable file not found in $PATH`; a
// path with a slash that does not exist gives
// `exec: "/x": stat /x: no such file or directory`; a file that exists
// but cannot be executed gives "permission denied" (docker: exit 126).
func LookPath(file string, env []string) (string, error) {
	if file == "" {
		return "", fmt.Errorf("exec: %q: %w", file, ErrNotFound)
	}
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("exec: %q: %w", file, err)
		}
		return file, nil
	}
	path, ok := lookupEnv(env, "PATH")
	if !ok {
		path = DefaultPath
	}
	var denied error
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "." // POSIX: an empty entry is the working directory
		}
		cand := filepath.Join(dir, file)
		if dir == "." {
			cand = "./" + file
		}
		err := checkExecutable(cand)
		if err == nil {
			return cand, nil
		}
		// As execvp(3) does: remember a candidate that exists but is not
		// executable, and report that if nothing better turns up.
		if errors.Is(err, unix.EACCES) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", fmt.Errorf("exec: %q: %w", file, denied)
	}
	return "", fmt.Errorf("exec: %q: %w", file, ErrNotFound)
}

// checkExecutable accepts a non-directory that the calling thread's
// credentials may execute (faccessat with AT_EACCESS checks the effective
// ids and capabilities, which by now are the container user's).
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return &os.PathError{Op: "exec", Path: path, Err: unix.EACCES}
	}
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}

// lookupEnv returns the value of key in env. The last occurrence wins,
// the rule os/exec applies when it de-duplicates an environment.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Chdir changes to process.cwd. A missing directory is an error (as in
// runc), not created: the message ends in "no such file or directory",
// which clients classify.
func Chdir(cwd string) error {
	if !filepath.IsAbs(cwd) {
		return fmt.Errorf("process.cwd: %q is not an absolute path", cwd)
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd: chdir %s: %w", cwd, err)
	}
	return checkCwdInRoot(cwd)
}

// checkCwdInRoot refuses a working directory outside the process's root,
// which a cwd like /proc/self/fd/N reaches when fd N is a directory of
// the host (CVE-2024-21626: a leaked fd of the runtime). No such fd should
// exist at this point; this check keeps a future leak from becoming an
// escape. The kernel's getcwd names a directory the root cannot reach
// "(unreachable)/...", never with a leading "/".
func checkCwdInRoot(cwd string) error {
	var buf [unix.PathMax]byte
	n, err := unix.Getcwd(buf[:])
	if err != nil {
		// ENAMETOOLONG: deep, but reached by path. Any other error: the
		// container's own seccomp profile may deny getcwd (it is loaded
		// before this point when noNewPrivileges is off, and the
		// validation suite's profile does deny it). The check is a second
		// line behind closing every host fd, so it is skipped rather than
		// failing a valid container.
		return nil
	}
	if n < 1 || buf[0] != '/' {
		return fmt.Errorf("process.cwd: %s is outside the container's root", cwd)
	}
	return nil
}
