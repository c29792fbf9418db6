package gitserver

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/pkgserver/pkgserver/internal/gitserver/sshcommand"
	"github.com/pkgserver/pkgserver/internal/store"
)

// SSHConfig configures the SSH front end.
type SSHConfig struct {
	// HostKeyPath is the server's private key, generated on first start.
	HostKeyPath string
	// MaxConnections bounds the authenticated connections open at once; a
	// connection that authenticates beyond it is closed at once.
	// Connections that have not authenticated do not count: they have
	// their own pool, below.
	MaxConnections int
	// PerUser bounds what one user holds at once: authenticated
	// connections and git commands running, so that no one key can take
	// the host. A command beyond it, or on a connection beyond it, is
	// refused with a line on its standard error; a connection beyond it
	// is closed after refusedFor.
	PerUser int
	// MaxHandshakes bounds the connections that have not authenticated
	// yet, and HandshakeTimeout how long one may take to authenticate.
	// While the pool has room every connection is admitted; once full,
	// the oldest handshake of the newcomer's address is closed if that
	// address holds HandshakesPerAddress or more (an address is an IPv4
	// address or an IPv6 /56), else the oldest of the address holding
	// the most; a handshake younger than 2 s is never closed, the
	// newcomer is refused instead (see handshakes).
	MaxHandshakes        int
	HandshakesPerAddress int
	HandshakeTimeout     time.Duration
	// LoginTimeout bounds the time from connecting to running a command:
	// the handshake, authentication and the session request.
	LoginTimeout time.Duration
	// IdleTimeout closes a connection without traffic for that long.
	IdleTimeout time.Duration
	// MaxDuration closes a connection that lasted that long, however busy:
	// a client that sends keepalives but never reads cannot hold a git
	// process for ever.
	MaxDuration time.Duration
	// MaxSessions bounds the git commands running at once over SSH, and
	// SessionsPerConnection those of one connection (a client may open
	// many sessions on one connection).
	MaxSessions           int
	SessionsPerConnection int
}

// Defaults of the SSH front end.
const (
	DefaultMaxConnections       = 64
	DefaultPerUser              = 16
	DefaultMaxHandshakes        = 64
	DefaultHandshakesPerAddress = 4
	// DefaultHandshakeTimeout leaves a person time to confirm a host key
	// on first connect, type a key's passphrase or touch a security key:
	// the timer starts when the connection is accepted.
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultLoginTimeout     = 45 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultMaxDuration      = time.Hour
	DefaultMaxSessions      = 64
	DefaultPerConnection    = 4
)

// maxRefused bounds the connections kept open only to tell their user,
// on their first command's standard error, that they hold all the
// connections one user may; beyond it such a connection is closed
// without a word. refusedFor is how long one is kept for that.
const (
	maxRefused = 16
	refusedFor = 5 * time.Second
)

// handshakeGrace is how long a handshake is safe from being closed to make
// room: a client that just connected has had no time to authenticate.
const handshakeGrace = 2 * time.Second

// SSHServer serves git-upload-pack and git-receive-pack over SSH.
type SSHServer struct {
	host     *Host
	srv      *ssh.Server
	conns    *slots // authenticated connections, per user
	sessions *slots // git commands running, per user
	perUser  int
	refused  atomic.Int32 // connections kept open to be told they are refused
	login    time.Duration
	perConn  int32

	handshakes       *handshakes
	handshakeTimeout time.Duration

	evictMu      sync.Mutex
	evictions    int
	evictLogged  time.Time
	refusals     int
	refuseLogged time.Time
}

// sessionsKey holds, in a connection's context, its sessions running.
type sessionsKey struct{}

