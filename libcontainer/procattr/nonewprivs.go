package procattr

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SetNoNewPrivileges sets process.noNewPrivileges: after it, execve(2)
// grants no privileges (setuid bits and file capabilities are ignored).
// The flag is per thread and survives execve, so it must be set on the
// thread that will execve; it cannot be cleared.
func SetNoNewPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}
