package rootfs

import (
	"os"
	"path/filepath"
	"testing"
)

func testRoot(t *testing.T) (*root, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := openRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

// Images often have dangling symlinks where runtimes mount
// (/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, /var/run ->
// /run): the target is created inside the root.
func TestEnsureFileFollowsDanglingSymlinkInsideRoot(t *testing.T) {
	r, dir := testRoot(t)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/resolve/stub.conf", filepath.Join(dir, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	// An absolute target is taken relative to the root, not the host.
	escape := "/nsrun-resolve-test-" + filepath.Base(dir)
	if err := os.Symlink(escape+"/x", filepath.Join(dir, "etc/abs")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"/etc/resolv.conf": "run/resolve/stub.conf", "/etc/abs": escape[1:] + "/x"} {
		f, err := r.ensureFile(link)
		if err != nil {
			t.Fatalf("%s: %v", link, err)
		}
		f.Close()
		fi, err := os.Lstat(filepath.Join(dir, target))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: target %s not created in the root: %v", link, target, err)
		}
	}
	if _, err := os.Lstat(escape); err == nil {
		os.RemoveAll(escape)
		t.Fatalf("created %s on the host", escape)
	}
}

func TestMkdirAllFollowsDanglingSymlinkInsideRoot(t *testing.T) {
	r, dir := testRoot(t)
	if err := os.MkdirAll(filepath.Join(dir, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../run", filepath.Join(dir, "var/run")); err != nil {
		t.Fatal(err)
	}
	f, err := r.mkdirAll("/var/run/foo/bar", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(filepath.Join(dir, "run/foo/bar")); err != nil || !fi.IsDir() {
		t.Errorf("run/foo/bar not created in the root: %v", err)
	}
}

// mkdirMissing never creates through something that is not a directory,
// and never follows a symlink in the part it creates.
func TestMkdirMissingRefusesWhatIsInTheWay(t *testing.T) {
	r, dir := testRoot(t)
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := r.mkdirAll("/f/x", 0o755); err == nil {
		f.Close()
		t.Fatal("mkdirAll through a regular file succeeded")
	}
	// A symlink where a component is to be created (as if swapped in
	// after the lookup) is refused, not followed out of the root.
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if f, err := r.mkdirMissing("/l/x", 0o755); err == nil {
		f.Close()
		t.Fatal("mkdirMissing followed a symlink")
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("created %v outside the root", entries)
	}
	f, err := r.mkdirMissing("/a/b/c", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(filepath.Join(dir, "a/b/c")); err != nil || !fi.IsDir() {
		t.Errorf("a/b/c not created: %v", err)
	}
}

func TestEnsureFileKeepsExisting(t *testing.T) {
	r, dir := testRoot(t)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := r.ensureFile("f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "x" {
		t.Errorf("existing file changed: %q", b)
	}
}
