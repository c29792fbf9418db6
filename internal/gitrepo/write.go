package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// ObjectWriter writes blobs, trees and commits into a repository's object
// store. Objects are written loose; nothing refers to them until a ref
// update does (git gc removes them after its grace period otherwise).
type ObjectWriter struct {
	st *filesystem.Storage
	// dir is the git directory st writes into.
	dir string
}

// NewObjectWriter returns a writer of the repository's objects.
func (r *Repo) NewObjectWriter() *ObjectWriter {
	return newObjectWriter(r.gitDir)
}

func newObjectWriter(dir string) *ObjectWriter {
	return &ObjectWriter{st: filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(1<<20)), dir: dir}
}

// write writes an object, unless the store holds it loose already: a
// write of a package mostly repeats the files it does not change, and
// writing an object costs a temporary file and a rename. (An object held
// only in a pack is written loose again, which git tolerates.)
func (w *ObjectWriter) write(t plumbing.ObjectType, data []byte) (string, error) {
	h := plumbing.ComputeHash(t, data)
	hex := h.String()
	if _, err := os.Lstat(filepath.Join(w.dir, "objects", hex[:2], hex[2:])); err == nil {
		return hex, nil
	}
	obj := w.st.NewEncodedObject()
	obj.SetType(t)
	obj.SetSize(int64(len(data)))
	wr, err := obj.Writer()
	if err != nil {
		return "", err
	}
	if _, err := wr.Write(data); err != nil {
		return "", err
	}
	if err := wr.Close(); err != nil {
		return "", err
	}
	if _, err := w.st.SetEncodedObject(obj); err != nil {
		return "", err
	}
	return hex, nil
}

// Blob writes a blob.
func (w *ObjectWriter) Blob(data []byte) (string, error) { return w.write(plumbing.BlobObject, data) }

// Tree writes a tree of the given entries (in any order; names must be
// valid path elements, each once).
func (w *ObjectWriter) Tree(entries []TreeEntry) (string, error) {
	entries = slices.Clone(entries)
	// Git orders a tree's entries by name, a directory's name as if it
	// ended in "/".
	key := func(e TreeEntry) string {
		if e.IsTree() {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b TreeEntry) int { return strings.Compare(key(a), key(b)) })
	var buf bytes.Buffer
	for i, e := range entries {
		// Only what a tree cannot hold at all: the names pkgserver brings
		// are checked where they come in; others were in git already.
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			return "", fmt.Errorf("invalid tree entry %q", e.Name)
		}
		if i > 0 && entries[i-1].Name == e.Name {
			return "", fmt.Errorf("tree entry %q twice", e.Name)
		}
		id, err := hexID(e.ID)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&buf, "%o %s\x00", e.Mode, e.Name)
		buf.Write(id)
	}
	return w.write(plumbing.TreeObject, buf.Bytes())
}

func hexID(id string) ([]byte, error) {
	h := plumbing.NewHash(id)
	if h.IsZero() || h.String() != id {
		return nil, fmt.Errorf("invalid object id %q", id)
	}
	return h[:], nil
}

// Signature is who made a commit, and when.
type Signature struct {
	Name, Email string
	When        time.Time
}

func (s Signature) encode() string {
	clean := func(v string) string {
		return strings.Map(func(r rune) rune {
			if r == '<' || r == '>' || r == '\n' || r == 0 {
				return -1
			}
			return r
		}, strings.TrimSpace(v))
	}
	return fmt.Sprintf("%s <%s> %d %s", clean(s.Name), clean(s.Email), s.When.Unix(), s.When.Format("-0700"))
}

// CommitData is what a commit holds.
type CommitData struct {
	Tree      string
	Parents   []string
	Author    Signature
	Committer Signature
	Message   string
}

// Commit writes a commit.
func (w *ObjectWriter) Commit(c CommitData) (string, error) {
	var buf bytes.Buffer
	if _, err := hexID(c.Tree); err != nil {
		return "", err
	}
	fmt.Fprintf(&buf, "tree %s\n", c.Tree)
	for _, p := range c.Parents {
		if _, err := hexID(p); err != nil {
			return "", err
		}
		fmt.Fprintf(&buf, "parent %s\n", p)
	}
	fmt.Fprintf(&buf, "author %s\ncommitter %s\n\n%s", c.Author.encode(), c.Committer.encode(), c.Message)
	if !strings.HasSuffix(c.Message, "\n") {
		buf.WriteByte('\n')
	}
	return w.write(plumbing.CommitObject, buf.Bytes())
}

