package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestConfigSnapshot(t *testing.T) {
	var st State
	if h, err := st.Hooks(); h != nil || err != nil {
		t.Errorf("no snapshot: hooks %v, %v", h, err)
	}
	spec := &specs.Spec{Version: "1.0.2", Hostname: "h", Annotations: map[string]string{"a": "hooks"}}
	if err := st.SetSpec(spec); err != nil {
		t.Fatal(err)
	}
	if h, err := st.Hooks(); h != nil || err != nil {
		t.Errorf("snapshot without hooks: %v, %v", h, err)
	}
	spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}}
	if err := st.SetSpec(spec); err != nil {
		t.Fatal(err)
	}
	// Through state.json and back, as a later command sees it.
	data, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	var loaded State
	if err := json.Unmarshal(data, &loaded); err != nil {
		t.Fatal(err)
	}
	h, err := loaded.Hooks()
	if err != nil || h == nil || len(h.Poststop) != 1 || h.Poststop[0].Path != "/bin/true" {
		t.Errorf("hooks = %+v, %v", h, err)
	}
	full, err := loaded.Spec()
	if err != nil || full.Hostname != "h" || full.Hooks == nil {
		t.Errorf("spec = %+v, %v", full, err)
	}
	// A state file written with "config": null has no snapshot.
	if err := json.Unmarshal([]byte(`{"id":"x","config":null}`), &loaded); err != nil {
		t.Fatal(err)
	}
	if s, err := loaded.Spec(); s != nil || err != nil {
		t.Errorf("null config: %v, %v", s, err)
	}
}

func TestRemove(t *testing.T) {
	root := Root(t.TempDir())
	for _, leftover := range []string{"", ".state.json.tmp-123"} {
		c, err := root.Create("c1")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Save(&State{ID: "c1"}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.Path(FifoName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if leftover != "" {
			// Something Remove does not know of: the fallback takes it.
			if err := os.WriteFile(c.Path(leftover), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Remove(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(string(root), "c1")); !os.IsNotExist(err) {
			t.Fatalf("leftover %q: directory still there (%v)", leftover, err)
		}
	}
}
