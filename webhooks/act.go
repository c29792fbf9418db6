package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Check names on the forge: the validation of a pushed commit, and the
// outcome of publishing what a merged pull request changed.
const (
	CheckName   = "pkgserver"
	PublishName = "pkgserver/publish"
)

// Conclusions of a check.
const (
	Success = "success"
	Failure = "failure"
	Neutral = "neutral"
)

// act does what a delivery asks once its repository is synced: checks the
// pushed commits, and follows pull requests.
func (p *Processor) act(ctx context.Context, d *store.Delivery, h *Hint) error {
	if p.Git == nil || (!h.Push && h.PullRequest == 0) {
		return nil
	}
	repo, err := p.Store.GetRepository(ctx, d.Namespace, d.Repository)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var g *gitrepo.Repo
	open := func() (*gitrepo.Repo, error) {
		if g == nil {
			g, err = p.Git(ctx, repo)
		}
		return g, err
	}
	if h.Push {
		for _, rc := range h.Refs {
			if err := p.checkPush(ctx, repo, open, rc); err != nil {
				return err
			}
		}
	}
	if h.PullRequest > 0 && p.Forges != nil {
		if _, err := open(); err != nil {
			return err
		}
		return p.pullRequest(ctx, repo, g, h.PullRequest, nil)
	}
	return nil
}

// present tells whether git holds a commit.
func present(ctx context.Context, g *gitrepo.Repo, id string) bool {
	return peel(ctx, g, id) != ""
}

// peel returns the commit an id is or an annotated tag leads to, "" if git
// holds none.
func peel(ctx context.Context, g *gitrepo.Repo, id string) string {
	if id == "" || id == revision.ZeroID {
		return ""
	}
	c, _, err := g.Commit(ctx, id)
	if err != nil {
		return ""
	}
	return c
}

// checkPush validates the packages a push changed at its head commit, as
// the pre-receive hook of a hosted repository would, and stores the report
// to post on that commit. A pushed package tag validates its package as
// the tagged commit holds it. A commit that changes no package gets no
// report; a commit reported once is not validated again.
func (p *Processor) checkPush(ctx context.Context, repo *store.Repository, open func() (*gitrepo.Repo, error), rc revision.RefUpdate) error {
	if rc.New == "" || rc.New == revision.ZeroID || !strings.HasPrefix(rc.Ref, "refs/") {
		return nil // a deletion
	}
	ns, name := repo.Object.Namespace, repo.Object.Name
	checked := func(commit string) (bool, error) {
		have, err := p.Store.Checks(ctx, ns, name, commit)
		return slices.ContainsFunc(have, func(c store.Check) bool { return c.Name == CheckName }), err
	}
	if done, err := checked(rc.New); err != nil || done {
		return err // checked before: git is not read again
	}
	g, err := open()
	if err != nil {
		return err
	}
	commit := peel(ctx, g, rc.New)
	if commit == "" {
		return nil // gone again
	}
	if commit != rc.New {
		if done, err := checked(commit); err != nil || done {
			return err
		}
	}
	cfg := repo.Config()
	src, contract, perr := cfg.ParseRef(rc.Ref)
	var rep *pkgcheck.Report
	var refused []string
	switch {
	case strings.HasPrefix(rc.Ref, revision.TagsPrefix) && (!contract || perr != nil || src.Kind != revision.KindTag):
		return nil // a release tag of the git repository, not a package's
	case src.Kind == revision.KindTag:
		// Checked after the fact, a tag's number cannot be compared with
		// the tags before it: its package is validated.
		full := cfg.Full(src.Package)
		tip, err := branchTip(ctx, g, cfg)
		if err != nil {
			return err
		}
		if rep, err = p.Checker.Packages.For(pkgcheck.RulesOf(repo)).ValidateAt(ctx, g, tip, commit, []string{full}); err != nil {
			return err
		}
		if rep.Validated == 0 {
			rep.Accept = false
			refused = []string{fmt.Sprintf("pkgserver: %s names package %s, but its commit has no %s/Kptfile", rc.Ref, full, full)}
		}
	default:
		old := peel(ctx, g, rc.Old)
		if old == "" {
			old = revision.ZeroID
		}
		// The forge decides who may push; pkgserver checks what was pushed.
		dec, err := p.Checker.Check(ctx, &hooks.Push{Repo: g, Config: cfg, Role: store.RoleAdmin,
			Updates: []revision.RefUpdate{{Ref: rc.Ref, Old: old, New: commit}}, Rules: pkgcheck.RulesOf(repo)})
		if err != nil {
			return err
		}
		rep, refused = &dec.Report, dec.Refused
	}
	if rep.Validated == 0 && len(refused) == 0 && len(rep.Results) == 0 {
		return nil // no package changed
	}
	// The outcome of each package's validation, for its revisions'
	// validated condition (the sync before this indexed them).
	if err := p.Store.RecordValidations(ctx, repo.ID, rep.Validations(time.Now())); err != nil {
		return err
	}
	return p.addCheck(ctx, newCheck(ns, name, commit, CheckName, rc.Ref, rep, refused))
}