// File is a file to write into a tree.
type File struct {
	Path string
	Data []byte
	// Mode is the file's git mode: ModeFile (the default), ModeExec or
	// ModeSymlink (Data is the link's target).
	Mode uint32
}

// BuildTree writes the tree of a set of files (slash-separated paths) and
// its subtrees, and returns its id.
func (w *ObjectWriter) BuildTree(files []File) (string, error) {
	type dir struct {
		entries []TreeEntry
		subdirs map[string]*dir
	}
	root := &dir{subdirs: map[string]*dir{}}
	seen := map[string]bool{}
	for _, f := range files {
		if f.Path == "" || path.Clean(f.Path) != f.Path || strings.HasPrefix(f.Path, "/") || seen[f.Path] {
			return "", fmt.Errorf("invalid or repeated file path %q", f.Path)
		}
		seen[f.Path] = true
		parts := strings.Split(f.Path, "/")
		for _, p := range parts {
			if err := ValidateWritePathElement(p); err != nil {
				return "", fmt.Errorf("file path %q: %w", f.Path, err)
			}
		}
		d := root
		for _, p := range parts[:len(parts)-1] {
			sub, ok := d.subdirs[p]
			if !ok {
				sub = &dir{subdirs: map[string]*dir{}}
				d.subdirs[p] = sub
			}
			d = sub
		}
		id, err := w.Blob(f.Data)
		if err != nil {
			return "", err
		}
		mode := f.Mode
		switch mode {
		case 0:
			mode = ModeFile
		case ModeFile, ModeExec, ModeSymlink:
		default:
			return "", fmt.Errorf("file %q: mode %o is not a file's", f.Path, mode)
		}
		d.entries = append(d.entries, TreeEntry{Name: parts[len(parts)-1], Mode: mode, ID: id})
	}
	var write func(d *dir) (string, error)
	write = func(d *dir) (string, error) {
		entries := d.entries
		for name, sub := range d.subdirs {
			id, err := write(sub)
			if err != nil {
				return "", err
			}
			if slices.ContainsFunc(entries, func(e TreeEntry) bool { return e.Name == name }) {
				return "", fmt.Errorf("%q is both a file and a directory", name)
			}
			entries = append(entries, TreeEntry{Name: name, Mode: ModeTree, ID: id})
		}
		return w.Tree(entries)
	}
	return write(root)
}

// ReplaceTree returns the id of root with the tree at path (slash-separated,
// not empty) replaced by subtree, created with the directories leading to
// it, or removed when subtree is "" (with directories it leaves empty).
// Root "" is the empty tree.
func (w *ObjectWriter) ReplaceTree(b *Batch, root, p, subtree string) (string, error) {
	parts := strings.Split(p, "/")
	for _, part := range parts {
		if err := ValidatePathElement(part); err != nil {
			return "", fmt.Errorf("path %q: %w", p, err)
		}
	}
	var replace func(tree string, parts []string, top bool) (string, error)
	replace = func(tree string, parts []string, top bool) (string, error) {
		var entries []TreeEntry
		if tree != "" {
			var err error
			if entries, err = b.ReadTree(tree); err != nil {
				return "", err
			}
		}
		i := slices.IndexFunc(entries, func(e TreeEntry) bool { return e.Name == parts[0] })
		next := subtree
		if len(parts) > 1 {
			below := ""
			if i >= 0 && !entries[i].IsTree() {
				return "", fmt.Errorf("%w: %s is a file, not a directory", ErrPathTaken, parts[0])
			}
			if i >= 0 {
				below = entries[i].ID
			}
			var err error
			if next, err = replace(below, parts[1:], false); err != nil {
				return "", err
			}
		}
		switch {
		case next == "" && i >= 0:
			entries = slices.Delete(entries, i, i+1)
		case next == "":
		case i >= 0:
			entries[i] = TreeEntry{Name: parts[0], Mode: ModeTree, ID: next}
		default:
			entries = append(entries, TreeEntry{Name: parts[0], Mode: ModeTree, ID: next})
		}
		if len(entries) == 0 && !top {
			return "", nil // a directory left empty goes too
		}
		return w.Tree(entries)
	}
	return replace(root, parts, true)
}

// ErrPathTaken is returned by ReplaceTree when a directory on the way to
// the path is a file.
var ErrPathTaken = errors.New("the path is taken")

// ErrRefConflict is returned by UpdateRefs when a ref is not at the value
// expected: another writer was first.
var ErrRefConflict = errors.New("a ref changed meanwhile")

