package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// asMap turns the container's spec into generic JSON, to break its types.
func (c *ctr) asMap() map[string]any {
	c.t.Helper()
	data, err := json.Marshal(c.Spec)
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// createMustFail runs create on config.json as written, which must fail
// with an error containing wants, quickly, leaving nothing behind.
func (c *ctr) createMustFail(what string, wants ...string) result {
	c.t.Helper()
	r := runWithin(c.t, 30*time.Second, c.Root, "create", "-b", c.Dir, c.ID)
	clearError(c.t, r, what, wants...)
	c.assertGone(what)
	return r
}

// TestWrongTypes: a config with a value of the wrong JSON type is refused
// with an error that names the file and the field.
func TestWrongTypes(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(m map[string]any)
		want  string
	}{
		{"args string", func(m map[string]any) { obj(m, "process")["args"] = "sh" }, "process.args"},
		{"uid name", func(m map[string]any) { obj(m, "process", "user")["uid"] = "root" }, "process.user.uid"},
		{"negative uid", func(m map[string]any) { obj(m, "process", "user")["uid"] = -1 }, "process.user.uid"},
		{"huge uid", func(m map[string]any) { obj(m, "process", "user")["uid"] = 1e30 }, "process.user.uid"},
		{"env numbers", func(m map[string]any) { obj(m, "process")["env"] = []any{1, 2} }, "process.env"},
		{"root string", func(m map[string]any) { m["root"] = "rootfs" }, "root"},
		{"mounts object", func(m map[string]any) { m["mounts"] = map[string]any{"a": 1} }, "mounts"},
		{"namespace number", func(m map[string]any) { obj(m, "linux")["namespaces"] = []any{5} }, "linux.namespaces"},
		{"hostname number", func(m map[string]any) { m["hostname"] = 7 }, "hostname"},
		{"annotation number", func(m map[string]any) { m["annotations"] = map[string]any{"a": 1} }, "annotations"},
		{"version number", func(m map[string]any) { m["ociVersion"] = 1.0 }, "ociVersion"},
		{"process null", func(m map[string]any) { m["process"] = nil }, "process"},
		{"memory limit string", func(m map[string]any) {
			obj(m, "linux")["resources"] = map[string]any{"memory": map[string]any{"limit": "1g"}}
		}, "linux.resources.memory.limit"},
		{"hook timeout string", func(m map[string]any) {
			m["hooks"] = map[string]any{"prestart": []any{map[string]any{"path": "/bin/true", "timeout": "5"}}}
		}, "hooks.prestart.timeout"},
	}
	for _, tc := range cases {
		c := newCtr(t, "true")
		m := c.asMap()
		tc.spoil(m)
		data, _ := json.Marshal(m)
		c.writeRaw(data)
		c.createMustFail(tc.name, "config.json", tc.want)
	}
	c := newCtr(t, "true")
	for name, doc := range map[string]string{"empty": "", "array": "[]", "null": "null", "string": `"x"`,
		"truncated": `{"ociVersion": "1.0.2", "process": {"args": ["sh"`, "trailing garbage": `{} {}`} {
		c.writeRaw([]byte(doc))
		c.createMustFail(name, "config.json")
	}
}

// TestNULBytes: a NUL byte cannot reach the kernel (it would cut the
// string short): every string that does is refused, by its JSON path.
func TestNULBytes(t *testing.T) {
	cases := []struct {
		name string
		set  func(c *ctr)
		want string
	}{
		{"args", func(c *ctr) { c.Spec.Process.Args = []string{"sh", "-c\x00rm -rf /"} }, "process.args[1]"},
		{"env", func(c *ctr) { c.Spec.Process.Env = append(c.Spec.Process.Env, "A=b\x00c") }, "process.env[1]"},
		{"cwd", func(c *ctr) { c.Spec.Process.Cwd = "/tmp\x00/x" }, "process.cwd"},
		{"root path", func(c *ctr) { c.Spec.Root.Path = rootfs + "\x00/x" }, "root.path"},
		{"mount destination", func(c *ctr) { c.Spec.Mounts[1].Destination = "/tmp\x00x" }, "mounts[1].destination"},
		{"mount source", func(c *ctr) { c.Spec.Mounts[1].Source = "tmp\x00fs" }, "mounts[1].source"},
		{"mount option", func(c *ctr) { c.Spec.Mounts[1].Options = []string{"mode=1777\x00"} }, "mounts[1].options[0]"},
		{"hostname", func(c *ctr) { c.Spec.Hostname = "a\x00b" }, "hostname"},
		{"cgroupsPath", func(c *ctr) { c.Spec.Linux.CgroupsPath += "\x00x" }, "linux.cgroupsPath"},
		{"sysctl", func(c *ctr) { c.Spec.Linux.Sysctl = map[string]string{"kernel.shmmax": "1\x002"} }, "linux.sysctl"},
		{"username", func(c *ctr) { c.Spec.Process.User.Username = "ro\x00ot" }, "process.user.username"},
	}
	for _, tc := range cases {
		c := newCtr(t, "true")
		tc.set(c)
		c.write()
		c.createMustFail("NUL in "+tc.name, "config.json", tc.want)
	}
}

