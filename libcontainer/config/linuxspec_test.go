package config

import (
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestLinuxSpecCarriesEveryLinuxField fails when runtime-spec gains a field
// that Parse would silently drop: it must be added to linuxSpec (or, for a
// new platform's section, to otherPlatforms).
func TestLinuxSpecCarriesEveryLinuxField(t *testing.T) {
	full, lean := reflect.TypeFor[specs.Spec](), reflect.TypeFor[linuxSpec]()
	for i := 0; i < full.NumField(); i++ {
		f := full.Field(i)
		l, ok := lean.FieldByName(f.Name)
		if slices.Contains(otherPlatforms, f.Name) {
			if ok {
				t.Errorf("linuxSpec has the other platform's %s", f.Name)
			}
			continue
		}
		if !ok || l.Type != f.Type || l.Tag.Get("json") != f.Tag.Get("json") {
			t.Errorf("specs.Spec.%s (%s `%s`) is not carried as is by linuxSpec", f.Name, f.Type, f.Tag)
		}
	}
	if lean.NumField() != full.NumField()-len(otherPlatforms) {
		t.Errorf("linuxSpec has %d fields, want %d", lean.NumField(), full.NumField()-len(otherPlatforms))
	}
}