// ErrRefCollision is returned by UpdateRefs for a ref that is another's
// directory, or the other way round (refs/heads/a/b and refs/heads/a/b/c).
var ErrRefCollision = errors.New("the ref collides with another")

// UpdateRefs applies ref updates in one transaction: all of them, or none
// when a ref is not at its expected old value (ErrRefConflict). Old "" (or
// revision.ZeroID) means the ref must not exist, New "" deletes it.
func (r *Repo) UpdateRefs(ctx context.Context, updates []revision.RefUpdate) error {
	var in bytes.Buffer
	in.WriteString("start\n")
	for _, u := range updates {
		if err := ValidateRefName(u.Ref); err != nil {
			return err
		}
		old := u.Old
		if old == "" {
			old = revision.ZeroID
		}
		switch {
		case u.New == "":
			fmt.Fprintf(&in, "delete %s %s\n", u.Ref, old)
		default:
			fmt.Fprintf(&in, "update %s %s %s\n", u.Ref, u.New, old)
		}
	}
	in.WriteString("prepare\ncommit\n")
	cmd := r.command(ctx, "update-ref", "--stdin")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "exists; cannot create") || strings.Contains(msg, "cannot process") {
			return fmt.Errorf("%w: %s", ErrRefCollision, msg)
		}
		if strings.Contains(msg, "but expected") || strings.Contains(msg, "reference already exists") ||
			strings.Contains(msg, "unable to resolve reference") || strings.Contains(msg, "cannot lock ref") {
			return fmt.Errorf("%w: %s", ErrRefConflict, msg)
		}
		return fmt.Errorf("git update-ref: %w: %s", err, msg)
	}
	return nil
}

// Scratch is a scratch object store beside a repository, for a dry run of a
// write: its ObjectWriter writes there, and every git subprocess of its Repo
// reads objects there as well as the repository's (as git's quarantine of a
// push does), so that what was written can be read and validated. The
// repository's own objects and refs are never written; Close drops what the
// scratch holds.
type Scratch struct {
	// Repo is the repository seen through the scratch store; its ref
	// updates would still change the repository's refs: a dry run makes
	// none.
	Repo *Repo
	tmp  *TempDir
}

// NewScratch creates a scratch object store, in a temporary directory
// outside the repository, marked as this process's (see MkdirTemp).
func (r *Repo) NewScratch() (*Scratch, error) {
	own, err := filepath.Abs(filepath.Join(r.gitDir, "objects"))
	if err != nil {
		return nil, err
	}
	tmp, err := MkdirTemp(ScratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("scratch object store: %w", err)
	}
	objects := filepath.Join(tmp.Dir, "objects")
	if err := os.Mkdir(objects, 0o700); err != nil {
		_ = tmp.Remove()
		return nil, fmt.Errorf("scratch object store: %w", err)
	}
	// The repository's object directory, or a quarantine's, stays
	// readable as an alternate; its own alternates are followed by git.
	alternates := []string{own}
	env := slices.Clone(r.env)
	for i, v := range env {
		if d, ok := strings.CutPrefix(v, "GIT_OBJECT_DIRECTORY="); ok {
			alternates = []string{d}
			env[i] = ""
		}
	}
	for i, v := range env {
		if a, ok := strings.CutPrefix(v, "GIT_ALTERNATE_OBJECT_DIRECTORIES="); ok {
			alternates = append(alternates, filepath.SplitList(a)...)
			env[i] = ""
		}
	}
	env = slices.DeleteFunc(env, func(v string) bool { return v == "" })
	env = append(env, "GIT_OBJECT_DIRECTORY="+objects,
		"GIT_ALTERNATE_OBJECT_DIRECTORIES="+strings.Join(slices.Compact(alternates), string(filepath.ListSeparator)))
	return &Scratch{Repo: &Repo{gitDir: r.gitDir, env: env}, tmp: tmp}, nil
}

// ObjectWriter returns a writer of objects into the scratch store.
func (s *Scratch) ObjectWriter() *ObjectWriter {
	return newObjectWriter(s.tmp.Dir)
}

// Close removes the scratch store and what it holds.
func (s *Scratch) Close() error { return s.tmp.Remove() }

// ScratchPrefix begins the names of scratch stores' directories.
const ScratchPrefix = "pkgserver-scratch-"

// TempDir is a directory of this process's work made by MkdirTemp. Its
// lock file is locked (flock) for as long as the directory is in use, so
// that RemoveStaleTemp in any process sharing the temporary directory,
// whatever its PID namespace, can tell it is.
type TempDir struct {
	// Dir is the directory's path.
	Dir  string
	lock *os.File
}

