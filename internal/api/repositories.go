package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Bounds of a repository's sync interval.
const (
	minSyncInterval = 5 * time.Second
	maxSyncInterval = 24 * time.Hour
)

func checkNamespace(ns string) error {
	if !revision.IsLabel(ns) {
		return badRequest("namespace %q is not an RFC 1123 label", ns)
	}
	return nil
}

// repositoryObject is a repository as the API shows it: for a hosted one,
// with the URLs it is cloned from.
func (s *Server) repositoryObject(r *store.Repository) configv1alpha1.Repository {
	obj := r.Object
	obj.APIVersion, obj.Kind = configv1alpha1.APIVersion, "Repository"
	if obj.Spec.Provider == configv1alpha1.ProviderHosted && s.hosted != nil {
		urls := s.hosted.CloneURLs(obj.Namespace, obj.Name)
		obj.Status.CloneURLs = &urls
	}
	if s.webhookURL != nil {
		obj.Status.WebhookURL = s.webhookURL(&obj)
	}
	return obj
}

func (s *Server) getRepository(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	r, err := s.store.GetRepository(c.Request().Context(), ns, name)
	if err != nil {
		return repoErr(err, name)
	}
	return writeJSON(c, http.StatusOK, s.repositoryObject(r))
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func repoErr(err error, name string) error {
	if isNotFound(err) {
		return notFound("repositories", name)
	}
	return err
}

func (s *Server) createRepository(c echo.Context) error {
	ns := c.Param("ns")
	if err := checkNamespace(ns); err != nil {
		return err
	}
	obj, opts, err := decodeWrite[configv1alpha1.Repository](c, ns, store.RoleAdmin, "Repository", MaxBodyBytes)
	if err != nil {
		return err
	}
	out, err := s.createRepositoryObject(c, ns, obj, opts)
	return writeResult(c, http.StatusCreated, out, err)
}

// createRepositoryObject registers the repository obj in namespace ns (or,
// in a dry run, checks that it could) and returns it as the API shows it.
// Its managers are stored with it: those of the PATCH that calls, else
// the creator's (trackRepository).
func (s *Server) createRepositoryObject(c echo.Context, ns string, obj *configv1alpha1.Repository, opts writeOptions) (*configv1alpha1.Repository, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	if err := authorize(c, ns, store.RoleAdmin); err != nil {
		return nil, err
	}
	if obj.Namespace != "" && obj.Namespace != ns {
		return nil, badRequest("metadata.namespace %q does not match the namespace of the URL, %q", obj.Namespace, ns)
	}
	obj.Namespace = ns
	if causes := s.validateRepository(obj); len(causes) > 0 {
		return nil, invalid("Repository", obj.Name, causes)
	}
	if err := s.checkLocal(c, obj); err != nil {
		return nil, err
	}
	// What the server owns is not the client's to set.
	obj.ResourceVersion, obj.UID, obj.CreationTimestamp = "", "", metav1.Time{}
	obj.Generation = 1
	obj.Status = configv1alpha1.RepositoryStatus{Conditions: []metav1.Condition{{
		Type: "Ready", Status: metav1.ConditionUnknown, Reason: "Syncing", Message: "the first sync is under way",
		LastTransitionTime: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
	}}}
	sent, err := s.trackRepository(c, nil, obj, opts)
	if err != nil {
		return nil, err
	}
	r := &store.Repository{Object: *obj}
	ctx := c.Request().Context()
	if _, err := s.store.GetRepository(ctx, ns, obj.Name); err == nil {
		return nil, alreadyExists("repositories", obj.Name)
	} else if !isNotFound(err) {
		return nil, err
	}
	if opts.DryRun {
		// As kube-apiserver answers a dry-run create: the object as it
		// would be stored, with its uid and creation time, without a
		// resource version.
		r.Object.UID = uuid.NewUUID()
		r.Object.CreationTimestamp = metav1.NewTime(time.Now().UTC().Truncate(time.Second))
		out := s.repositoryObject(r)
		out.ManagedFields = sent
		return &out, nil
	}
	if obj.Spec.Provider == configv1alpha1.ProviderHosted {
		// The git repository first: a Repository in the index always has
		// its git. One left from an earlier registration is adopted.
		if err := s.hosted.Create(ctx, ns, obj.Name, obj.Spec.Git.Branch); err != nil {
			return nil, err
		}
	}
	if err := s.store.CreateRepository(ctx, r); errors.Is(err, store.ErrExists) {
		return nil, alreadyExists("repositories", obj.Name) // created meanwhile
	} else if err != nil {
		return nil, err
	}
	s.syncer.Add(r)
	out := s.repositoryObject(r)
	out.ManagedFields = sent
	return &out, nil
}

func (s *Server) updateRepository(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	obj, opts, err := decodeWrite[configv1alpha1.Repository](c, ns, store.RoleAdmin, "Repository", MaxBodyBytes)
	if err != nil {
		return err
	}
	out, err := s.replaceRepository(c, ns, name, obj, opts)
	return writeResult(c, http.StatusOK, out, err)
}

// replaceRepository replaces repository ns/name by obj (or, in a dry run,
// checks that it could) and returns it as the API shows it. Its managers
// are stored with it: those of the PATCH that calls, else the updater's
// over the live ones (trackRepository).
func (s *Server) replaceRepository(c echo.Context, ns, name string, obj *configv1alpha1.Repository, opts writeOptions) (*configv1alpha1.Repository, error) {
	if err := authorize(c, ns, store.RoleAdmin); err != nil {
		return nil, err
	}
	if obj.Name != name || (obj.Namespace != "" && obj.Namespace != ns) {
		return nil, badRequest("the object's name and namespace must be those of the URL")
	}
	obj.Namespace = ns
	causes := s.validateRepository(obj)
	if obj.ResourceVersion == "" {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueRequired, Field: "metadata.resourceVersion",
			Message: "must be specified for an update"})
	}
	if len(causes) > 0 {
		return nil, invalid("Repository", name, causes)
	}
	ctx := c.Request().Context()
	old, err := s.store.GetRepository(ctx, ns, name)
	if err != nil {
		return nil, repoErr(err, name)
	}
	if old.Object.Spec.Git.URL != obj.Spec.Git.URL {
		if err := s.checkLocal(c, obj); err != nil {
			return nil, err
		}
	}
	if old.Object.Spec.Provider != obj.Spec.Provider {
		return nil, invalid("Repository", name, []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.provider",
			Message: fmt.Sprintf("cannot be changed (from %s to %s): register the repository anew", old.Object.Spec.Provider, obj.Spec.Provider)}})
	}
	// The status is the server's; metadata it owns is kept.
	obj.Status, obj.UID, obj.CreationTimestamp, obj.Generation = old.Object.Status, old.Object.UID, old.Object.CreationTimestamp, old.Object.Generation
	if !equalSpec(old.Object.Spec, obj.Spec) {
		obj.Generation++
	}
	sent, err := s.trackRepository(c, &old.Object, obj, opts)
	if err != nil {
		return nil, err
	}
	r := &store.Repository{ID: old.ID, Object: *obj}
	if opts.DryRun {
		// The store's own check, without the write: the resource version
		// the client read must be the current one.
		if obj.ResourceVersion != old.Object.ResourceVersion {
			return nil, repoErr(fmt.Errorf("repository %s/%s: %w", ns, name, store.ErrConflict), name)
		}
		out := s.repositoryObject(r)
		out.ManagedFields = sent
		return &out, nil
	}
	if err := s.store.UpdateRepository(ctx, r); err != nil {
		return nil, repoErr(err, name)
	}
	if old.Object.Spec.Git != obj.Spec.Git {
		// Another repository, branch or directory: the index is built anew.
		s.syncer.Reset(old, r)
	} else {
		s.syncer.Add(r)
	}
	out := s.repositoryObject(r)
	out.ManagedFields = sent
	return &out, nil
}

