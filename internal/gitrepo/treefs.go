package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxLinks bounds the symbolic links followed to resolve one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// maxLinkTarget is the longest symbolic link target read: more is not a path
// any system would follow (PATH_MAX).
const maxLinkTarget = 4096

var (
	errNotDir       = errors.New("not a directory")
	errIsDir        = errors.New("is a directory")
	errTooManyLinks = errors.New("too many levels of symbolic links")
	// A link leaving the tree cannot be followed: what it names is not in
	// git. Like a dangling link, it names nothing.
	errLinkOutside = fmt.Errorf("symbolic link leads outside the tree: %w", fs.ErrNotExist)
)

// TreeID returns the id of the tree at path in commit (a commit id, or any
// name git resolves to a commit or a tree). Path is slash-separated; "" or
// "." is the root tree. A path that does not exist in the commit, or is not
// a tree, is ErrObjectNotFound.
func (b *Batch) TreeID(commit, p string) (string, error) {
	if commit == "" || strings.Contains(commit, ":") {
		return "", fmt.Errorf("invalid commit name %q", commit)
	}
	if p == "." {
		p = ""
	}
	if p != "" {
		if !fs.ValidPath(p) {
			return "", fmt.Errorf("invalid path %q", p)
		}
		for _, elem := range strings.Split(p, "/") {
			if err := ValidatePathElement(elem); err != nil {
				return "", fmt.Errorf("invalid path %q: %w", p, err)
			}
		}
	}
	return b.treeID(commit + ":" + p)
}

func (b *Batch) treeID(spec string) (string, error) {
	obj, err := b.Info(spec)
	if err != nil {
		return "", err
	}
	if obj.Type != "tree" {
		return "", fmt.Errorf("%s is a %s, not a tree: %w", spec, obj.Type, ErrObjectNotFound)
	}
	return obj.ID, nil
}

// TreeFS returns the files of a tree (a tree id, or <commit>:<path>) as a
// read-only fs.FS, for code that reads packages from file systems. It
// implements fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS.
//
//   - Trees are directories (mode 0755), blobs regular files, with mode 0755
//     when git records them executable and 0644 otherwise.
//   - Symbolic links are fs.ModeSymlink entries whose target ReadLink
//     returns. Open and Stat follow them inside the tree, as os.DirFS does;
//     a link leading outside the tree names nothing (fs.ErrNotExist).
//   - Submodules (gitlinks) are fs.ModeIrregular entries of size 0 and no
//     content: the commit they name belongs to another repository. They are
//     reported rather than hidden, so that a reader can refuse them.
//   - A tree holding a name that is not a single valid path element
//     (ValidatePathElement), or a name twice, cannot be read: listing it is
//     an *fs.PathError.
//
// Objects are read when asked for, through b. A file's size comes from
// `git cat-file --batch-check` (Batch.Info), so that Stat, Lstat and
// DirEntry.Info never read a blob's content; the content is read whole by
// the first Read, Seek or ReadAt of an open file and dropped when it is
// closed, or read by ReadFile. Tree listings, sizes and link targets are
// kept for the life of the FS.
//
// The FS is safe for concurrent use: its reads of b are serialized, with
// those of every other FS on b. b must stay open while the FS is used, and
// must not be used directly while the FS is used by another goroutine.
func (r *Repo) TreeFS(b *Batch, tree string) (fs.FS, error) {
	if b.repo != r.id() {
		return nil, errors.New("tree file system: the batch reads another repository")
	}
	b.fsMu.Lock()
	defer b.fsMu.Unlock()
	id, err := b.treeID(tree)
	if err != nil {
		return nil, err
	}
	return &treeFS{
		b:     b,
		root:  id,
		trees: map[string][]TreeEntry{},
		sizes: map[string]int64{},
		links: map[string]string{},
	}, nil
}

// treeFS is the file system of one tree. Every method holding no lock
// takes b.fsMu; the caches are read and written under it.
type treeFS struct {
	b     *Batch
	root  string
	trees map[string][]TreeEntry // tree id → entries sorted by name
	sizes map[string]int64       // blob id → size
	links map[string]string      // symlink blob id → target
}

var (
	_ fs.ReadDirFS   = (*treeFS)(nil)
	_ fs.ReadFileFS  = (*treeFS)(nil)
	_ fs.StatFS      = (*treeFS)(nil)
	_ fs.ReadLinkFS  = (*treeFS)(nil)
	_ fs.ReadDirFile = (*treeDir)(nil)
	_ io.ReaderAt    = (*treeFile)(nil)
	_ io.Seeker      = (*treeFile)(nil)
)

func (f *treeFS) lock() func() {
	f.b.fsMu.Lock()
	return f.b.fsMu.Unlock
}

