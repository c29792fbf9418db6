package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/render/rendertest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

const (
	revisionsPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	resourcesPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"
	workspace     = "bench"
)

// variant is one package a PUT writes: the one with the pipeline, and the
// same resources without one, measured beside it.
type variant struct {
	pkg      string
	pipeline bool
}

var variants = []variant{{"bench/render", true}, {"bench/plain", false}}

// repo is one repository under measurement.
type repo struct {
	name     string
	packages int
	gitDir   string
	sync     time.Duration
	synced   int
	puts     map[string][]put
	// images is the settings' image each draft's last successful PUT wrote.
	images map[string]string
	checks []string // what git showed wrong afterwards
}

// put is one PUT of a draft's resources.
type put struct {
	code int
	took time.Duration
	err  error
}

// addPackages publishes the measured packages, v1 of each, into the
// bare repository through a clone, as a user pushing them would.
func addPackages(gitDir, work string, resources int) error {
	git := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-C", work}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
			"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v\n%s", args, err, out)
		}
		return nil
	}
	if out, err := exec.Command("git", "clone", "-q", gitDir, work).CombinedOutput(); err != nil {
		return fmt.Errorf("clone: %v\n%s", err, out)
	}
	for _, v := range variants {
		if err := writeFiles(filepath.Join(work, v.pkg), rendertest.Package(filepath.Base(v.pkg), resources, "registry.example.com/app:0.0.0", v.pipeline)); err != nil {
			return err
		}
	}
	steps := [][]string{{"add", "bench"}, {"commit", "-q", "-m", "Add the packages of the render benchmark"}}
	for _, v := range variants {
		steps = append(steps, []string{"tag", v.pkg + "/v1"})
	}
	steps = append(steps, []string{"push", "-q", "origin", "main", "--tags"})
	for _, s := range steps {
		if err := git(s...); err != nil {
			return err
		}
	}
	return os.RemoveAll(work)
}

// draft creates the Draft the PUTs write: a copy of the package's v1.
func (r *repo) draft(s *benchutil.Server, v variant) error {
	create := pkgv1alpha1.PackageRevision{
		Spec: pkgv1alpha1.PackageRevisionSpec{Repository: r.name, PackageName: v.pkg, WorkspaceName: workspace, Lifecycle: "Draft",
			Tasks: []pkgv1alpha1.Task{{Type: pkgv1alpha1.TaskTypeEdit, Edit: &pkgv1alpha1.EditTaskSpec{
				SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: revision.ObjectName(r.name, v.pkg, "v1")}}}}},
	}
	create.APIVersion, create.Kind = pkgv1alpha1.APIVersion, "PackageRevision"
	_, _, err := s.Call(http.MethodPost, revisionsPath, create, http.StatusCreated, nil)
	if r.puts == nil {
		r.puts, r.images = map[string][]put{}, map[string]string{}
	}
	return err
}

// put reads the draft's resources (not timed), changes the settings'
// image and PUTs them back, timed from this process.
func (r *repo) put(s *benchutil.Server, v variant, round int) put {
	name := revision.ObjectName(r.name, v.pkg, workspace)
	var res pkgv1alpha1.PackageRevisionResources
	if _, _, err := s.Call(http.MethodGet, resourcesPath+"/"+name, nil, http.StatusOK, &res); err != nil {
		return put{err: err}
	}
	image := fmt.Sprintf("registry.example.com/app:1.%d.0", round)
	res.Spec.Resources[rendertest.SettingsFile] = rendertest.Settings(image)
	var p put
	p.code, p.took, p.err = s.Call(http.MethodPut, resourcesPath+"/"+name, res, http.StatusOK, nil)
	if p.err == nil {
		r.images[v.pkg] = image
	}
	return p
}

// verify asks git what the drafts hold after the last PUT: the package
// with the pipeline rendered with the last image, the other as written.
func (r *repo) verify() {
	for _, v := range variants {
		ref := "drafts/" + v.pkg + "/" + workspace
		out, err := exec.Command("git", "--git-dir", r.gitDir, "show", ref+":"+v.pkg+"/apps/app-000.yaml").CombinedOutput()
		if err != nil {
			r.checks = append(r.checks, fmt.Sprintf("%s: git show: %v %s", ref, err, out))
			continue
		}
		err = renderedApp(string(out), r.images[v.pkg])
		switch {
		case v.pipeline && err != nil:
			r.checks = append(r.checks, fmt.Sprintf("%s: not rendered: %v", ref, err))
		case !v.pipeline && strings.Contains(string(out), "namespace: bench"):
			r.checks = append(r.checks, ref+": rendered, though its Kptfile has no pipeline")
		}
	}
}