// NewSSHServer returns the SSH front end, loading or creating its host key.
func NewSSHServer(host *Host, cfg SSHConfig) (*SSHServer, error) {
	// A limit left at zero takes its default.
	cfg.MaxConnections = cmp.Or(cfg.MaxConnections, DefaultMaxConnections)
	cfg.PerUser = cmp.Or(cfg.PerUser, DefaultPerUser)
	cfg.MaxHandshakes = cmp.Or(cfg.MaxHandshakes, DefaultMaxHandshakes)
	cfg.HandshakesPerAddress = cmp.Or(cfg.HandshakesPerAddress, DefaultHandshakesPerAddress)
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	cfg.LoginTimeout = cmp.Or(cfg.LoginTimeout, DefaultLoginTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxDuration = cmp.Or(cfg.MaxDuration, DefaultMaxDuration)
	cfg.MaxSessions = cmp.Or(cfg.MaxSessions, DefaultMaxSessions)
	cfg.SessionsPerConnection = cmp.Or(cfg.SessionsPerConnection, DefaultPerConnection)
	if cfg.MaxConnections < 0 || cfg.PerUser < 0 || cfg.MaxHandshakes < 0 || cfg.HandshakesPerAddress < 0 || cfg.HandshakeTimeout < 0 ||
		cfg.LoginTimeout < 0 || cfg.MaxSessions < 0 || cfg.SessionsPerConnection < 0 {
		return nil, errors.New("ssh limits must not be negative")
	}
	signer, err := loadHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s := &SSHServer{host: host, conns: newSlots(cfg.MaxConnections, cfg.PerUser), login: cfg.LoginTimeout,
		sessions: newSlots(cfg.MaxSessions, cfg.PerUser), perUser: cfg.PerUser, perConn: int32(cfg.SessionsPerConnection),
		handshakes:       newHandshakes(cfg.MaxHandshakes, cfg.HandshakesPerAddress, handshakeGrace, time.Now),
		handshakeTimeout: cfg.HandshakeTimeout}
	s.srv = &ssh.Server{
		Handler:          s.session,
		HostSigners:      []ssh.Signer{signer},
		Version:          "pkgserver",
		PublicKeyHandler: s.publicKey,
		ConnCallback:     s.connect,
		// A fresh configuration per connection, to learn when that
		// connection has authenticated.
		ServerConfigCallback: func(ctx ssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{AuthLogCallback: func(_ gossh.ConnMetadata, _ string, err error) {
				if err == nil {
					s.authenticated(ctx)
				}
			}}
		},
		IdleTimeout: cfg.IdleTimeout,
		MaxTimeout:  cfg.MaxDuration,
		// Only sessions: no port forwarding, no agent, no subsystems.
		ChannelHandlers: map[string]ssh.ChannelHandler{"session": ssh.DefaultSessionHandler},
	}
	return s, nil
}

// HostKey returns the server's public host key.
func (s *SSHServer) HostKey() gossh.PublicKey { return s.srv.HostSigners[0].PublicKey() }

// Serve serves SSH on ln until ctx ends, then closes the listener and waits
// for sessions under way up to the timeout.
func (s *SSHServer) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, ssh.ErrServerClosed) {
		return err
	}
	return nil
}

// connect admits a connection into the pool of handshakes, and gives it
// HandshakeTimeout to authenticate and LoginTimeout to start a command. A
// connection the pool refuses is closed (nil).
func (s *SSHServer) connect(ctx ssh.Context, conn net.Conn) net.Conn {
	remote := conn.RemoteAddr()
	hs := s.handshakes.admit(sourceKey(remote), func() {
		s.evicted(remote, false)
		conn.Close()
	})
	if hs == nil {
		s.evicted(remote, true)
		return nil
	}
	state := &connState{conn: conn, handshake: hs}
	ctx.SetValue(connStateKey{}, state)
	ctx.SetValue(sessionsKey{}, &atomic.Int32{})
	handshakeTimer := time.AfterFunc(s.handshakeTimeout, func() {
		if s.handshakes.leave(hs) {
			conn.Close()
		}
	})
	loginTimer := time.AfterFunc(s.login, func() {
		if !state.loggedIn.Load() {
			conn.Close()
		}
	})
	go func() {
		<-ctx.Done()
		handshakeTimer.Stop()
		loginTimer.Stop()
		s.handshakes.leave(hs)
		state.release()
	}()
	return conn
}