// bounded runs create on the config as written and checks that nsrun
// answered (an error, or a container that delete --force removes) within
// d, with a peak RSS below factor times the config plus 50 MiB.
func (c *ctr) bounded(what string, factor int64, d time.Duration) result {
	c.t.Helper()
	fi, err := os.Stat(filepath.Join(c.Dir, "config.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	p, err := startNsrunRSS(true, c.Root, "create", "-b", c.Dir, c.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { p.cmd.Process.Kill() })
	r := p.wait()
	if !timer.Stop() {
		c.t.Errorf("%s: create still running after %v", what, d)
	}
	noPanic(c.t, r, what)
	limit := factor*fi.Size() + 50<<20
	c.t.Logf("%s: %d MiB config: exit %d in %v, peak RSS %d MiB (limit %d MiB): %s", what, fi.Size()>>20,
		r.Code, r.Took.Round(time.Millisecond), r.MaxRSS>>20, limit>>20, firstLine(r.Stderr))
	if r.MaxRSS > limit {
		c.t.Errorf("%s: peak RSS %d MiB, above %d MiB", what, r.MaxRSS>>20, limit>>20)
	}
	if r.Code != 0 && strings.TrimSpace(r.Stderr) == "" {
		c.t.Errorf("%s: failed without a message", what)
	}
	c.forceDelete(what)
	return r
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// TestHugeConfigs: very large configs, within the limits or past them.
func TestHugeConfigs(t *testing.T) {
	t.Run("100MB", func(t *testing.T) {
		c := newCtr(t, "true")
		var b bytes.Buffer
		b.WriteString(`{"ociVersion": "1.0.2", "annotations": {"a": "`)
		b.Write(bytes.Repeat([]byte("x"), 100<<20))
		b.WriteString(`"}}`)
		c.writeRaw(b.Bytes())
		if r := c.bounded("100 MB config", 10, 10*time.Second); !strings.Contains(r.Stderr, "config.json") || !strings.Contains(r.Stderr, "limit") {
			t.Errorf("want an error naming the file and its limit: %s", r)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		c := newCtr(t, "true")
		c.writeRaw([]byte(`{"annotations": ` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + "}"))
		if r := c.bounded("1M nested arrays", 10, 10*time.Second); r.Code == 0 || !strings.Contains(r.Stderr, "config.json") {
			t.Errorf("want an error naming the file: %s", r)
		}
	})
	t.Run("100k env", func(t *testing.T) {
		c := newCtr(t, "sleep", "1000")
		for i := len(c.Spec.Process.Env); i < 100000; i++ {
			c.Spec.Process.Env = append(c.Spec.Process.Env, fmt.Sprintf("V%06d=x", i))
		}
		c.write()
		if r := c.bounded("100k env entries", 10, 30*time.Second); r.Code != 0 {
			t.Errorf("a config at the limit must work: %s", r)
		}
		c.Spec.Process.Env = append(c.Spec.Process.Env, "ONE=more")
		c.write()
		c.createMustFail("100001 env entries", "process.env", "too many")
	})
	t.Run("100k mounts", func(t *testing.T) {
		c := newCtr(t, "sleep", "1000")
		// Bind mounts on distinct directories of the /tmp tmpfs, from a
		// source outside the rootfs: stacking them on one path, or binding
		// from a mount they land on, costs the kernel quadratic time.
		src := t.TempDir()
		for i := len(c.Spec.Mounts); i < 100000; i++ {
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: fmt.Sprintf("/tmp/d%06d", i),
				Type: "bind", Source: src, Options: []string{"bind"}})
		}
		c.write()
		// The kernel's fs.mount-max (100000 per namespace by default)
		// may refuse the last ones: an error naming the mount is fine.
		if r := c.bounded("100k mounts", 10, 60*time.Second); r.Code != 0 && !strings.Contains(r.Stderr, "mounts[") {
			t.Errorf("want success or an error naming the mount: %s", r)
		}
		c.Spec.Mounts = append(c.Spec.Mounts, c.Spec.Mounts[1])
		c.write()
		c.createMustFail("100001 mounts", "mounts", "too many")
	})
	t.Run("40MB annotations", func(t *testing.T) {
		// Near the 64 MiB cap nsrun holds the config several times over
		// (decoded, snapshot, state file with the annotations twice, init
		// message): ~12x, hence a looser bound here.
		c := newCtr(t, "sleep", "1000")
		c.Spec.Annotations = map[string]string{}
		for i := 0; i < 40; i++ {
			c.Spec.Annotations[fmt.Sprintf("a%d", i)] = strings.Repeat("x", 1<<20)
		}
		c.write()
		c.bounded("40 MB of annotations", 16, 60*time.Second)
	})
}
