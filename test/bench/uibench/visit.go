package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// resource is one answer of a first visit.
type resource struct {
	path     string
	code     int
	encoding string
	// sent is the body as sent; decoded, with its encoding undone.
	sent, decoded int
	// gzipped is the decoded body's size compressed by gzip at its
	// default level here, for comparison with what was sent.
	gzipped int
	wire    int64
	took    time.Duration
}

// visit is what a browser's first visit to a page transferred.
type visit struct {
	resources []resource
}

func (v visit) wire() (n int64) {
	for _, r := range v.resources {
		n += r.wire
	}
	return n
}

func (v visit) sent() (n int) {
	for _, r := range v.resources {
		n += r.sent
	}
	return n
}

func (v visit) decoded() (n int) {
	for _, r := range v.resources {
		n += r.decoded
	}
	return n
}

func (v visit) gzipped() (n int) {
	for _, r := range v.resources {
		n += r.gzipped
	}
	return n
}

// compressed tells whether every resource came compressed.
func (v visit) compressed() bool {
	for _, r := range v.resources {
		if r.encoding == "none" {
			return false
		}
	}
	return len(v.resources) > 0
}

// firstVisit fetches a page as a browser without a cache does: a new
// connection, the page, then every stylesheet and script it references.
func firstVisit(base, token, path string) (visit, error) {
	c := newClient(base, token)
	var v visit
	page, err := fetch(c, path, &v)
	if err != nil {
		return v, err
	}
	from, err := url.Parse(base + path)
	if err != nil {
		return v, err
	}
	for _, ref := range assetRefs(page) {
		u, err := from.Parse(ref)
		if err != nil {
			return v, fmt.Errorf("asset %q: %w", ref, err)
		}
		if u.Host != from.Host {
			return v, fmt.Errorf("asset %s is not the server's", u)
		}
		if _, err := fetch(c, u.RequestURI(), &v); err != nil {
			return v, err
		}
	}
	return v, nil
}

// fetch gets a resource of a visit and returns it decoded.
func fetch(c *client, path string, v *visit) (string, error) {
	r, err := c.get(path)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	body, err := r.decoded()
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	v.resources = append(v.resources, resource{path: path, code: r.code, encoding: r.encoding(),
		sent: len(r.body), decoded: len(body), gzipped: gzipLen(body), wire: r.wire, took: r.took})
	if r.code != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", path, r.code)
	}
	return string(body), nil
}

// gzipLen is the size of b compressed by gzip at its default level.
func gzipLen(b []byte) int {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Len()
}

var (
	tagRE  = regexp.MustCompile(`(?is)<(link|script)\b[^>]*>`)
	attrRE = regexp.MustCompile(`(?is)\b(rel|href|src)\s*=\s*"([^"]*)"`)
)

// assetRefs are the stylesheets (<link rel="stylesheet" href>) and
// scripts (<script src>) a page references, in order.
func assetRefs(page string) []string {
	var refs []string
	for _, tag := range tagRE.FindAllStringSubmatch(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(tag[0], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		switch {
		case strings.EqualFold(tag[1], "link") && strings.EqualFold(attrs["rel"], "stylesheet") && attrs["href"] != "":
			refs = append(refs, attrs["href"])
		case strings.EqualFold(tag[1], "script") && attrs["src"] != "":
			refs = append(refs, attrs["src"])
		}
	}
	return refs
}

// signIn is the sign-in form's round trip.
type signIn struct {
	// form: GET /ui/signin; post: POST /ui/signin, answered with a
	// redirect and the session cookie; page: the redirect's target with
	// the cookie.
	form, post, page time.Duration
}

var nonceRE = regexp.MustCompile(`name="nonce" value="([^"]*)"`)

// signInRoundTrip signs in as a browser does, with the sign-in form's
// nonce and its cookie, and opens the page it is sent to with the session.
func signInRoundTrip(base, token string) (signIn, error) {
	var s signIn
	c := newClient(base, "")
	jar, err := cookiejar.New(nil)
	if err != nil {
		return s, err
	}
	c.http.Jar = jar
	r, err := c.get("/ui/signin?next=" + url.QueryEscape("/ui/"))
	if err != nil || r.code != http.StatusOK {
		return s, fmt.Errorf("GET /ui/signin: %d %v", r.code, err)
	}
	s.form = r.took
	page, err := r.decoded()
	if err != nil {
		return s, err
	}
	m := nonceRE.FindSubmatch(page)
	if m == nil {
		return s, fmt.Errorf("the sign-in page has no nonce")
	}
	form := url.Values{"nonce": {html.UnescapeString(string(m[1]))}, "next": {"/ui/"}, "token": {token}}
	req, err := http.NewRequest(http.MethodPost, base+"/ui/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return s, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r, err = c.do(req); err != nil || r.code != http.StatusSeeOther {
		return s, fmt.Errorf("POST /ui/signin: %d %v", r.code, err)
	}
	s.post = r.took
	next := r.header.Get("Location")
	if r, err = c.get(next); err != nil || r.code != http.StatusOK {
		return s, fmt.Errorf("GET %s with the session: %d %v", next, r.code, err)
	}
	s.page = r.took
	if page, err = r.decoded(); err != nil || !strings.Contains(string(page), "Sign out") {
		return s, fmt.Errorf("GET %s with the session: not signed in (%v)", next, err)
	}
	return s, nil
}
