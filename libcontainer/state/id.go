// Package state owns what nsrun keeps on disk about each container: the
// directory under --root, its lock, and state.json.
package state

import (
	"fmt"
)

// MaxIDLength bounds container IDs: the ID becomes a directory name and a
// cgroup name, both limited to 255 bytes (NAME_MAX), so a longer ID could
// never name a container and is refused before any file system access.
const MaxIDLength = 255

// ValidateID refuses IDs that could escape the state root or confuse a
// file system: empty, too long, ".", "..", or any byte outside
// [A-Za-z0-9_+.-]. It is called before any file system access.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("container id must not be empty")
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("invalid container id: longer than %d bytes", MaxIDLength)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '+' || c == '-' || c == '.':
		default:
			return fmt.Errorf("invalid container id %q: character %q not allowed (use [A-Za-z0-9_+.-])", id, c)
		}
	}
	return nil
}