// deletePreconditions refuses the delete of repository r if the
// preconditions of opts are not its uid and resource version.
func deletePreconditions(r *store.Repository, opts deleteOptions) error {
	var msg string
	switch {
	case opts.UID != "" && opts.UID != r.Object.UID:
		msg = fmt.Sprintf("the precondition uid %s is not the repository's, %s", opts.UID, r.Object.UID)
	case opts.ResourceVersion != 0 && strconv.FormatInt(opts.ResourceVersion, 10) != r.Object.ResourceVersion:
		msg = fmt.Sprintf("the precondition resource version %d is not the repository's, %s", opts.ResourceVersion, r.Object.ResourceVersion)
	default:
		return nil
	}
	st := newStatus(http.StatusConflict, metav1.StatusReasonConflict, "repositories %q: %s", r.Object.Name, msg)
	st.status.Details = &metav1.StatusDetails{Name: r.Object.Name, Group: configGroup, Kind: "repositories"}
	return st
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalSpec(a, b configv1alpha1.RepositorySpec) bool {
	if a.Type != b.Type || a.Deployment != b.Deployment || a.Provider != b.Provider || a.Git != b.Git ||
		a.WebhookSecret != b.WebhookSecret || !equalPtr(a.GitHub, b.GitHub) || !equalPtr(a.GitLab, b.GitLab) || a.RequireRendered != b.RequireRendered {
		return false
	}
	ai, bi := time.Duration(0), time.Duration(0)
	if a.Sync != nil {
		ai = a.Sync.Interval.Duration
	}
	if b.Sync != nil {
		bi = b.Sync.Interval.Duration
	}
	return ai == bi
}

func (s *Server) deleteRepository(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleAdmin); err != nil {
		return err
	}
	opts, err := parseDeleteOptions(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.store.GetRepository(ctx, ns, name)
	if err != nil {
		return repoErr(err, name)
	}
	if err := deletePreconditions(r, opts); err != nil {
		return err
	}
	if !opts.DryRun {
		if err := s.store.DeleteRepository(ctx, ns, name); err != nil {
			return repoErr(err, name)
		}
		s.syncer.Remove(r)
	}
	return writeJSON(c, http.StatusOK, metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: name, Group: configGroup, Kind: "repositories", UID: r.Object.UID},
	})
}

