package v1alpha1

import (
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// The uid is RFC 9562's version 5 UUID: the value Python's
// uuid.uuid5(UUID("41e4c4cd-89af-52fb-b33f-77d5fb40f378"),
// "pkg.pkgserver.dev/PackageRevision/default/a.b.c") gives.
func TestUIDIsVersion5(t *testing.T) {
	if got, want := string(UID("PackageRevision", "default", "a.b.c")), "48a46b70-10b6-51b0-80fe-7e87a6312716"; got != want {
		t.Errorf("UID = %s, want %s", got, want)
	}
	if UID("PackageRevision", "default", "a.b.c") == UID("PackageRevisionResources", "default", "a.b.c") {
		t.Error("objects of two kinds share a uid")
	}
}

func TestObjectMetaFromGit(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	m := ObjectMeta("PackageRevision", revision.Revision{Name: "r.p.ws", CreatedAt: at}, "ns", 7)
	if !m.CreationTimestamp.Time.Equal(at) || m.CreationTimestamp.Location() != time.UTC {
		t.Errorf("creationTimestamp = %v, want %v in UTC", m.CreationTimestamp, at)
	}
	if m.Generation != 1 || m.ResourceVersion != "7" || m.UID != UID("PackageRevision", "ns", "r.p.ws") {
		t.Errorf("metadata = %+v", m)
	}
	if m := ObjectMeta("PackageRevision", revision.Revision{Name: "x"}, "ns", 0); !m.CreationTimestamp.IsZero() || m.ResourceVersion != "" {
		t.Errorf("metadata without time or version = %+v", m)
	}
}
