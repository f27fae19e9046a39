package integration

import (
	"strings"
	"testing"
)

// containerd's shim runs `delete --force ID` once more when it cleans up
// after a task whose container is already deleted; like runc, that must
// succeed quietly. Without --force, a missing container stays an error.
func TestForceDeleteOfMissingContainerSucceeds(t *testing.T) {
	root := t.TempDir()
	if r := runNsrun(root, nil, "delete", "--force", "gone"); r.Code != 0 || r.Stdout != "" {
		t.Fatalf("delete --force of a missing container: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	r := runNsrun(root, nil, "delete", "gone")
	if r.Code == 0 || !strings.Contains(r.Stderr, "container does not exist") {
		t.Fatalf("delete of a missing container: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