// syncRepository syncs a repository now and answers with it once synced.
func (s *Server) syncRepository(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleWrite); err != nil {
		return err
	}
	dryRun, err := parseDryRun(c.QueryParams()["dryRun"])
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.store.GetRepository(ctx, ns, name)
	if err != nil {
		return repoErr(err, name)
	}
	if dryRun {
		// A sync reads git into the index: its outcome is known only by
		// fetching, which writes the mirror. A dry run checks the request
		// and answers the repository as it is.
		c.Response().Header().Add("Warning", warningHeader("dry run: the repository was not synced"))
		return writeJSON(c, http.StatusOK, s.repositoryObject(r))
	}
	// A failed sync is the repository's news, told by its Ready condition.
	_ = s.syncer.SyncNow(ctx, ns, name)
	if r, err = s.store.GetRepository(ctx, ns, name); err != nil {
		return repoErr(err, name)
	}
	return writeJSON(c, http.StatusOK, s.repositoryObject(r))
}

// validateRepository checks a repository and fills in its defaults.
func (s *Server) validateRepository(obj *configv1alpha1.Repository) []metav1.StatusCause {
	var errs field.ErrorList
	if obj.APIVersion != "" && obj.APIVersion != configv1alpha1.APIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), obj.APIVersion, "must be "+configv1alpha1.APIVersion))
	}
	if obj.Kind != "" && obj.Kind != "Repository" {
		errs = append(errs, field.Invalid(field.NewPath("kind"), obj.Kind, "must be Repository"))
	}
	md := field.NewPath("metadata")
	if !revision.IsLabel(obj.Name) {
		errs = append(errs, field.Invalid(md.Child("name"), obj.Name,
			"must be an RFC 1123 label (lower-case letters, digits and '-', at most 63): it starts the names of the repository's package revisions"))
	}
	errs = append(errs, metav1validation.ValidateLabels(obj.Labels, md.Child("labels"))...)
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(obj.Annotations, md.Child("annotations"))...)

	spec := field.NewPath("spec")
	if obj.Spec.Type == "" {
		obj.Spec.Type = "git"
	}
	if obj.Spec.Type != "git" {
		errs = append(errs, field.NotSupported(spec.Child("type"), obj.Spec.Type, []string{"git"}))
	}
	if obj.Spec.Provider == "" {
		obj.Spec.Provider = configv1alpha1.ProviderGit
	}
	git := spec.Child("git")
	switch obj.Spec.Provider {
	case configv1alpha1.ProviderGit:
		if msg := checkURL(obj.Spec.Git.URL); msg != "" {
			errs = append(errs, field.Invalid(git.Child("url"), gitrepo.SanitizeURL(obj.Spec.Git.URL), msg))
		}
	case configv1alpha1.ProviderHosted:
		if s.hosted == nil {
			errs = append(errs, field.Invalid(spec.Child("provider"), obj.Spec.Provider, "this server does not host git repositories"))
		}
		if obj.Spec.Git.URL != "" {
			errs = append(errs, field.Invalid(git.Child("url"), gitrepo.SanitizeURL(obj.Spec.Git.URL),
				"a hosted repository lives on this server: leave the URL empty (status.cloneURLs tells where to clone it)"))
		}
		if obj.Spec.Git.Credentials != "" {
			errs = append(errs, field.Invalid(git.Child("credentials"), obj.Spec.Git.Credentials, "a hosted repository needs no credentials"))
		}
	case configv1alpha1.ProviderGitHub, configv1alpha1.ProviderGitLab:
		if msg := checkURL(obj.Spec.Git.URL); msg != "" {
			errs = append(errs, field.Invalid(git.Child("url"), gitrepo.SanitizeURL(obj.Spec.Git.URL), msg))
		}
		if ws := obj.Spec.WebhookSecret; !revision.IsLabel(ws) {
			errs = append(errs, field.Invalid(spec.Child("webhookSecret"), ws, "must name a stored secret (pkgserver secret set NAME --token-file F): an RFC 1123 label"))
		}
		errs = append(errs, validateForge(spec, obj)...)
	default:
		errs = append(errs, field.NotSupported(spec.Child("provider"), obj.Spec.Provider, []string{"git", "hosted", "github", "gitlab"}))
	}
	if obj.Spec.Git.Branch == "" {
		obj.Spec.Git.Branch = "main"
	}
	if err := gitrepo.ValidateRefName(revision.BranchesPrefix + obj.Spec.Git.Branch); err != nil {
		errs = append(errs, field.Invalid(git.Child("branch"), obj.Spec.Git.Branch, "not a valid branch name"))
	}
	obj.Spec.Git.Directory = strings.Trim(obj.Spec.Git.Directory, "/")
	if d := obj.Spec.Git.Directory; d != "" {
		for _, seg := range strings.Split(d, "/") {
			if gitrepo.ValidatePathElement(seg) != nil {
				errs = append(errs, field.Invalid(git.Child("directory"), d, "must be a relative path of plain names"))
				break
			}
		}
	}
	if cr := obj.Spec.Git.Credentials; cr != "" && !revision.IsLabel(cr) {
		errs = append(errs, field.Invalid(git.Child("credentials"), cr, "must name a secret: an RFC 1123 label"))
	}
	if sy := obj.Spec.Sync; sy != nil {
		if d := sy.Interval.Duration; d != 0 && (d < minSyncInterval || d > maxSyncInterval) {
			errs = append(errs, field.Invalid(spec.Child("sync", "interval"), d.String(),
				fmt.Sprintf("must be between %s and %s", minSyncInterval, maxSyncInterval)))
		}
	}
	var causes []metav1.StatusCause
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Field: e.Field, Message: e.ErrorBody()})
	}
	return causes
}

