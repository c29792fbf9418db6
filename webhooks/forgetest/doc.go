// Package forgetest provides local stand-ins for the parts of the GitHub REST
// API and the GitLab REST API v4 that pkgserver calls. Each stand-in is an
// httptest server backed by a real bare git repository on disk, the remote the
// forge hosts: tags and refs created through the API really appear in it, and
// commits are checked against it. The stand-ins validate requests and shape
// their answers as the forges document them, so the real go-github and GitLab
// clients can be pointed at them, and they record every call so tests can
// assert on what was sent and inject failures.
package forgetest
