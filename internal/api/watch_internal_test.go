package api

import "testing"

func TestSeenTranslate(t *testing.T) {
	type step struct {
		typ     string
		matches bool
		want    string // "" for nothing sent
	}
	for _, tc := range []struct {
		name  string
		exact bool
		held  bool
		steps []step
	}{
		{"exact: enters, changes, leaves, re-enters, deleted", true, false, []step{
			{"MODIFIED", false, ""},
			{"MODIFIED", true, "ADDED"},
			{"MODIFIED", true, "MODIFIED"},
			{"MODIFIED", false, "DELETED"},
			{"MODIFIED", false, ""},
			{"ADDED", true, "ADDED"},
			{"DELETED", true, "DELETED"},
			{"DELETED", false, ""},
		}},
		{"exact: held from the initial list", true, true, []step{
			{"MODIFIED", true, "MODIFIED"},
			{"MODIFIED", false, "DELETED"},
		}},
		{"resumed: an unknown name may be held", false, false, []step{
			{"MODIFIED", true, "MODIFIED"},
			{"MODIFIED", false, "DELETED"},
			{"MODIFIED", false, ""},
			{"MODIFIED", true, "ADDED"},
		}},
		{"resumed: unknown and leaving", false, false, []step{
			{"MODIFIED", false, "DELETED"},
		}},
		{"resumed: unknown and deleted", false, false, []step{
			{"DELETED", false, "DELETED"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeen(tc.exact)
			if tc.held {
				s.set("r", true)
			}
			for i, st := range tc.steps {
				got, ok := s.translate(st.typ, "r", st.matches)
				if !ok {
					got = ""
				}
				if got != st.want {
					t.Errorf("step %d (%s, matches %v): sent %q, want %q", i, st.typ, st.matches, got, st.want)
				}
			}
		})
	}
}