// evicted logs a handshake closed to make room, or a connection refused
// for want of one: the first of each, then at most one line of each every
// 10 s with the count since, so that a flood does not flood the log as
// well.
func (s *SSHServer) evicted(remote net.Addr, refused bool) {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	msg, count, logged := "ssh: closed a connection that had not authenticated to make room", &s.evictions, &s.evictLogged
	if refused {
		msg, count, logged = "ssh: refused a connection: the connections that had not authenticated were too recent to close", &s.refusals, &s.refuseLogged
	}
	*count++
	if now := time.Now(); now.Sub(*logged) >= 10*time.Second {
		s.host.Log.Warn(msg, "remote", remote.String(), "count", *count)
		*logged, *count = now, 0
	}
}

// connState is what the server knows of a connection.
type connState struct {
	conn      net.Conn
	handshake *handshake
	// mu guards slot and done: the connection may end while it
	// authenticates.
	mu sync.Mutex
	// slot gives back the connection's slot among the authenticated
	// ones, once taken.
	slot func()
	// done is set once the connection ended and gave back its slot.
	done bool
	// refusal, if set, is what the connection's commands are answered:
	// its user holds every connection one user may.
	refusal string
	// loggedIn is set once a command started.
	loggedIn atomic.Bool
}

// hold records the connection's slot, or gives it back at once if the
// connection ended meanwhile.
func (c *connState) hold(release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		release()
		return
	}
	c.slot = release
}

// refuse records why the connection's commands are refused.
func (c *connState) refuse(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusal = msg
}

// refused returns why the connection's commands are refused, "" if they
// are not.
func (c *connState) refused() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal
}

// release gives back the connection's slot, if it holds one.
func (c *connState) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.slot != nil {
		c.slot()
		c.slot = nil
	}
}

// connStateKey holds a connection's *connState in its context.
type connStateKey struct{}

// authenticated moves a connection from the pool of handshakes to the
// authenticated connections, or closes it if those are all taken, its user
// holds as many as one user may, or it was evicted meanwhile.
func (s *SSHServer) authenticated(ctx ssh.Context) {
	state, ok := ctx.Value(connStateKey{}).(*connState)
	if !ok {
		return
	}
	if !s.handshakes.leave(state.handshake) {
		state.conn.Close()
		return
	}
	// The key that completed authentication is the last one the public
	// key handler accepted.
	key, _ := ctx.Value(ssh.ContextKeyPublicKey).(ssh.PublicKey)
	if key == nil {
		state.conn.Close()
		return
	}
	user, err := s.host.Keys.Authenticate(ctx, key)
	if err != nil {
		state.conn.Close()
		return
	}
	release, err := s.conns.take(user.Name)
	switch {
	case errors.Is(err, errKeyBusy):
		s.host.Log.Warn("ssh: user holds all the connections one user may", "user", user.Name,
			"limit", s.perUser, "remote", state.conn.RemoteAddr().String())
		// The connection is kept a moment, counted apart, so that its
		// command is told why; git's ssh runs one command per
		// connection, so this is what a user beyond its share sees.
		if s.refused.Add(1) > maxRefused {
			s.refused.Add(-1)
			state.conn.Close()
			return
		}
		state.refuse(fmt.Sprintf("user %s holds %d SSH connections, the most one user may have at once; try again when one ends", user.Name, s.perUser))
		state.hold(func() { s.refused.Add(-1) })
		time.AfterFunc(refusedFor, func() { state.conn.Close() })
		return
	case err != nil:
		s.host.Log.Warn("ssh: too many connections", "remote", state.conn.RemoteAddr().String())
		state.conn.Close()
		return
	}
	state.hold(release)
}

// publicKey accepts keys that belong to a user. Which user a connection is
// is decided later, from the key that completed authentication
// (sess.PublicKey), never from a key that was only offered.
func (s *SSHServer) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	_, err := s.host.Keys.Authenticate(ctx, key)
	return err == nil
}

func (s *SSHServer) session(sess ssh.Session) {
	if state, ok := sess.Context().Value(connStateKey{}).(*connState); ok {
		state.loggedIn.Store(true)
		if msg := state.refused(); msg != "" {
			// The connection is closed by its timer or its client:
			// closing it here could lose this line to a reset.
			fmt.Fprintln(sess.Stderr(), "pkgserver: "+msg)
			_ = sess.Exit(1)
			return
		}
	}
	if n, ok := sess.Context().Value(sessionsKey{}).(*atomic.Int32); ok {
		defer n.Add(-1)
		if n.Add(1) > s.perConn {
			fmt.Fprintf(sess.Stderr(), "pkgserver: at most %d sessions at once on one connection\n", s.perConn)
			_ = sess.Exit(1)
			return
		}
	}
	code := s.run(sess)
	_ = sess.Exit(code)
}

