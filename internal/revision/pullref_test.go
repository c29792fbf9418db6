package revision

import "testing"

// TestPullRequestRef: the name of what an open pull request proposes for a
// package reads back as the number and package it was made of, and names
// of other shapes are not taken for one.
func TestPullRequestRef(t *testing.T) {
	name := PullRequestRef(12, "apps/nginx")
	if name != "refs/pull/12/head:apps/nginx" {
		t.Fatalf("PullRequestRef(12, apps/nginx) = %q", name)
	}
	if n, pkg, ok := ParsePullRequestRef(name); !ok || n != 12 || pkg != "apps/nginx" {
		t.Errorf("ParsePullRequestRef(%q) = %d, %q, %v", name, n, pkg, ok)
	}
	for _, bad := range []string{
		"refs/heads/drafts/nginx/ws",
		"refs/pull/12/head",
		"refs/pull/12/head:",
		"refs/pull/0/head:nginx",
		"refs/pull/-3/head:nginx",
		"refs/pull/x/head:nginx",
		"refs/pull/12/merge:nginx",
	} {
		if n, pkg, ok := ParsePullRequestRef(bad); ok {
			t.Errorf("ParsePullRequestRef(%q) = %d, %q, true; want false", bad, n, pkg)
		}
	}
}
