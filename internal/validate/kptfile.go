package validate

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
)

// CheckKptfile is the check of the Kptfile layer.
const CheckKptfile = krm.CheckKptfile

// updateStrategies are those kpt's Kptfile types name ("" for none).
var updateStrategies = []string{"", "resource-merge", "fast-forward", "force-delete-replace", "copy-merge"}

var commitRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// checkKptfiles checks the package's Kptfile and those of its
// subpackages, each as kpt reads it in its own directory.
func (c *pkgCheck) checkKptfiles() {
	for _, f := range c.pkg.Files {
		if r := c.kptfiles[f.Path]; r != nil && krm.IsKptfile(f) && f.Data != nil {
			c.checkKptfile(f, r)
		}
	}
}

// checkKptfile checks a Kptfile whose first resource is r: kpt.dev/v1 with
// no unknown fields, a well-formed pipeline and well-formed upstream
// records. A Kptfile missing or unparseable the loader reported already.
func (c *pkgCheck) checkKptfile(f *krm.File, r *krm.Resource) {
	dir := path.Dir(f.Path)
	kf, errs := krm.ParseKptfile(f.Data)
	for _, e := range errs {
		c.addAt(f.Path, e.Line, r, result.Error, CheckKptfile, "", "invalid Kptfile: "+e.Message)
	}
	if kf == nil {
		return
	}
	if kf.APIVersion != krm.KptfileAPIVersion || kf.Kind != krm.KptfileKind {
		c.add(r, result.Error, CheckKptfile, "apiVersion",
			fmt.Sprintf("Kptfile must be apiVersion %s, kind %s (found %q, %q)", krm.KptfileAPIVersion, krm.KptfileKind, kf.APIVersion, kf.Kind))
	}
	if kf.Pipeline != nil {
		for i, fn := range kf.Pipeline.Mutators {
			c.checkFunction(r, dir, fmt.Sprintf("pipeline.mutators[%d]", i), fn)
		}
		for i, fn := range kf.Pipeline.Validators {
			c.checkFunction(r, dir, fmt.Sprintf("pipeline.validators[%d]", i), fn)
		}
	}
	c.checkUpstream(r, kf)
	if kf.Info != nil {
		for i, g := range kf.Info.ReadinessGates {
			if strings.TrimSpace(g.ConditionType) == "" {
				c.add(r, result.Error, CheckKptfile, fmt.Sprintf("info.readinessGates[%d]", i), "readiness gate must name a conditionType")
			}
		}
	}
}

// checkFunction checks a function of the pipeline of the Kptfile in dir.
func (c *pkgCheck) checkFunction(r *krm.Resource, dir, field string, fn krm.Function) {
	switch {
	case fn.Image == "" && fn.Exec == "":
		c.add(r, result.Error, CheckKptfile, field, "function must set one of image or exec")
	case fn.Image != "" && fn.Exec != "":
		c.add(r, result.Error, CheckKptfile, field+".exec", "function must set only one of image or exec")
	case fn.Image != "":
		if _, err := reference.ParseNormalizedNamed(fn.Image); err != nil {
			c.add(r, result.Error, CheckKptfile, field+".image", fmt.Sprintf("image %q is not a valid OCI image reference: %v", fn.Image, err))
		}
	}
	if fn.ConfigPath != "" && fn.ConfigMap != nil {
		c.add(r, result.Error, CheckKptfile, field+".configPath", "function must set at most one of configMap or configPath")
	}
	if fn.ConfigPath != "" {
		c.checkConfigPath(r, dir, field+".configPath", fn.ConfigPath)
	}
	for i, s := range fn.Selectors {
		c.checkSelector(r, fmt.Sprintf("%s.selectors[%d]", field, i), s)
	}
	for i, s := range fn.Exclusions {
		c.checkSelector(r, fmt.Sprintf("%s.exclude[%d]", field, i), s)
	}
}

// checkConfigPath checks a function's configPath, relative to the
// directory of its Kptfile (dir), as kpt reads it.
func (c *pkgCheck) checkConfigPath(r *krm.Resource, dir, field, p string) {
	clean := path.Clean(p)
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) || clean == ".." || strings.HasPrefix(clean, "../") {
		c.add(r, result.Error, CheckKptfile, field, fmt.Sprintf("configPath %q must be a relative path inside the package", p))
		return
	}
	clean = path.Join(dir, clean)
	var found bool
	for _, f := range c.pkg.Files {
		if f.Path == clean {
			found = true
			break
		}
	}
	n := c.perFile[clean]
	switch {
	case !found:
		c.add(r, result.Error, CheckKptfile, field, fmt.Sprintf("configPath %q does not name a file of the package", p))
	case n != 1:
		c.add(r, result.Error, CheckKptfile, field, fmt.Sprintf("configPath %q must hold exactly one resource, it holds %d", p, n))
	}
}

func (c *pkgCheck) checkSelector(r *krm.Resource, field string, s krm.Selector) {
	if s.APIVersion == "" && s.Kind == "" && s.Name == "" && s.Namespace == "" && len(s.Labels) == 0 && len(s.Annotations) == 0 {
		c.add(r, result.Error, CheckKptfile, field, "selector must set at least one of apiVersion, kind, name, namespace, labels, annotations")
	}
}

func (c *pkgCheck) checkUpstream(r *krm.Resource, kf *krm.Kptfile) {
	if u := kf.Upstream; u != nil {
		if u.Type != "git" {
			c.add(r, result.Error, CheckKptfile, "upstream.type", fmt.Sprintf("upstream type must be git, not %q", u.Type))
		}
		if u.Git == nil {
			c.add(r, result.Error, CheckKptfile, "upstream", "upstream must have git")
		} else {
			c.requireFields(r, "upstream.git", map[string]string{"repo": u.Git.Repo, "directory": u.Git.Directory, "ref": u.Git.Ref})
		}
		if !slices.Contains(updateStrategies, u.UpdateStrategy) {
			c.add(r, result.Error, CheckKptfile, "upstream.updateStrategy",
				fmt.Sprintf("updateStrategy %q is not one of %s", u.UpdateStrategy, strings.Join(updateStrategies[1:], ", ")))
		}
	}
	if l := kf.UpstreamLock; l != nil {
		if l.Type != "git" {
			c.add(r, result.Error, CheckKptfile, "upstreamLock.type", fmt.Sprintf("upstreamLock type must be git, not %q", l.Type))
		}
		if l.Git == nil {
			c.add(r, result.Error, CheckKptfile, "upstreamLock", "upstreamLock must have git")
			return
		}
		c.requireFields(r, "upstreamLock.git", map[string]string{"repo": l.Git.Repo, "directory": l.Git.Directory, "ref": l.Git.Ref, "commit": l.Git.Commit})
		if l.Git.Commit != "" && !commitRE.MatchString(l.Git.Commit) {
			c.add(r, result.Error, CheckKptfile, "upstreamLock.git.commit", fmt.Sprintf("commit %q is not a full git object id", l.Git.Commit))
		}
	}
}

func (c *pkgCheck) requireFields(r *krm.Resource, parent string, fields map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if strings.TrimSpace(fields[name]) == "" {
			c.add(r, result.Error, CheckKptfile, parent, fmt.Sprintf("%s.%s is required", parent, name))
		}
	}
}
