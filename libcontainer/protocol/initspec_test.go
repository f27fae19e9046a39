package protocol

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestInitSpecCarriesEveryOtherField fails when runtime-spec gains a field
// (or initSpec drifts from it): the field must be carried to the init, or
// listed as excluded on purpose.
func TestInitSpecCarriesEveryOtherField(t *testing.T) {
	check := func(full, wire reflect.Type, excluded []string) {
		t.Helper()
		for i := 0; i < full.NumField(); i++ {
			f := full.Field(i)
			w, ok := wire.FieldByName(f.Name)
			if slices.Contains(excluded, f.Name) {
				if ok {
					t.Errorf("%s.%s is excluded but %s has it", full, f.Name, wire)
				}
				continue
			}
			if !ok {
				t.Errorf("%s.%s is neither carried by %s nor excluded", full, f.Name, wire)
				continue
			}
			if f.Name == "Linux" {
				continue // initLinux, checked below
			}
			if w.Type != f.Type || w.Tag.Get("json") != f.Tag.Get("json") {
				t.Errorf("%s.%s: %s `json:%q`, %s has %s `json:%q`", full, f.Name, f.Type, f.Tag.Get("json"), wire, w.Type, w.Tag.Get("json"))
			}
		}
		if n := full.NumField() - len(excluded); wire.NumField() != n {
			t.Errorf("%s has %d fields, want %d", wire, wire.NumField(), n)
		}
	}
	check(reflect.TypeFor[specs.Spec](), reflect.TypeFor[initSpec](), excludedSpecFields)
	check(reflect.TypeFor[specs.Linux](), reflect.TypeFor[initLinux](), excludedLinuxFields)
	if f, _ := reflect.TypeFor[initSpec]().FieldByName("Linux"); f.Tag.Get("json") != "linux,omitempty" {
		t.Errorf("initSpec.Linux tag %q", f.Tag.Get("json"))
	}
}

func TestInitConfigRoundTrip(t *testing.T) {
	limit := int64(1 << 20)
	spec := &specs.Spec{
		Version:     "1.2.0",
		Process:     &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"A=1"}},
		Root:        &specs.Root{Path: "rootfs", Readonly: true},
		Hostname:    "h",
		Domainname:  "d",
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
		Hooks:       &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}},
		Annotations: map[string]string{"a": "b"},
		Linux: &specs.Linux{
			UIDMappings:       []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			Sysctl:            map[string]string{"net.ipv4.ip_forward": "1"},
			Resources:         &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}},
			CgroupsPath:       "/x",
			Namespaces:        []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
			Devices:           []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
			Seccomp:           &specs.LinuxSeccomp{DefaultAction: specs.ActAllow},
			RootfsPropagation: "rslave",
			MaskedPaths:       []string{"/proc/kcore"},
			ReadonlyPaths:     []string{"/proc/sys"},
			IntelRdt:          &specs.LinuxIntelRdt{ClosID: "c"},
			Personality:       &specs.LinuxPersonality{Domain: specs.PerLinux},
			TimeOffsets:       map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}},
		},
		Windows: &specs.Windows{LayerFolders: []string{"x"}},
	}
	in := &InitConfig{Spec: spec, Bundle: "/b", Rootfs: "/b/rootfs", NoPivot: true, FifoFd: 5, ConsoleSocketFd: -1,
		CgroupPaths: map[string]string{"memory": "/sys/fs/cgroup/memory/x"}, State: &specs.State{ID: "c1", Pid: 7}}
	data, err := json.Marshal(&Message{Type: TypeConfig, Config: in})
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	want := *spec
	wantLinux := *spec.Linux
	wantLinux.Resources, wantLinux.IntelRdt = nil, nil
	want.Linux, want.Windows = &wantLinux, nil
	if !reflect.DeepEqual(m.Config.Spec, &want) {
		t.Errorf("spec after the trip:\n%+v\nwant\n%+v", m.Config.Spec, &want)
	}
	gotRest, wantRest := *m.Config, *in
	gotRest.Spec, wantRest.Spec = nil, nil
	if !reflect.DeepEqual(gotRest, wantRest) {
		t.Errorf("config after the trip:\n%+v\nwant\n%+v", gotRest, wantRest)
	}
	// No spec at all stays no spec.
	data, _ = json.Marshal(&InitConfig{Rootfs: "/r"})
	var c InitConfig
	if err := json.Unmarshal(data, &c); err != nil || c.Spec != nil || c.Rootfs != "/r" {
		t.Errorf("empty config: %+v, %v", c, err)
	}
}
