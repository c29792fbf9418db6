package e2e

import (
	"strings"
	"testing"
)

// testAuthCanI asks what each role's token may do, as SelfSubjectAccessReview
// answers it, and shows that a reader's writes are refused.
func testAuthCanI(t *testing.T, s *server) {
	token := func(name, role string) string {
		out, err := s.pkgserver("token", "create", name, "--role", role, "--data", s.data)
		if err != nil {
			t.Fatalf("pkgserver token create: %v\n%s", err, exitStderr(err))
		}
		return strings.TrimSpace(string(out))
	}
	writer, reader := token("writer", "write"), token("reader", "read")

	// A reader's write is forbidden and changes nothing.
	draft := s.newDraft(t, "blueprints", "readonly", "v1", nil)
	before := s.state(t, "blueprints")
	s.kubectlFails(t, []string{"Forbidden"}, "--token", reader, "create", "-f", writeFile(t, "draft.yaml", draftYAML("forbidden", "v1")))
	s.kubectlFails(t, []string{"Forbidden"}, "--token", reader, "label", "packagerevision", draft, "x=y")
	s.unchanged(t, "blueprints", before)

	for _, c := range []struct {
		token string // "" for the kubeconfig's admin token
		args  []string
		yes   bool
	}{
		{"", []string{"create", "packagerevisions"}, true},
		{"", []string{"delete", "repositories"}, true},
		{writer, []string{"create", "packagerevisions"}, true},
		{writer, []string{"patch", "packagerevisions"}, true},
		{writer, []string{"create", "repositories"}, false},
		{reader, []string{"create", "packagerevisions"}, false},
		{reader, []string{"list", "packagerevisions"}, true},
		{reader, []string{"watch", "repositories"}, true},
		{reader, []string{"list", "packagerevisions", "-n", "other"}, false},
	} {
		args := []string{"auth", "can-i"}
		who := "admin"
		if c.token != "" {
			args = append([]string{"--token", c.token}, args...)
			who = map[string]string{writer: "writer", reader: "reader"}[c.token]
		}
		r := s.run(t, nil, "", append(args, c.args...)...)
		want, code := "no", 1
		if c.yes {
			want, code = "yes", 0
		}
		// kubectl prints "no - REASON" when the review gives a reason.
		got, _, _ := strings.Cut(strings.TrimSpace(r.stdout), " - ")
		if got != want || r.code != code {
			t.Errorf("%s: auth can-i %s: printed %q, exit %d; want %s, exit %d\n%s", who, strings.Join(c.args, " "),
				strings.TrimSpace(r.stdout), r.code, want, code, r.stderr)
		}
	}
}