func (p *Processor) addCheck(ctx context.Context, c *store.Check) error {
	if _, err := p.Store.AddCheck(ctx, c); err != nil {
		return err
	}
	if p.Reporter != nil {
		p.Reporter.Notify()
	}
	return nil
}

// newCheck makes the check of a validation report and of the rules of
// the git contract broken (refused, the push check's lines), if any.
func newCheck(ns, name, commit, checkName, ref string, rep *pkgcheck.Report, refused []string) *store.Check {
	errs, warns := 0, 0
	for _, r := range rep.Results {
		switch r.Severity {
		case result.Error:
			errs++
		case result.Warning:
			warns++
		}
	}
	conclusion, title := Success, fmt.Sprintf("%s valid", result.Plural(rep.Validated, "package"))
	switch {
	case !rep.Accept:
		conclusion = Failure
		title = fmt.Sprintf("%s, %s in %s", result.Plural(errs, "error"), result.Plural(warns, "warning"), result.Plural(rep.Validated, "package"))
		if errs == 0 {
			title = strings.TrimPrefix(refused[0], "pkgserver: ")
		}
	case warns > 0:
		conclusion = Neutral
		title = fmt.Sprintf("%s valid, %s", result.Plural(rep.Validated, "package"), result.Plural(warns, "warning"))
	}
	data, _ := json.Marshal(rep.Results)
	if rep.Results == nil {
		data = []byte("[]")
	}
	return &store.Check{Namespace: ns, Repository: name, Commit: commit, Name: checkName, Ref: ref, Conclusion: conclusion,
		Title: truncate(title, 200), Summary: summary(rep, refused), Results: data}
}