// Remove removes the directory and what it holds, then releases its lock.
func (d *TempDir) Remove() error {
	err := os.RemoveAll(d.Dir)
	if d.lock != nil {
		d.lock.Close() // releases the flock
		d.lock = nil
	}
	return err
}

// tempLockName is the lock file of a directory MkdirTemp made.
const tempLockName = "pkgserver.lock"

// MkdirTemp creates a directory for this process's work in the system's
// temporary directory, named <prefix><pid>-<random> (the process id tells
// an operator whose it is), and holds the lock of its lock file until
// Remove: a process killed before it removed the directory leaves it
// behind unlocked, and RemoveStaleTemp removes it.
func MkdirTemp(prefix string) (*TempDir, error) {
	// RemoveStaleTemp may find the directory before its lock is taken,
	// take the lock itself and remove it: then this try fails and another
	// directory is made.
	var err error
	for range 8 {
		var dir string
		dir, err = os.MkdirTemp("", prefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, err
		}
		var lock *os.File
		lock, err = lockTemp(dir)
		if err == nil {
			return &TempDir{Dir: dir, lock: lock}, nil
		}
		_ = os.RemoveAll(dir)
	}
	return nil, err
}

// lockTemp opens the lock file of dir, creating it, and takes its lock
// without waiting. It fails if another holds the lock, or if the lock file
// opened is no longer the directory's (RemoveStaleTemp removed it).
func lockTemp(dir string) (*os.File, error) {
	name := filepath.Join(dir, tempLockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(name)
	if err := errors.Join(err1, err2); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !os.SameFile(held, now) {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w (replaced while it was locked)", name, os.ErrNotExist)
	}
	return f, nil
}

// RemoveStaleTemp removes the directories MkdirTemp made with prefix that
// no process is using, and reports how many it removed. A directory is in
// use while its lock file is locked, which a process holds until it
// removes the directory, and the kernel releases when the process ends
// however it ends; a lock works across PID namespaces sharing the
// temporary directory, where a process id does not. A directory without a
// lock file is one whose process was killed before it locked it, or a
// pkgserver's before locks were taken: stale either way. Names not of
// MkdirTemp's form are not touched. A directory that cannot be checked or
// removed is an error joined to the others', and does not stop the rest.
func RemoveStaleTemp(prefix string) (int, error) {
	matches, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, dir := range matches {
		pidText, random, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || random == "" {
			continue
		}
		lock, err := lockTemp(dir)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, os.ErrNotExist):
			continue // in use, or removed meanwhile
		case err != nil:
			errs = append(errs, err)
			continue
		}
		// Removed while locked: a MkdirTemp that found it first fails
		// to lock it.
		err = os.RemoveAll(dir)
		lock.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// CheckRefs checks ref updates as UpdateRefs would, without a transaction
// and without taking the refs' locks: a ref not at its expected old value
// is ErrRefConflict, a new ref that is another's directory, or the other
// way round, ErrRefCollision. A concurrent writer may still move the refs
// afterwards.
func (r *Repo) CheckRefs(ctx context.Context, updates []revision.RefUpdate) error {
	for _, u := range updates {
		if err := ValidateRefName(u.Ref); err != nil {
			return err
		}
		refs, err := r.RefsNamed(ctx, u.Ref)
		if err != nil {
			return err
		}
		at := ""
		if len(refs) > 0 {
			at = refs[0].Target
		}
		if at != u.Old {
			if u.Old == "" {
				return fmt.Errorf("%w: %s: reference already exists", ErrRefConflict, u.Ref)
			}
			return fmt.Errorf("%w: %s is at %q but expected %s", ErrRefConflict, u.Ref, at, u.Old)
		}
		if u.Old != "" || u.New == "" {
			continue
		}
		below, err := r.RefsUnder(ctx, u.Ref+"/")
		if err != nil {
			return err
		}
		if len(below) > 0 {
			return fmt.Errorf("%w: %s exists; cannot create %s", ErrRefCollision, below[0].Name, u.Ref)
		}
		for p := path.Dir(u.Ref); strings.Count(p, "/") >= 2; p = path.Dir(p) {
			above, err := r.RefsNamed(ctx, p)
			if err != nil {
				return err
			}
			if len(above) > 0 {
				return fmt.Errorf("%w: %s exists; cannot create %s", ErrRefCollision, p, u.Ref)
			}
		}
	}
	return nil
}
