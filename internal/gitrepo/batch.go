package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrObjectNotFound is returned for an object or path that does not exist.
var ErrObjectNotFound = errors.New("object not found")

// Object is a raw git object.
type Object struct {
	ID   string
	Type string
	Size int64
	Data []byte
}

// Batch reads objects through one `git cat-file --batch` process, and
// answers Info through a `git cat-file --batch-check` process started when
// first needed. Requests are names git understands: an object id, or
// <commit>:<path>. A Batch is not safe for concurrent use; use one per
// goroutine.
type Batch struct {
	*catFile // the --batch process
	closed   bool

	// check answers Info, without the objects' content: a second process,
	// `git cat-file --batch-check`, started by the first Info.
	check    *catFile
	newCheck func() *exec.Cmd

	// repo is where the Batch reads, for TreeFS to refuse another
	// repository's Batch; fsMu serializes the file systems reading through
	// the Batch.
	repo repoID
	fsMu sync.Mutex
}

// repoID tells which repository, and which objects, git commands read.
type repoID struct {
	gitDir string
	env    string
}

func (r *Repo) id() repoID {
	return repoID{gitDir: r.gitDir, env: strings.Join(r.env, "\x00")}
}

// catFile is a running `git cat-file --batch*` process.
type catFile struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	in    *bufio.Writer
	out   *bufio.Reader
}

func startCatFile(cmd *exec.Cmd, outBuf int) (*catFile, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start git cat-file: %w", err)
	}
	return &catFile{
		cmd:   cmd,
		stdin: stdin,
		in:    bufio.NewWriterSize(stdin, 64<<10),
		out:   bufio.NewReaderSize(stdout, outBuf),
	}, nil
}

func (c *catFile) close() error {
	c.stdin.Close()
	_, _ = io.Copy(io.Discard, c.out)
	return c.cmd.Wait()
}

// NewBatch starts `git cat-file --batch`, which returns objects with their
// content. The processes of the Batch live until Close, or until ctx ends.
func (r *Repo) NewBatch(ctx context.Context) (*Batch, error) {
	c, err := startCatFile(r.command(ctx, "cat-file", "--batch"), 256<<10)
	if err != nil {
		return nil, err
	}
	return &Batch{
		catFile:  c,
		newCheck: func() *exec.Cmd { return r.command(ctx, "cat-file", "--batch-check") },
		repo:     r.id(),
	}, nil
}

// Close ends the processes.
func (b *Batch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var cerr error
	if b.check != nil {
		cerr = b.check.close()
		b.check = nil
	}
	return errors.Join(b.catFile.close(), cerr)
}

func validSpec(spec string) error {
	if spec == "" || strings.ContainsAny(spec, "\n\r\x00") {
		return fmt.Errorf("invalid object name %q", spec)
	}
	return nil
}

// Read returns one object. A missing object or path is ErrObjectNotFound.
func (b *Batch) Read(spec string) (*Object, error) {
	if err := validSpec(spec); err != nil {
		return nil, err
	}
	if _, err := b.in.WriteString(spec + "\n"); err != nil {
		return nil, err
	}
	if err := b.in.Flush(); err != nil {
		return nil, err
	}
	return b.next(spec)
}

// Info returns an object's id, type and size without its content, as
// `git cat-file --batch-check` does: what a caller asks before reading a
// blob that may be too large to hold; the Object has no Data. A missing
// object or path is ErrObjectNotFound.
func (b *Batch) Info(spec string) (*Object, error) {
	if err := validSpec(spec); err != nil {
		return nil, err
	}
	if b.closed {
		return nil, errors.New("git cat-file: batch is closed")
	}
	if b.check == nil {
		c, err := startCatFile(b.newCheck(), 4<<10)
		if err != nil {
			return nil, err
		}
		b.check = c
	}
	if _, err := b.check.in.WriteString(spec + "\n"); err != nil {
		return nil, err
	}
	if err := b.check.in.Flush(); err != nil {
		return nil, err
	}
	return readHeader(b.check.out, spec)
}

// ReadAll reads many objects with the requests written while the answers
// are read, so that the process never waits for a round trip. fn is called
// for each in order; a missing object gets a nil object.
func (b *Batch) ReadAll(specs []string, fn func(i int, obj *Object) error) error {
	for _, s := range specs {
		if err := validSpec(s); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, s := range specs {
			if _, err := b.in.WriteString(s + "\n"); err != nil {
				writeErr = err
				return
			}
		}
		writeErr = b.in.Flush()
	}()
	var err error
	for i, s := range specs {
		var obj *Object
		obj, err = b.next(s)
		if errors.Is(err, ErrObjectNotFound) {
			obj, err = nil, nil
		}
		if err != nil {
			break
		}
		if err = fn(i, obj); err != nil {
			break
		}
	}
	if err != nil {
		// The process may still be answering requests we no longer want:
		// it cannot be reused.
		b.stdin.Close()
		b.closed = true
		_ = b.cmd.Process.Kill()
		wg.Wait()
		_ = b.cmd.Wait()
		if b.check != nil {
			_ = b.check.close()
			b.check = nil
		}
		return err
	}
	wg.Wait()
	return writeErr
}

func (b *Batch) next(spec string) (*Object, error) {
	obj, err := readHeader(b.out, spec)
	if err != nil {
		return nil, err
	}
	obj.Data = make([]byte, obj.Size+1)
	if _, err := io.ReadFull(b.out, obj.Data); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	obj.Data = obj.Data[:obj.Size]
	return obj, nil
}

