package state

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzStateJSON feeds arbitrary bytes to the state.json parser that every
// command but create goes through (and to the record delete --force reads
// from the lock file). It must not panic, must say why it refuses, and a
// state it accepts must survive Save's encoding and be usable: the config
// snapshot decodes or reports an error.
//
//	go test -run '^$' -fuzz FuzzStateJSON -fuzztime 60s ./libcontainer/state/
func FuzzStateJSON(f *testing.F) {
	for _, seed := range []string{
		`{"id":"s1"}`, `{"id":"s1","pid":-1}`, `{"id":"s1","cgroups":{"paths":{"memory":"/"}}}`,
		`{"id":"s1","config":{"hooks":{"poststop":[{"path":"/bin/true"}]}}}`,
		`{"id":"s1","config":"hooks"}`, `{"id":"s1","pid":1e99}`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(data, "s1")
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		if s.ID != "s1" || s.Pid < 0 || s.Pid == 1 {
			t.Fatalf("accepted id %q pid %d", s.ID, s.Pid)
		}
		s.Spec()
		s.Hooks()
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("accepted state does not encode: %v", err)
		}
		if _, err := ParseState(again, "s1"); err != nil {
			t.Fatalf("accepted state is refused once re-encoded: %v\n%s", err, again)
		}
	})
}
