package gitrepo

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Quarantine is the object environment git gives a pre-receive hook: objects
// of a push not yet accepted. The fields are the values of the variables
// named in their comments, as the hook received them.
type Quarantine struct {
	ObjectDirectory            string // GIT_OBJECT_DIRECTORY
	AlternateObjectDirectories string // GIT_ALTERNATE_OBJECT_DIRECTORIES
	QuarantinePath             string // GIT_QUARANTINE_PATH
}

// WithQuarantine returns the repository reading through a push's
// quarantine: every git subprocess of the returned Repo (batches, logs,
// refs) sees the pushed objects as well as the repository's. Each directory
// the quarantine names must be an absolute path inside the repository's
// objects directory, compared after cleaning and resolving symbolic links on
// both sides, without ".." elements; otherwise the error names the variable.
// The checks keep a hook's environment from pointing the server at another
// repository's objects. An empty Quarantine returns r itself.
//
// Git refuses ref updates from inside a quarantine; the Repo is for reading.
func (r *Repo) WithQuarantine(q Quarantine) (*Repo, error) {
	if q == (Quarantine{}) {
		return r, nil
	}
	objects, err := filepath.EvalSymlinks(filepath.Join(r.gitDir, "objects"))
	if err != nil {
		return nil, fmt.Errorf("quarantine: objects directory: %w", err)
	}
	if q.ObjectDirectory == "" {
		return nil, fmt.Errorf("quarantine: GIT_OBJECT_DIRECTORY is not set")
	}
	objDir, err := insideObjects(objects, q.ObjectDirectory)
	if err != nil {
		return nil, fmt.Errorf("quarantine: GIT_OBJECT_DIRECTORY: %w", err)
	}
	env := []string{"GIT_OBJECT_DIRECTORY=" + objDir}

	// Git may quote a list entry holding a colon; such an entry is refused
	// rather than unquoted: the repository's own path holds none.
	var alternates []string
	for _, a := range strings.Split(q.AlternateObjectDirectories, string(filepath.ListSeparator)) {
		if a == "" {
			continue
		}
		dir, err := insideObjects(objects, a)
		if err != nil {
			return nil, fmt.Errorf("quarantine: GIT_ALTERNATE_OBJECT_DIRECTORIES: %w", err)
		}
		alternates = append(alternates, dir)
	}
	// Without the repository's own objects in the list git would see only
	// the pushed ones; they are always added.
	if !slices.Contains(alternates, objects) {
		alternates = append(alternates, objects)
	}
	env = append(env, "GIT_ALTERNATE_OBJECT_DIRECTORIES="+strings.Join(alternates, string(filepath.ListSeparator)))

	if q.QuarantinePath != "" {
		dir, err := insideObjects(objects, q.QuarantinePath)
		if err != nil {
			return nil, fmt.Errorf("quarantine: GIT_QUARANTINE_PATH: %w", err)
		}
		env = append(env, "GIT_QUARANTINE_PATH="+dir)
	}
	return &Repo{gitDir: r.gitDir, env: append(slices.Clone(r.env), env...)}, nil
}

// insideObjects checks that dir is the objects directory (already resolved)
// or below it, and returns it cleaned and resolved.
func insideObjects(objects, dir string) (string, error) {
	if strings.ContainsAny(dir, "\x00\n\"") {
		return "", fmt.Errorf("%q is not a plain path", dir)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%q is not an absolute path", dir)
	}
	if slices.Contains(strings.Split(filepath.ToSlash(dir), "/"), "..") {
		return "", fmt.Errorf("%q holds a \"..\" element", dir)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Clean(dir))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(objects, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%q is outside the repository's objects directory", dir)
	}
	return resolved, nil
}