// readHeader reads the line cat-file answers a request with: id, type and
// size, or "missing".
func readHeader(out *bufio.Reader, spec string) (*Object, error) {
	header, err := out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	header = strings.TrimSuffix(header, "\n")
	if strings.HasSuffix(header, " missing") || strings.HasSuffix(header, " ambiguous") {
		return nil, fmt.Errorf("%s: %w", spec, ErrObjectNotFound)
	}
	f := strings.Fields(header)
	if len(f) != 3 {
		return nil, fmt.Errorf("git cat-file: unexpected header %q", header)
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("git cat-file: unexpected header %q", header)
	}
	return &Object{ID: f[0], Type: f[1], Size: size}, nil
}

// TreeEntry is one entry of a tree object.
type TreeEntry struct {
	Name string
	Mode uint32
	ID   string
}

// Git's file modes.
const (
	ModeTree    = 0o040000
	ModeFile    = 0o100644
	ModeExec    = 0o100755
	ModeSymlink = 0o120000
	ModeGitlink = 0o160000
)

// IsTree reports whether the entry is a directory.
func (e TreeEntry) IsTree() bool { return e.Mode == ModeTree }

// IsBlob reports whether the entry is a file or a symlink.
func (e TreeEntry) IsBlob() bool {
	return e.Mode == ModeFile || e.Mode == ModeExec || e.Mode == ModeSymlink || e.Mode&0o170000 == 0o100000
}

// ReadTree reads a tree object and returns its entries in git's order;
// another type of object is an error.
func (b *Batch) ReadTree(id string) ([]TreeEntry, error) {
	obj, err := b.Read(id)
	if err != nil {
		return nil, err
	}
	if obj.Type != "tree" {
		return nil, fmt.Errorf("object %s is a %s, not a tree", id, obj.Type)
	}
	return ParseTree(obj.Data)
}

// ParseTree decodes a tree object's content.
func ParseTree(data []byte) ([]TreeEntry, error) {
	var entries []TreeEntry
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return nil, errors.New("malformed tree: no mode")
		}
		mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed tree: mode %q", data[:sp])
		}
		data = data[sp+1:]
		nul := bytes.IndexByte(data, 0)
		if nul < 0 || len(data) < nul+1+20 {
			return nil, errors.New("malformed tree: truncated entry")
		}
		entries = append(entries, TreeEntry{
			Name: string(data[:nul]),
			Mode: uint32(mode),
			ID:   fmt.Sprintf("%x", data[nul+1:nul+21]),
		})
		data = data[nul+21:]
	}
	return entries, nil
}

// ParseCommit decodes a commit object.
func ParseCommit(obj *Object) (*object.Commit, error) {
	if obj.Type != "commit" {
		return nil, fmt.Errorf("%s is a %s, not a commit", obj.ID, obj.Type)
	}
	var c object.Commit
	if err := c.Decode(memoryObject(plumbing.CommitObject, obj.Data)); err != nil {
		return nil, fmt.Errorf("commit %s: %w", obj.ID, err)
	}
	c.Hash = plumbing.NewHash(obj.ID)
	return &c, nil
}

// ParseTag decodes an annotated tag object.
func ParseTag(obj *Object) (*object.Tag, error) {
	if obj.Type != "tag" {
		return nil, fmt.Errorf("%s is a %s, not a tag", obj.ID, obj.Type)
	}
	var t object.Tag
	if err := t.Decode(memoryObject(plumbing.TagObject, obj.Data)); err != nil {
		return nil, fmt.Errorf("tag %s: %w", obj.ID, err)
	}
	t.Hash = plumbing.NewHash(obj.ID)
	return &t, nil
}

func memoryObject(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	_, _ = o.Write(data)
	return o
}

// Log lists, newest first, the first-parent commits reachable from tip and
// not from the excluded commits, with the paths each changed below dir
// (merges compared with their first parent). fn returns false to stop.
func (r *Repo) Log(ctx context.Context, tip string, exclude []string, dir string, fn func(commit string, paths []string) bool) error {
	args := []string{"log", "--first-parent", "--diff-merges=first-parent", "--name-only", "--no-renames",
		"-z", "--format=%x01%H", tip}
	for _, e := range exclude {
		args = append(args, "^"+e)
	}
	args = append(args, "--")
	if dir != "" {
		args = append(args, dir)
	}
	cmd := r.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	rd := bufio.NewReaderSize(stdout, 256<<10)
	stopped := false
	var commit string
	var paths []string
	flush := func() bool {
		if commit != "" && !fn(commit, paths) {
			return false
		}
		commit, paths = "", nil
		return true
	}
	for {
		tok, err := rd.ReadString(0)
		tok = strings.TrimSuffix(tok, "\x00")
		tok = strings.TrimLeft(tok, "\n")
		if tok != "" {
			if strings.HasPrefix(tok, "\x01") {
				if !flush() {
					stopped = true
					break
				}
				// "\x01<hash>\n" is followed by the first path in the same
				// token when the commit changed paths.
				head, first, _ := strings.Cut(tok[1:], "\n")
				commit = head
				if first != "" {
					paths = append(paths, first)
				}
			} else {
				paths = append(paths, tok)
			}
		}
		if err != nil {
			break
		}
	}
	if !stopped {
		flush()
	} else {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if stopped || ctx.Err() != nil {
		return ctx.Err()
	}
	if werr != nil {
		return fmt.Errorf("git log: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}
