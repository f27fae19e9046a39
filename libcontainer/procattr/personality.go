package procattr

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Execution domains of personality(2), from <linux/personality.h>.
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// SetPersonality applies linux.personality with personality(2); the
// persona is kept across execve. Only the LINUX and LINUX32 domains are
// defined by the spec, and it defines no flags, so any flag is refused.
// nil leaves the inherited personality.
func SetPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	var persona uintptr
	switch p.Domain {
	case specs.PerLinux:
		persona = perLinux
	case specs.PerLinux32:
		persona = perLinux32
	default:
		return fmt.Errorf("linux.personality.domain: unsupported domain %q (want LINUX or LINUX32)", p.Domain)
	}
	if len(p.Flags) > 0 {
		return fmt.Errorf("linux.personality.flags: flags %v are not supported", p.Flags)
	}
	if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, persona, 0, 0); errno != 0 {
		return fmt.Errorf("linux.personality: personality(%s): %w", p.Domain, errno)
	}
	return nil
}
