package gitserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Environment of the hooks: where the server is, and the push's token.
const (
	EnvHookURL   = "PKGSERVER_HOOK_URL"
	EnvHookToken = "PKGSERVER_HOOK_TOKEN"
)

// Pusher is who runs a receive-pack: a user over SSH or a token over HTTP,
// with the grant that let them in.
type Pusher struct {
	// Name is the user's or token's name, for messages and logs.
	Name string
	// Namespace and Role are the pusher's grant (Namespace may be
	// store.AllNamespaces).
	Namespace string
	Role      store.Role
}

// Push is one receive-pack session on a hosted repository.
type Push struct {
	Namespace  string
	Repository string
	GitDir     string
	Pusher     Pusher

	mu   sync.Mutex
	lock chan struct{} // the repository's push lock while held
	// release ends the hold on the repository's lock in the database.
	release func()
	// validated are the outcomes of the validations of the accepted push,
	// by package tree, kept from its pre-receive to its post-receive.
	repoID    int64
	validated map[string]*store.Validation
}

// setValidated keeps what the pre-receive hook validated.
func (p *Push) setValidated(repoID int64, v map[string]*store.Validation) {
	p.mu.Lock()
	p.repoID, p.validated = repoID, v
	p.mu.Unlock()
}

// takeValidated returns what the pre-receive hook validated, once.
func (p *Push) takeValidated() (int64, map[string]*store.Validation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.validated
	p.validated = nil
	return p.repoID, v
}

// Pushes hands out the tokens hooks present: one per receive-pack, valid
// from its start to its end, kept in memory (hooks only run while their
// receive-pack does) and looked up by hash.
type Pushes struct {
	mu    sync.Mutex
	m     map[[32]byte]*Push
	locks map[string]chan struct{}
	// Repos, when set, extend a push's hold on its repository to the
	// other processes sharing the index (replicas with one file system of
	// hosted repositories): the repository's lock in the database, which
	// API writes take too.
	Repos store.RepositoryLocks
}

// NewPushes returns an empty registry.
func NewPushes() *Pushes {
	return &Pushes{m: map[[32]byte]*Push{}, locks: map[string]chan struct{}{}}
}

// Lock holds the repository's push lock for a push, from its pre-receive
// until its refs are indexed (Unlock) or it ends. pre-receive reads refs
// the push does not update (the branch a tag must sit on, the tags that
// number the next revision); no other push may move them until this one's
// refs are written. With Repos, the lock of repository repoID in the
// database is held too, after this process's.
func (p *Pushes) Lock(ctx context.Context, push *Push, repoID int64) error {
	p.mu.Lock()
	l, ok := p.locks[push.GitDir]
	if !ok {
		l = make(chan struct{}, 1)
		p.locks[push.GitDir] = l
	}
	p.mu.Unlock()
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for another push to %s/%s: %w", push.Namespace, push.Repository, ctx.Err())
	}
	var release func()
	if p.Repos != nil {
		var err error
		if release, err = p.Repos.LockRepository(ctx, repoID); err != nil {
			<-l
			return fmt.Errorf("waiting for other writes to %s/%s: %w", push.Namespace, push.Repository, err)
		}
	}
	push.mu.Lock()
	push.lock, push.release = l, release
	push.mu.Unlock()
	return nil
}

// Unlock releases the push's hold on its repository, if it has one.
func (p *Pushes) Unlock(push *Push) {
	push.mu.Lock()
	defer push.mu.Unlock()
	if push.release != nil {
		push.release()
		push.release = nil
	}
	if push.lock != nil {
		<-push.lock
		push.lock = nil
	}
}

// Begin registers a push and returns its token and the function that ends
// it.
func (p *Pushes) Begin(push *Push) (token string, end func()) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	token = "pkh_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	p.mu.Lock()
	p.m[h] = push
	p.mu.Unlock()
	return token, func() {
		p.mu.Lock()
		delete(p.m, h)
		p.mu.Unlock()
		p.Unlock(push)
	}
}

// Lookup returns the push a token belongs to. The token is found by its
// hash: a guess learns nothing from timing but whether it exists.
func (p *Pushes) Lookup(token string) (*Push, bool) {
	if len(token) > 128 {
		return nil, false
	}
	h := sha256.Sum256([]byte(token))
	p.mu.Lock()
	defer p.mu.Unlock()
	push, ok := p.m[h]
	return push, ok
}

// Limits of the git host.
type Limits struct {
	// MaxPushBytes bounds the pack a push may send (receive.maxInputSize).
	MaxPushBytes int64
	// IdleSeconds ends an upload-pack that neither reads nor writes for
	// that long.
	IdleSeconds int
	// HTTPRequestsPerToken bounds the smart HTTP requests one token runs
	// at once (default MaxHTTPRequestsPerToken); beyond it a request is
	// answered 429.
	HTTPRequestsPerToken int
}

// gitProtocol is the only form of GIT_PROTOCOL passed on to git: the
// client asks for a protocol version, nothing else.
var gitProtocol = regexp.MustCompile(`^version=[0-2]$`)

// serviceEnv is the environment of a git service process on gitDir: the
// clean base, the limits, the protocol version the client asked for if well
// formed, and for receive-pack what its hooks need to reach the server. The
// repository is marked safe: pkgserver resolved its path itself, and the
// data directory may belong to another user than the server.
func serviceEnv(limits Limits, protocol, gitDir, hookURL, hookToken string) []string {
	env := baseEnv()
	config := [][2]string{{"safe.directory", gitDir}}
	if limits.MaxPushBytes > 0 {
		config = append(config, [2]string{"receive.maxInputSize", strconv.FormatInt(limits.MaxPushBytes, 10)})
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	if gitProtocol.MatchString(protocol) {
		env = append(env, "GIT_PROTOCOL="+protocol)
	}
	if hookToken != "" {
		env = append(env, EnvHookURL+"="+hookURL, EnvHookToken+"="+hookToken)
	}
	return env
}
