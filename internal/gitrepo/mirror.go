package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// Credentials authenticate to a remote repository. At most one kind is set.
type Credentials struct {
	// Token is sent as the password of HTTP basic authentication, as
	// GitHub, GitLab and Gitea accept access tokens; Username defaults to
	// "x-access-token".
	Token string
	// Username and Password are HTTP basic authentication.
	Username string
	Password string
	// SSHKey is a private key in OpenSSH or PEM form; KnownHosts lists the
	// host keys to accept, in known_hosts form, and is required with it.
	SSHKey     []byte
	KnownHosts []byte
}

// secrets returns the strings that must never appear in an error.
func (c *Credentials) secrets() []string {
	if c == nil {
		return nil
	}
	var s []string
	for _, v := range []string{c.Token, c.Password} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

func (c *Credentials) authMethod(remote string) (transport.AuthMethod, error) {
	if c == nil {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL %s", SanitizeURL(remote))
	}
	switch {
	case len(c.SSHKey) > 0:
		if ep.Protocol != "ssh" {
			return nil, fmt.Errorf("an SSH key cannot authenticate to a %s URL", ep.Protocol)
		}
		if len(c.KnownHosts) == 0 {
			return nil, errors.New("SSH credentials need known hosts: without them the server cannot be authenticated")
		}
		keys, err := gitssh.NewPublicKeys(ep.User, c.SSHKey, "")
		if err != nil {
			return nil, errors.New("invalid SSH private key")
		}
		cb, err := knownHostsCallback(c.KnownHosts)
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback = cb
		return keys, nil
	case c.Token != "" || c.Username != "" || c.Password != "":
		if ep.Protocol != "http" && ep.Protocol != "https" {
			return nil, fmt.Errorf("a token or password cannot authenticate to a %s URL", ep.Protocol)
		}
		user, pass := c.Username, c.Password
		if c.Token != "" {
			pass = c.Token
			if user == "" {
				user = "x-access-token"
			}
		}
		return &githttp.BasicAuth{Username: user, Password: pass}, nil
	}
	return nil, nil
}

// knownHostsCallback accepts exactly the host keys listed, in known_hosts
// form (hashed host names and markers included). Host keys are public: they
// go through a temporary file because that is what the parser reads.
func knownHostsCallback(data []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "pkgserver-known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return nil, err
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("invalid known hosts: %v", err)
	}
	return cb, nil
}

var userinfoRE = regexp.MustCompile(`(?i)^([a-z][a-z0-9+.-]*://)[^/@]*@`)

// SanitizeURL removes credentials from a repository URL: the user info of
// URLs with a scheme and query parameters that commonly carry tokens.
// scp-like SSH addresses (git@host:path) keep their user, which is not a
// secret.
func SanitizeURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "" && u.Host != "" {
		if u.User != nil {
			if u.Scheme == "ssh" && !hasPassword(u.User) {
				u.User = url.User(u.User.Username())
			} else {
				u.User = nil
			}
		}
		if u.RawQuery != "" {
			u.RawQuery = "redacted"
		}
		return u.String()
	}
	return userinfoRE.ReplaceAllString(raw, "${1}")
}

func hasPassword(u *url.Userinfo) bool {
	_, ok := u.Password()
	return ok
}

// redact removes credentials from an error message.
func redact(msg, remote string, creds *Credentials) string {
	if remote != "" {
		msg = strings.ReplaceAll(msg, remote, SanitizeURL(remote))
	}
	for _, s := range creds.secrets() {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	return msg
}

// mirrorRefSpecs copy the remote's branches and tags to the same names, so
// that the mirror's refs are the remote's.
var mirrorRefSpecs = []config.RefSpec{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
}

// SyncMirror brings the bare mirror in dir up to date with the remote
// repository: the first call creates it and fetches everything, later calls
// fetch only what changed. Refs deleted on the remote are deleted in the
// mirror. Errors never carry the credentials.
func SyncMirror(ctx context.Context, dir, remote string, creds *Credentials) (*Repo, error) {
	fail := func(err error) (*Repo, error) {
		return nil, errors.New(redact(fmt.Sprintf("sync mirror of %s: %v", remote, err), remote, creds))
	}
	auth, err := creds.authMethod(remote)
	if err != nil {
		return fail(err)
	}
	r, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fail(err)
		}
		r, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return fail(err)
	}
	cfg, err := r.Config()
	if err != nil {
		return fail(err)
	}
	want := &config.RemoteConfig{Name: "origin", URLs: []string{remote}, Fetch: mirrorRefSpecs}
	if have, ok := cfg.Remotes["origin"]; !ok || len(have.URLs) != 1 || have.URLs[0] != remote {
		cfg.Remotes["origin"] = want
		if err := r.SetConfig(cfg); err != nil {
			return fail(err)
		}
	}
	err = r.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   mirrorRefSpecs,
		Auth:       auth,
		Prune:      true,
		Force:      true,
		Tags:       git.NoTags, // the refspecs fetch every tag already
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate), errors.Is(err, transport.ErrEmptyRemoteRepository):
	default:
		return fail(err)
	}
	return Open(dir)
}

