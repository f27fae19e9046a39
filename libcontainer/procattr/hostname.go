package procattr

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SetHostname sets the hostname of the current UTS namespace. The caller
// decides whether to call it (only with a new UTS namespace).
func SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("hostname: sethostname(%q): %w", name, err)
	}
	return nil
}

// SetDomainname sets the NIS domain name of the current UTS namespace.
func SetDomainname(name string) error {
	if err := unix.Setdomainname([]byte(name)); err != nil {
		return fmt.Errorf("domainname: setdomainname(%q): %w", name, err)
	}
	return nil
}