// Open opens a file or a directory, following symbolic links.
func (f *treeFS) Open(name string) (fs.File, error) {
	defer f.lock()()
	e, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if e.IsTree() {
		entries, err := f.readDir("open", name, e)
		if err != nil {
			return nil, err
		}
		return &treeDir{fsys: f, name: name, entry: e, entries: entries}, nil
	}
	return &treeFile{fsys: f, name: name, entry: e}, nil
}

// ReadDir lists a directory, sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	defer f.lock()()
	e, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	return f.readDir("readdir", name, e)
}

// ReadFile returns a file's content.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	defer f.lock()()
	e, err := f.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	return f.content("readfile", name, e)
}

// Stat describes a file, following symbolic links.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	defer f.lock()()
	e, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.info("stat", name, e)
}

// Lstat describes a file; a symbolic link is described, not followed.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) {
	defer f.lock()()
	e, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.info("lstat", name, e)
}

// ReadLink returns a symbolic link's target.
func (f *treeFS) ReadLink(name string) (string, error) {
	defer f.lock()()
	e, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if e.Mode != ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := f.linkTarget(e.ID)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

// resolve finds the entry name leads to, following the symbolic links met
// on the way, and the last one when follow is set. The entry's Name is the
// last element of name, "." for the root.
func (f *treeFS) resolve(op, name string, follow bool) (TreeEntry, error) {
	if !fs.ValidPath(name) {
		return TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	fail := func(err error) (TreeEntry, error) {
		return TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	root := TreeEntry{Name: ".", Mode: ModeTree, ID: f.root}
	if name == "." {
		return root, nil
	}
	todo := strings.Split(name, "/")
	var done []string // the elements resolved, from the root
	cur, links := root, 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		if !cur.IsTree() {
			return fail(errNotDir)
		}
		entries, err := f.tree(cur.ID)
		if err != nil {
			return fail(err)
		}
		i, ok := slices.BinarySearchFunc(entries, elem, func(e TreeEntry, name string) int {
			return strings.Compare(e.Name, name)
		})
		if !ok {
			return fail(fs.ErrNotExist)
		}
		e := entries[i]
		if e.Mode == ModeSymlink && (len(todo) > 0 || follow) {
			if links++; links > maxLinks {
				return fail(errTooManyLinks)
			}
			target, err := f.linkTarget(e.ID)
			if err != nil {
				return fail(err)
			}
			if path.IsAbs(target) || strings.ContainsRune(target, 0) {
				return fail(errLinkOutside)
			}
			joined := path.Join(path.Join(done...), target)
			if joined == ".." || strings.HasPrefix(joined, "../") {
				return fail(errLinkOutside)
			}
			if joined != "." {
				todo = append(strings.Split(joined, "/"), todo...)
			}
			done, cur = nil, root
			continue
		}
		done = append(done, elem)
		cur = e
	}
	cur.Name = path.Base(name)
	return cur, nil
}

// tree returns a tree's entries, sorted by name, each name checked.
func (f *treeFS) tree(id string) ([]TreeEntry, error) {
	if entries, ok := f.trees[id]; ok {
		return entries, nil
	}
	entries, err := f.b.ReadTree(id)
	if err != nil {
		return nil, err
	}
	// Git sorts a tree's entries as if directories' names ended with a
	// slash; a file system lists them by name.
	slices.SortFunc(entries, func(a, b TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range entries {
		if err := ValidatePathElement(e.Name); err != nil {
			return nil, err
		}
		if i > 0 && entries[i-1].Name == e.Name {
			return nil, fmt.Errorf("tree %s holds %q twice", id, e.Name)
		}
	}
	f.trees[id] = entries
	return entries, nil
}

func (f *treeFS) readDir(op, name string, e TreeEntry) ([]fs.DirEntry, error) {
	if !e.IsTree() {
		return nil, &fs.PathError{Op: op, Path: name, Err: errNotDir}
	}
	entries, err := f.tree(e.ID)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	list := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		list[i] = &treeDirEntry{fsys: f, dir: name, entry: e}
	}
	return list, nil
}

// size returns a blob's size from its header, without its content.
func (f *treeFS) size(id string) (int64, error) {
	if n, ok := f.sizes[id]; ok {
		return n, nil
	}
	obj, err := f.b.Info(id)
	if err != nil {
		return 0, err
	}
	if obj.Type != "blob" {
		return 0, fmt.Errorf("%s is a %s, not a blob", id, obj.Type)
	}
	f.sizes[id] = obj.Size
	return obj.Size, nil
}

func (f *treeFS) linkTarget(id string) (string, error) {
	if t, ok := f.links[id]; ok {
		return t, nil
	}
	n, err := f.size(id)
	if err != nil {
		return "", err
	}
	if n > maxLinkTarget {
		return "", fmt.Errorf("symbolic link target of %d bytes", n)
	}
	data, err := f.blob(id)
	if err != nil {
		return "", err
	}
	t := string(data)
	f.links[id] = t
	return t, nil
}

func (f *treeFS) blob(id string) ([]byte, error) {
	obj, err := f.b.Read(id)
	if err != nil {
		return nil, err
	}
	if obj.Type != "blob" {
		return nil, fmt.Errorf("%s is a %s, not a blob", id, obj.Type)
	}
	f.sizes[id] = obj.Size
	return obj.Data, nil
}

// content returns the content of a file: none for a submodule or another
// irregular entry.
func (f *treeFS) content(op, name string, e TreeEntry) ([]byte, error) {
	switch {
	case e.IsTree():
		return nil, &fs.PathError{Op: op, Path: name, Err: errIsDir}
	case !e.IsBlob():
		return []byte{}, nil
	}
	data, err := f.blob(e.ID)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return data, nil
}

func (f *treeFS) info(op, name string, e TreeEntry) (fs.FileInfo, error) {
	fi := &treeFileInfo{entry: e}
	if e.IsBlob() {
		n, err := f.size(e.ID)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		fi.size = n
	}
	return fi, nil
}

// fileMode is the fs.FileMode of a git mode.
func fileMode(m uint32) fs.FileMode {
	switch {
	case m == ModeTree:
		return fs.ModeDir | 0o755
	case m == ModeSymlink:
		return fs.ModeSymlink | 0o777
	case m&0o170000 == 0o100000:
		if m&0o111 != 0 {
			return 0o755
		}
		return 0o644
	default: // gitlinks, and modes git does not write
		return fs.ModeIrregular
	}
}

// treeFileInfo describes a tree entry. Sys returns the TreeEntry.
type treeFileInfo struct {
	entry TreeEntry
	size  int64
}

func (i *treeFileInfo) Name() string       { return i.entry.Name }
func (i *treeFileInfo) Size() int64        { return i.size }
func (i *treeFileInfo) Mode() fs.FileMode  { return fileMode(i.entry.Mode) }
func (i *treeFileInfo) ModTime() time.Time { return time.Time{} }
func (i *treeFileInfo) IsDir() bool        { return i.entry.IsTree() }
func (i *treeFileInfo) Sys() any           { return i.entry }

// treeDirEntry is an entry of a directory listing; Info asks for the size
// of a blob only when called.
type treeDirEntry struct {
	fsys  *treeFS
	dir   string
	entry TreeEntry
}

func (d *treeDirEntry) Name() string      { return d.entry.Name }
func (d *treeDirEntry) IsDir() bool       { return d.entry.IsTree() }
func (d *treeDirEntry) Type() fs.FileMode { return fileMode(d.entry.Mode).Type() }
func (d *treeDirEntry) String() string    { return fs.FormatDirEntry(d) }

func (d *treeDirEntry) Info() (fs.FileInfo, error) {
	defer d.fsys.lock()()
	return d.fsys.info("stat", path.Join(d.dir, d.entry.Name), d.entry)
}

// treeDir is an open directory.
type treeDir struct {
	fsys    *treeFS
	name    string
	entry   TreeEntry
	mu      sync.Mutex
	entries []fs.DirEntry
	off     int
	closed  bool
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return &treeFileInfo{entry: d.entry}, nil }

func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}

func (d *treeDir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}

// treeFile is an open file. Its content is read by the first Read, Seek or
// ReadAt and dropped by Close.
type treeFile struct {
	fsys   *treeFS
	name   string
	entry  TreeEntry
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func (f *treeFile) Stat() (fs.FileInfo, error) {
	defer f.fsys.lock()()
	return f.fsys.info("stat", f.name, f.entry)
}

// reader returns the content's reader, reading the content if needed; the
// caller holds f.mu.
func (f *treeFile) reader(op string) (*bytes.Reader, error) {
	if f.closed {
		return nil, &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.r == nil {
		unlock := f.fsys.lock()
		data, err := f.fsys.content(op, f.name, f.entry)
		unlock()
		if err != nil {
			return nil, err
		}
		f.r = bytes.NewReader(data)
	}
	return f.r, nil
}

func (f *treeFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.reader("read")
	if err != nil {
		return 0, err
	}
	return r.Read(p)
}

func (f *treeFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.reader("read")
	if err != nil {
		return 0, err
	}
	return r.ReadAt(p, off)
}

func (f *treeFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.reader("seek")
	if err != nil {
		return 0, err
	}
	return r.Seek(offset, whence)
}

func (f *treeFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.r = true, nil
	return nil
}