// ListRemote lists a remote repository's branches and tags with their
// targets, as `git ls-remote` does, without fetching anything.
func ListRemote(ctx context.Context, remote string, creds *Credentials) ([]Ref, error) {
	fail := func(err error) ([]Ref, error) {
		return nil, errors.New(redact(fmt.Sprintf("list refs of %s: %v", remote, err), remote, creds))
	}
	auth, err := creds.authMethod(remote)
	if err != nil {
		return fail(err)
	}
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{remote}})
	list, err := r.ListContext(ctx, &git.ListOptions{Auth: auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return fail(err)
	}
	var out []Ref
	for _, ref := range list {
		name := ref.Name().String()
		if ref.Type() != plumbing.HashReference || strings.HasSuffix(name, "^{}") ||
			!(strings.HasPrefix(name, "refs/heads/") || strings.HasPrefix(name, "refs/tags/")) {
			continue
		}
		out = append(out, Ref{Name: name, Target: ref.Hash().String()})
	}
	return out, nil
}

// pushPrefix holds the refs a push sends from: git pushes refs, not
// object ids.
const pushPrefix = "refs/pkgserver-push/"

// ErrPushRefused is returned by Push when the remote refuses a push for
// another reason than a ref that moved: credentials, a protected branch, a
// hook, a remote that cannot push atomically.
var ErrPushRefused = errors.New("the remote refused the push")

// Push applies ref updates to a remote repository in one atomic push from
// r (a mirror holding the objects), each update only if the remote ref is
// at its Old value (absent for Old ""): otherwise ErrRefConflict and
// nothing changes. A remote that does not accept atomic pushes is not
// pushed to (ErrPushRefused): refs updated one by one could publish a tag
// without its branch. On success r's own refs are moved the same way.
func (r *Repo) Push(ctx context.Context, remote string, creds *Credentials, updates []revision.RefUpdate) error {
	fail := func(err error) error {
		return errors.New(redact(fmt.Sprintf("push to %s: %v", remote, err), remote, creds))
	}
	refused := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrPushRefused, redact(fmt.Sprintf(format, args...), remote, creds))
	}
	auth, err := creds.authMethod(remote)
	if err != nil {
		return fail(err)
	}
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return fail(err)
	}
	tr, err := client.NewClient(ep)
	if err != nil {
		return fail(err)
	}
	sess, err := tr.NewReceivePackSession(ep, auth)
	if err != nil {
		return classifyPush(err, refused, fail)
	}
	adv, err := sess.AdvertisedReferencesContext(ctx)
	sess.Close()
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return classifyPush(err, refused, fail)
	}
	at := map[string]string{}
	if adv != nil {
		if !adv.Capabilities.Supports(capability.Atomic) {
			return refused("the remote does not accept atomic pushes")
		}
		for name, h := range adv.References {
			at[name] = h.String()
		}
	}
	var temp []revision.RefUpdate
	var specs []config.RefSpec
	var require []config.RefSpec
	for i, u := range updates {
		if err := ValidateRefName(u.Ref); err != nil {
			return err
		}
		if at[u.Ref] != u.Old {
			return fmt.Errorf("%w: %s is at %q on the remote, not %q", ErrRefConflict, u.Ref, at[u.Ref], u.Old)
		}
		if u.Old != "" {
			require = append(require, config.RefSpec(u.Old+":"+u.Ref))
		}
		if u.New == "" {
			specs = append(specs, config.RefSpec(":"+u.Ref))
			continue
		}
		src := fmt.Sprintf("%s%d", pushPrefix, i)
		temp = append(temp, revision.RefUpdate{Ref: src, New: u.New})
		specs = append(specs, config.RefSpec(src+":"+u.Ref))
	}
	if err := r.forceRefs(ctx, temp); err != nil {
		return err
	}
	defer func() {
		for i := range temp {
			temp[i].New = ""
		}
		_ = r.forceRefs(context.WithoutCancel(ctx), temp)
	}()
	g, err := git.PlainOpen(r.gitDir)
	if err != nil {
		return fail(err)
	}
	err = g.PushContext(ctx, &git.PushOptions{RemoteURL: remote, RefSpecs: specs, RequireRemoteRefs: require, Atomic: true, Auth: auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return classifyPush(err, refused, fail)
	}
	// The mirror follows, so that the index reads what the remote holds.
	mirror := make([]revision.RefUpdate, len(updates))
	for i, u := range updates {
		mirror[i] = revision.RefUpdate{Ref: u.Ref, New: u.New}
	}
	return r.forceRefs(ctx, mirror)
}

// classifyPush sorts the errors of a push: a ref that moved (a conflict),
// a refusal of the remote, or a failure.
func classifyPush(err error, refused func(string, ...any) error, fail func(error) error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return refused("the credentials were refused: %v", err)
	case errors.Is(err, git.ErrForceNeeded), strings.Contains(msg, "non-fast-forward update"), strings.Contains(msg, "required to be"),
		strings.Contains(msg, "stale info"), strings.Contains(msg, "failed to lock"), strings.Contains(msg, "reference already exists"),
		strings.Contains(msg, "atomic transaction failed"), strings.Contains(msg, "failed to update ref"), strings.Contains(msg, "cannot lock ref"):
		return fmt.Errorf("%w: %s", ErrRefConflict, msg)
	case strings.Contains(msg, "command error on"), strings.Contains(msg, "hook declined"), strings.Contains(msg, "protected"),
		strings.Contains(msg, "denied"), strings.Contains(msg, "rejected"):
		return refused("%s", msg)
	}
	return fail(err)
}

// forceRefs sets (or deletes, New "") refs whatever they were.
func (r *Repo) forceRefs(ctx context.Context, updates []revision.RefUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, u := range updates {
		if u.New == "" {
			fmt.Fprintf(&in, "delete %s\n", u.Ref)
		} else {
			fmt.Fprintf(&in, "update %s %s\n", u.Ref, u.New)
		}
	}
	cmd := r.command(ctx, "update-ref", "--stdin")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git update-ref: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
