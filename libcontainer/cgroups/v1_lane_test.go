package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// laneEnv marks the test binary re-executed in a private mount namespace
// with extra v1 hierarchies mounted.
const laneEnv = "NSRUN_CGROUPS_TEST_LANE"

// TestIntegrationExtraHierarchies re-runs the integration tests in a private
// mount namespace where net_cls,net_prio is mounted as a v1 hierarchy, and
// hugetlb too when it is already off cgroup2 (mounting it otherwise would
// take it away from cgroup2 for every other user while the test runs).
func TestIntegrationExtraHierarchies(t *testing.T) {
	if os.Getenv(laneEnv) != "" {
		t.Skip("already in the lane")
	}
	realLayout(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	dir := t.TempDir()
	script := `set -e
mkdir "$1/net" "$1/hugetlb"
mount -t cgroup -o net_cls,net_prio cgroup "$1/net"
if [ "$2" = v1 ]; then mount -t cgroup -o hugetlb cgroup "$1/hugetlb"; fi
shift 2
exec "$@"`
	huge := "no"
	if data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil && !containsWord(string(data), "hugetlb") {
		huge = "v1"
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "lane", dir, huge,
		os.Args[0], "-test.run", "^TestIntegration(FullLifecycle|Network|PlacementFiles)$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), laneEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("lane (hugetlb %s):\n%s", huge, out)
	if err != nil {
		t.Fatalf("lane failed: %v", err)
	}
	if strings.Contains(string(out), "SKIP: TestIntegrationNetwork") {
		t.Error("net_cls/net_prio were not seen in the lane")
	}
}

func TestIntegrationNetwork(t *testing.T) {
	l := realLayout(t)
	var cls, prio bool
	for _, h := range l.V1 {
		cls = cls || slices.Contains(h.Controllers, "net_cls")
		prio = prio || slices.Contains(h.Controllers, "net_prio")
	}
	if !cls || !prio {
		t.Skip("net_cls/net_prio not mounted")
	}
	mgr, err := New(testParent+"/net", "x")
	if err != nil {
		t.Fatal(err)
	}
	res := &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001),
		Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 7}}}}
	if err := mgr.Create(res); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Destroy() })
	m := mgr.(*hybridManager)
	dir, _ := m.dirFor("net_cls")
	if got := mustRead(t, filepath.Join(dir, "net_cls.classid")); got != "1048577" {
		t.Errorf("net_cls.classid = %q", got)
	}
	dir, _ = m.dirFor("net_prio")
	if got := mustRead(t, filepath.Join(dir, "net_prio.ifpriomap")); !strings.Contains(got, "lo 7") {
		t.Errorf("net_prio.ifpriomap = %q", got)
	}
	if err := mgr.Destroy(); err != nil {
		t.Fatal(err)
	}
}