// summary is a check's Markdown summary: a table of the packages with
// their findings, the rules broken, and findings that have no file.
func summary(rep *pkgcheck.Report, refused []string) string {
	var b strings.Builder
	type counts struct{ errs, warns int }
	per := map[string]*counts{}
	for _, full := range rep.Packages {
		per[full] = &counts{}
	}
	var unplaced []result.Result
	for _, r := range rep.Results {
		full := ""
		if r.File != nil {
			for _, pkg := range rep.Packages {
				if strings.HasPrefix(r.File.Path, pkg+"/") && len(pkg) > len(full) {
					full = pkg
				}
			}
		}
		if full == "" {
			unplaced = append(unplaced, r)
			continue
		}
		switch r.Severity {
		case result.Error:
			per[full].errs++
		case result.Warning:
			per[full].warns++
		}
	}
	if len(rep.Packages) > 0 {
		b.WriteString("| Package | Result | Errors | Warnings |\n|---|---|---:|---:|\n")
		for _, full := range rep.Packages {
			c := per[full]
			verdict := "valid"
			if c.errs > 0 {
				verdict = "invalid"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %d | %d |\n", full, verdict, c.errs, c.warns)
		}
	}
	var broken []string
	for _, l := range refused {
		if !strings.HasSuffix(l, "nothing was updated") { // the hook's words for a refused push
			broken = append(broken, strings.TrimPrefix(strings.TrimPrefix(l, "pkgserver: "), "refused "))
		}
	}
	if len(broken) > 0 {
		b.WriteString("\n**Rules of the git contract broken:**\n\n")
		for _, l := range broken {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	if len(unplaced) > 0 {
		b.WriteString("\n**Findings:**\n\n")
		for _, r := range unplaced {
			fmt.Fprintf(&b, "- %s: %s [%s]\n", r.Severity, r.Message, r.Check)
		}
	}
	if b.Len() == 0 {
		b.WriteString("No package changed.\n")
	}
	return b.String()
}

// pullRequest records a pull request's state as the forge gives it, derives
// the revisions of its source branch again (an open request into the
// repository branch makes a draft Proposed), and publishes what a merged
// one changed.
func (p *Processor) pullRequest(ctx context.Context, repo *store.Repository, g *gitrepo.Repo, number int, known *store.PullRequest) error {
	defer p.lockPullRequests(repo.ID)()
	f, err := p.Forges(ctx, repo)
	if err != nil {
		return err
	}
	pr, err := f.PullRequest(ctx, number)
	if err != nil {
		return err
	}
	if pr.Fork || gitrepo.ValidateRefName(revision.BranchesPrefix+pr.SourceBranch) != nil {
		return nil // its branch is not this repository's
	}
	if known != nil && known.State == pr.State && known.SourceBranch == pr.SourceBranch && known.TargetBranch == pr.TargetBranch &&
		known.HeadCommit == pr.HeadCommit {
		return nil // as recorded
	}
	if err := p.Store.SetPullRequest(ctx, repo.ID, &pr.PullRequest); err != nil {
		return err
	}
	ns, name := repo.Object.Namespace, repo.Object.Name
	source := revision.BranchesPrefix + pr.SourceBranch
	if _, contract, _ := repo.Config().ParseRef(source); contract {
		// A draft or proposal branch: derived again on its own.
		err = p.Syncer.Apply(ctx, ns, name, []revision.RefUpdate{{Ref: source}})
	} else {
		// Another branch: its proposals are worked out with every ref.
		err = p.Syncer.SyncNow(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	if pr.State != store.PullRequestMerged || pr.TargetBranch != repo.Config().Branch {
		return nil
	}
	return p.publish(ctx, repo, g, f, pr)
}

// publish tags, through the forge, each package a merged pull request
// changed: <full>/v<N> on the merge commit, N the next number, unless a
// tag of the package is there already; when a package fails validation,
// nothing is tagged and the failure is reported on the merge commit.
func (p *Processor) publish(ctx context.Context, repo *store.Repository, g *gitrepo.Repo, f Forge, pr *PullRequest) error {
	cfg := repo.Config()
	ns, name := repo.Object.Namespace, repo.Object.Name
	merge := pr.MergeCommit
	// Published once: a later event about the request (an edit, a
	// redelivery) finds the outcome reported and does not publish again.
	have, err := p.Store.Checks(ctx, ns, name, merge)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(have, func(c store.Check) bool { return c.Name == PublishName }) {
		return nil
	}
	if !present(ctx, g, merge) {
		// Fetch again: the delivery may have come before the branch moved.
		if err := p.Syncer.SyncNow(ctx, ns, name); err != nil {
			return err
		}
		if !present(ctx, g, merge) {
			return fmt.Errorf("merge commit %s of pull request %d is not in the repository", merge, pr.Number)
		}
	}
	fulls, err := p.mergedPackages(ctx, g, cfg, pr)
	if err != nil {
		return err
	}
	if len(fulls) == 0 {
		return nil
	}
	tip, err := branchTip(ctx, g, cfg)
	if err != nil {
		return err
	}
	rep, err := p.Checker.Packages.For(pkgcheck.RulesOf(repo)).ValidateAt(ctx, g, tip, merge, fulls)
	if err != nil {
		return err
	}
	if !rep.Accept {
		c := newCheck(ns, name, merge, PublishName, revision.BranchesPrefix+cfg.Branch, rep, nil)
		c.Title = truncate(fmt.Sprintf("not published: %s", c.Title), 200)
		p.Log.Warn("merged pull request not published: validation failed", "repo", ns+"/"+name, "pull_request", pr.Number, "commit", merge)
		return p.addCheck(ctx, c)
	}
	var published []string
	for _, full := range rep.Packages {
		tag, err := p.tagPackage(ctx, repo, g, f, pr, full)
		if err != nil {
			return err
		}
		if tag != "" {
			published = append(published, tag)
		}
	}
	if err := p.Syncer.SyncNow(ctx, ns, name); err != nil {
		return err
	}
	c := newCheck(ns, name, merge, PublishName, revision.BranchesPrefix+cfg.Branch, rep, nil)
	c.Title = "nothing to publish: newer revisions are published"
	if len(published) > 0 {
		c.Title = truncate("published "+strings.Join(published, ", "), 200)
	}
	return p.addCheck(ctx, c)
}

// mergedPackages lists the packages a pull request changed: those that
// differ between where it started and its head, and those its merge commit
// changed on the branch (a rebase merge lands several commits).
func (p *Processor) mergedPackages(ctx context.Context, g *gitrepo.Repo, cfg revision.Config, pr *PullRequest) ([]string, error) {
	var fulls []string
	if present(ctx, g, pr.BaseCommit) && present(ctx, g, pr.HeadCommit) {
		base, err := g.MergeBase(ctx, pr.BaseCommit, pr.HeadCommit)
		if err != nil {
			return nil, err
		}
		if fulls, err = pkgcheck.ChangedPackages(ctx, g, cfg, base, pr.HeadCommit); err != nil {
			return nil, err
		}
	}
	_, parent, err := g.Commit(ctx, pr.MergeCommit)
	if err != nil {
		return nil, err
	}
	if parent != "" {
		more, err := pkgcheck.ChangedPackages(ctx, g, cfg, parent, pr.MergeCommit)
		if err != nil {
			return nil, err
		}
		for _, full := range more {
			if !slices.Contains(fulls, full) {
				fulls = append(fulls, full)
			}
		}
	}
	return fulls, nil
}

func branchTip(ctx context.Context, g *gitrepo.Repo, cfg revision.Config) (string, error) {
	refs, err := g.RefsNamed(ctx, revision.BranchesPrefix+cfg.Branch)
	if err != nil || len(refs) == 0 {
		return "", err
	}
	return refs[0].Commit, nil
}
