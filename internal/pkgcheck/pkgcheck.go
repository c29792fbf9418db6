package pkgcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// PoliciesDir is where a repository keeps its own policies, on its branch.
// Changing them takes the admin role.
const PoliciesDir = ".pkgserver/policies"

// Engines gives the validation engine for a repository's policies: the
// files of the tree at PoliciesDir on its branch (tree "" when there are
// none).
type Engines interface {
	Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policiesTree string) (*validate.Engine, error)
}

// Service validates packages with repositories' policies.
type Service struct {
	// Engines builds (and keeps) the engines of repositories' policies.
	Engines Engines
	// rules are those of the repository validated (For), the defaults
	// unless set.
	rules Rules
}

// New returns the service validating with base (the default policies,
// --policy files, --schemas, limits) and the built-in schemas, on top of
// which each repository's policies apply.
func New(base validate.Config) *Service {
	return &Service{Engines: &EngineCache{Base: base, Builtin: schema.NewBuiltin()}}
}

// Report is the outcome of validating packages.
type Report struct {
	// Accept is false when the packages are not all valid.
	Accept bool
	// Lines tell the outcome, line by line, as a pusher reads it.
	Lines []string
	// Validated counts the packages validated; Packages are their paths,
	// Results the findings, with file paths from the repository's root.
	Validated int
	Packages  []string
	Results   []result.Result
	// Checked are the packages validated with their trees and their own
	// findings (and those of no package, such as a policy that does not
	// compile, which concern them all).
	Checked []CheckedPackage
}

// CheckedPackage is one package a report validated.
type CheckedPackage struct {
	Full, Tree string
	Results    []result.Result
}

// Validations returns the outcome for each package tree validated, as the
// index keeps it.
func (r *Report) Validations(at time.Time) map[string]*store.Validation {
	out := map[string]*store.Validation{}
	for _, c := range r.Checked {
		out[c.Tree] = NewValidation(c.Results, at)
	}
	return out
}

// NewValidation is the outcome of validating a package, as the index
// keeps it.
func NewValidation(results []result.Result, at time.Time) *store.Validation {
	errs, warnings, _ := result.Count(results)
	v := &store.Validation{Errors: errs, Warnings: warnings, At: at.UTC()}
	if len(results) > 0 {
		v.Results, _ = json.Marshal(results) // plain values: cannot fail
	}
	return v
}

// Run is one validation: packages are queued, then validated together
// with the repository's policies as of a branch tip.
type Run struct {
	svc       *Service
	ctx       context.Context
	repo      *gitrepo.Repo
	batch     *gitrepo.Batch
	branchTip string
	pkgs      map[string]*queued
	order     []string
	eng       *validate.Engine
	engErr    error
}

type queued struct {
	full     string
	tree     string
	previous string // tree of the previous published revision, or ""
}

// Start begins a validation reading through a batch the caller has open,
// with the policies of branchTip ("": the branch does not exist).
func (s *Service) Start(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, branchTip string) *Run {
	return &Run{svc: s, ctx: ctx, repo: repo, batch: b, branchTip: branchTip, pkgs: map[string]*queued{}}
}

// Add queues a package's tree, with the tree of its previous published
// revision ("" for none), once.
func (r *Run) Add(full, tree, previous string) {
	key := full + "\x00" + tree
	if _, ok := r.pkgs[key]; ok {
		return
	}
	r.pkgs[key] = &queued{full: full, tree: tree, previous: previous}
	r.order = append(r.order, key)
}

// Len is the number of packages queued.
func (r *Run) Len() int { return len(r.order) }

// engine returns the engine of the repository's policies as of the branch
// tip; an error is a problem of those policies.
func (r *Run) engine() (*validate.Engine, error) {
	if r.eng == nil && r.engErr == nil {
		policies := ""
		if r.branchTip != "" {
			policies, r.engErr = r.batch.TreeID(r.branchTip, PoliciesDir)
			if errors.Is(r.engErr, gitrepo.ErrObjectNotFound) {
				policies, r.engErr = "", nil
			}
			if r.engErr != nil {
				return nil, r.engErr
			}
		}
		r.eng, r.engErr = r.svc.Engines.Engine(r.ctx, r.repo, r.batch, policies)
	}
	return r.eng, r.engErr
}

// NeedPrevious tells whether previous revisions matter to validation:
// only policies that look at oldObject or tell updates from creations
// make them worth looking up.
func (r *Run) NeedPrevious() bool {
	e, err := r.engine()
	return err != nil || e.UsesPrevious()
}

// Validate runs the engine over the queued packages, adding them and
// their findings to rep; it returns the lines to tell, the number of
// errors found and of packages validated.
func (r *Run) Validate(rep *Report) (lines []string, errs, n int, err error) {
	engine, err := r.engine()
	if err != nil {
		res := result.Result{Severity: result.Error, Message: err.Error(), File: &result.File{Path: PoliciesDir}, Check: "policies"}
		rep.Results = append(rep.Results, res)
		r.checked(rep, []result.Result{res})
		return []string{"pkgserver: " + err.Error()}, 1, 0, nil
	}
	var pkgs []validate.Package
	for _, key := range r.order {
		p := r.pkgs[key]
		fsys, err := r.repo.TreeFS(r.batch, p.tree)
		if err != nil {
			return nil, 0, 0, err
		}
		vp := validate.Package{Path: p.full, FS: fsys, Check: renderCheck(r.svc.rules)}
		if p.previous != "" && p.previous != p.tree {
			if vp.Previous, err = r.repo.TreeFS(r.batch, p.previous); err != nil {
				return nil, 0, 0, err
			}
		}
		pkgs = append(pkgs, vp)
		rep.Packages = append(rep.Packages, p.full)
	}
	report := &validate.Report{}
	for i, vr := range engine.ValidateEach(r.ctx, pkgs) {
		p := r.pkgs[r.order[i]]
		rep.Checked = append(rep.Checked, CheckedPackage{Full: p.full, Tree: p.tree, Results: vr.Results})
		report.Packages += vr.Packages
		report.Resources += vr.Resources
		report.Results = append(report.Results, vr.Results...)
	}
	rep.Results = append(rep.Results, report.Results...)
	for _, res := range report.Results {
		if res.Severity == result.Error {
			errs++
		}
		lines = append(lines, validate.Line(res))
	}
	e, w, _ := report.Counts()
	lines = append(lines, fmt.Sprintf("pkgserver: validated %s: %s, %s", result.Plural(len(pkgs), "package"), result.Plural(e, "error"), result.Plural(w, "warning")))
	return lines, errs, len(pkgs), nil
}

// checked records each package queued, with findings that concern them
// all.
func (r *Run) checked(rep *Report, results []result.Result) {
	for _, key := range r.order {
		p := r.pkgs[key]
		rep.Checked = append(rep.Checked, CheckedPackage{Full: p.full, Tree: p.tree, Results: results})
	}
}

// Published returns the commit of a package's published revision v<n>
// (n 0: the highest) among the tags below its path, "" if there is none.
func Published(tags []gitrepo.Ref, full string, n int) string {
	best, commit := 0, ""
	for _, t := range tags {
		m := revision.ParseRevisionNumber(strings.TrimPrefix(t.Name, revision.TagsPrefix+full+"/"))
		if m > 0 && ((n == 0 && m > best) || m == n) {
			best, commit = m, t.Commit
		}
	}
	return commit
}
