package protocol

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A message far above what one datagram can carry (sendmsg fails with
// ENOBUFS above a few MiB) arrives whole, and small ones around it too.
func TestLargeMessage(t *testing.T) {
	p, c, err := NewPair()
	if err != nil {
		t.Fatal(err)
	}
	parent, child := NewConn(p), NewConn(c)
	defer parent.Close()
	defer child.Close()
	big := strings.Repeat("x", 9<<20+123)
	cfg := &InitConfig{Spec: &specs.Spec{Hostname: big}, Bundle: "/b"}
	errc := make(chan error, 1)
	go func() {
		if err := parent.Send(&Message{Type: TypeHooksDone}); err != nil {
			errc <- err
			return
		}
		if err := parent.Send(&Message{Type: TypeConfig, Config: cfg}); err != nil {
			errc <- err
			return
		}
		errc <- parent.Send(&Message{Type: TypeReady})
	}()
	for _, want := range []string{TypeHooksDone, TypeConfig, TypeReady} {
		m, err := child.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != want {
			t.Fatalf("got %q, want %q", m.Type, want)
		}
		if want == TypeConfig && (m.Config == nil || m.Config.Spec.Hostname != big || m.Config.Bundle != "/b") {
			t.Fatal("config message damaged")
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