// checkLocal guards repositories read from the server's own disk: a local
// path may name any repository there, other namespaces' hosted ones and
// mirrors included, so only an admin of every namespace may register one,
// and never one inside the data directory.
func (s *Server) checkLocal(c echo.Context, obj *configv1alpha1.Repository) error {
	p, ok := reconcile.LocalPath(obj.Spec.Git.URL)
	if !ok || obj.Spec.Provider == configv1alpha1.ProviderHosted {
		return nil
	}
	if t, _ := c.Get(tokenKey).(*store.Token); t == nil || t.Namespace != store.AllNamespaces || t.Role != store.RoleAdmin {
		return newStatus(http.StatusForbidden, "Forbidden", "a local path reads the server's disk: registering one takes an admin token of every namespace")
	}
	if s.dataDir == "" {
		return nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return badRequest("spec.git.url: %v", err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	data, err := filepath.Abs(s.dataDir)
	if err != nil {
		return err
	}
	if resolved, err := filepath.EvalSymlinks(data); err == nil {
		data = resolved
	}
	if rel, err := filepath.Rel(data, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return invalid("Repository", obj.Name, []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.git.url",
			Message: "is inside the server's data directory: register hosted repositories with provider hosted"}})
	}
	return nil
}

// validateForge checks the forge coordinates of a github or gitlab
// repository, and that the other forge's are absent.
func validateForge(spec *field.Path, obj *configv1alpha1.Repository) field.ErrorList {
	var errs field.ErrorList
	checkBase := func(p *field.Path, raw string) {
		if raw == "" {
			return
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			errs = append(errs, field.Invalid(p, raw, "must be an http(s) URL without credentials"))
		}
	}
	name := func(p *field.Path, v string) {
		if v == "" || len(v) > 100 || strings.ContainsAny(v, "/ \t\n?#%") {
			errs = append(errs, field.Invalid(p, v, "must be a name on the forge"))
		}
	}
	switch obj.Spec.Provider {
	case configv1alpha1.ProviderGitHub:
		if obj.Spec.GitHub == nil {
			return append(errs, field.Required(spec.Child("github"), "owner and repo of the repository on GitHub"))
		}
		name(spec.Child("github", "owner"), obj.Spec.GitHub.Owner)
		name(spec.Child("github", "repo"), obj.Spec.GitHub.Repo)
		checkBase(spec.Child("github", "baseURL"), obj.Spec.GitHub.BaseURL)
		if obj.Spec.GitLab != nil {
			errs = append(errs, field.Forbidden(spec.Child("gitlab"), "a github repository has no gitlab coordinates"))
		}
	case configv1alpha1.ProviderGitLab:
		if obj.Spec.GitLab == nil {
			return append(errs, field.Required(spec.Child("gitlab"), "the project's path or id on GitLab"))
		}
		if p := obj.Spec.GitLab.Project; p == "" || len(p) > 255 || strings.ContainsAny(p, " \t\n?#%") || strings.Contains(p, "..") {
			errs = append(errs, field.Invalid(spec.Child("gitlab", "project"), p, "must be a project path (group/project) or id"))
		}
		checkBase(spec.Child("gitlab", "baseURL"), obj.Spec.GitLab.BaseURL)
		if obj.Spec.GitHub != nil {
			errs = append(errs, field.Forbidden(spec.Child("github"), "a gitlab repository has no github coordinates"))
		}
	}
	return errs
}

// checkURL says what is wrong with a repository URL, or "".
func checkURL(raw string) string {
	switch {
	case raw == "":
		return "is required"
	case strings.ContainsAny(raw, "\x00\n\r\t "):
		return "must not contain spaces or control characters"
	}
	if p, ok := reconcile.LocalPath(raw); ok {
		if !path.IsAbs(p) {
			return "a local repository must be given by its absolute path"
		}
		return ""
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "http", "https", "ssh", "git":
			if u.Host == "" {
				return "has no host"
			}
			if _, ok := u.User.Password(); ok {
				return "must not hold a password: store it with pkgserver secret set and name it in spec.git.credentials"
			}
			return ""
		}
		return "scheme " + u.Scheme + " is not supported (http, https, ssh, git, file)"
	}
	return "" // scp-like SSH address, user@host:path
}