func (s *SSHServer) run(sess ssh.Session) int {
	ctx := sess.Context()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(sess.Stderr(), "pkgserver: "+format+"\n", args...)
		return 1
	}
	user, err := s.host.Keys.Authenticate(ctx, sess.PublicKey())
	if err != nil {
		return fail("permission denied")
	}
	release, err := s.sessions.take(user.Name)
	switch {
	case errors.Is(err, errKeyBusy):
		return fail("user %s has %d git commands running, the most one user may have at once; try again when one ends", user.Name, s.perUser)
	case err != nil:
		return fail("the server is busy, try again")
	}
	defer release()
	pusher := Pusher{Name: user.Name, Namespace: user.Namespace, Role: user.Role}
	args := sess.Command()
	if len(args) == 0 {
		return fail("hi %s: this server runs git-upload-pack and git-receive-pack only, no shell", user.Name)
	}
	service, path, err := sshcommand.Parse(sess.RawCommand())
	if err != nil {
		return fail("%v", err)
	}
	ns, name, err := parseRepoPath(path)
	if err != nil {
		return fail("%v", err)
	}
	if !allowed(pusher, ns, store.RoleRead) {
		return fail("repository %s/%s not found", ns, name)
	}
	gitDir, err := s.host.resolve(ctx, ns, name)
	if errors.Is(err, errNotFound) {
		return fail("repository %s/%s not found", ns, name)
	}
	if err != nil {
		s.host.Log.Error("ssh: resolve repository", "err", err)
		return fail("internal error")
	}
	protocol := ""
	for _, kv := range sess.Environ() {
		if v, ok := strings.CutPrefix(kv, "GIT_PROTOCOL="); ok {
			protocol = v
		}
	}
	var cmd *exec.Cmd
	switch service {
	case sshcommand.UploadPack:
		cmd = exec.CommandContext(ctx, "git", "upload-pack", "--strict",
			fmt.Sprintf("--timeout=%d", max(s.host.Limits.IdleSeconds, 1)), gitDir)
		cmd.Env = serviceEnv(s.host.Limits, protocol, gitDir, "", "")
	case sshcommand.ReceivePack:
		if !allowed(pusher, ns, store.RoleWrite) {
			return fail("user %s may not push to %s/%s: pushing needs the write role in namespace %s", user.Name, ns, name, ns)
		}
		token, end := s.host.Pushes.Begin(&Push{Namespace: ns, Repository: name, GitDir: gitDir, Pusher: pusher})
		defer end()
		cmd = exec.CommandContext(ctx, "git", "receive-pack", gitDir)
		cmd.Env = serviceEnv(s.host.Limits, protocol, gitDir, s.host.HookURL, token)
	}
	cmd.Dir = gitDir
	cmd.Stdout, cmd.Stderr = sess, sess.Stderr()
	cmd.WaitDelay = 5 * time.Second
	// Standard input is copied here rather than by exec: its copy would
	// block Wait on reading the session until the client closes it, even
	// after git has exited. This one ends when the session does.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail("internal error")
	}
	start := time.Now()
	if err = cmd.Start(); err == nil {
		go func() {
			_, _ = io.Copy(stdin, sess)
			stdin.Close()
		}()
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		s.host.Log.Info("ssh", "user", user.Name, "service", service, "repo", ns+"/"+name, "duration", time.Since(start))
		return 0
	case errors.As(err, &ee):
		s.host.Log.Info("ssh", "user", user.Name, "service", service, "repo", ns+"/"+name, "exit", ee.ExitCode())
		return max(ee.ExitCode(), 1)
	default:
		s.host.Log.Warn("ssh: git failed", "service", service, "repo", ns+"/"+name, "err", err)
		return 1
	}
}

// loadHostKey reads the host key, or creates an Ed25519 one readable by its
// owner only.
func loadHostKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(priv, "pkgserver host key")
		if err != nil {
			return nil, err
		}
		data = pem.EncodeToMemory(block)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	return signer, nil
}
