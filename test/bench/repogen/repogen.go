// Package repogen writes large package repositories for benchmarks and
// tests with `git fast-import`, which takes seconds where commands per
// commit would take hours: P packages with R published revisions each
// (revision r is one commit on main changing every package, and a tag
// <pkg>/v<r> per package on it), plus drafts and proposals branched from the
// last revision, and optionally one large package of many files.
package repogen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Spec says what to generate.
type Spec struct {
	Packages  int
	Revisions int
	Drafts    int // drafts/<pkg>/edit branches, on the first packages
	Proposals int // proposed/<pkg>/review branches, on the next ones
	// Directory holds the packages ("" for the root).
	Directory string
	// LargeFiles, when positive, adds one more package of that many files
	// at LargePackagePath: its Kptfile and LargeFiles-1 Deployments,
	// written by the first revision; each revision changes one of them
	// and tags the package as it tags the others.
	LargeFiles int
}

// LargePackagePath is the path below the directory of the package of
// Spec.LargeFiles files.
const LargePackagePath = "large/app-large"

// PackagePath is the path of the i-th package below the directory.
func PackagePath(i int) string {
	return fmt.Sprintf("team-%02d/app-%05d", i%50, i)
}

func (s Spec) large() string {
	if s.Directory == "" {
		return LargePackagePath
	}
	return s.Directory + "/" + LargePackagePath
}

func (s Spec) full(i int) string {
	if s.Directory == "" {
		return PackagePath(i)
	}
	return s.Directory + "/" + PackagePath(i)
}

// Generate creates a bare repository at dir holding spec.
func Generate(dir string, spec Spec) error {
	if err := gitRun("", "init", "-q", "--bare", "-b", "main", dir); err != nil {
		return err
	}
	cmd := exec.Command("git", "--git-dir="+dir, "fast-import", "--quiet", "--done")
	cmd.Env = env()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	werr := write(w, spec)
	if werr == nil {
		werr = w.Flush()
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %v: %s", err, stderr.String())
	}
	if werr != nil {
		return werr
	}
	return gitRun(dir, "pack-refs", "--all")
}

// AppendCommit adds a commit on main changing the i-th package's
// configuration, as a push of one package would, and returns the old and
// new heads of main.
func AppendCommit(dir string, spec Spec, i int, version string) (oldHead, newHead string, err error) {
	oldHead, err = gitOutput(dir, "rev-parse", "refs/heads/main")
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command("git", "--git-dir="+dir, "fast-import", "--quiet", "--done")
	cmd.Env = env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var in strings.Builder
	fmt.Fprintf(&in, "commit refs/heads/main\ncommitter Bench <bench@example.com> 1767225600 +0000\n")
	data(&in, "Change "+PackagePath(i)+"\n")
	fmt.Fprintf(&in, "from %s\n", oldHead)
	fmt.Fprintf(&in, "M 100644 inline %s/configmap.yaml\n", spec.full(i))
	data(&in, configMap(i, version))
	in.WriteString("\ndone\n")
	cmd.Stdin = strings.NewReader(in.String())
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("git fast-import: %v: %s", err, stderr.String())
	}
	newHead, err = gitOutput(dir, "rev-parse", "refs/heads/main")
	return oldHead, newHead, err
}

func env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
}

func gitRun(dir string, args ...string) error {
	_, err := gitOutput(dir, args...)
	return err
}

func gitOutput(dir string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"--git-dir=" + dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func data(w io.StringWriter, s string) {
	_, _ = w.WriteString(fmt.Sprintf("data %d\n%s", len(s), s))
}

func write(w *bufio.Writer, spec Spec) error {
	mark := 0
	next := func() int { mark++; return mark }
	blob := func(content string) int {
		m := next()
		fmt.Fprintf(w, "blob\nmark :%d\n", m)
		data(w, content)
		return m
	}
	kptfiles := make([]int, spec.Packages)
	for i := range spec.Packages {
		kptfiles[i] = blob(kptfile(i))
	}
	when := int64(1767225600) // 2026-01-01
	var prevCommit int
	commits := make([]int, spec.Revisions+1)
	for r := 1; r <= spec.Revisions; r++ {
		type file struct {
			path string
			mark int
		}
		var files []file
		for i := range spec.Packages {
			if r == 1 {
				files = append(files, file{spec.full(i) + "/Kptfile", kptfiles[i]})
			}
			// The deployment changes every other revision; the
			// configuration every revision.
			if r == 1 || r%2 == 1 {
				files = append(files, file{spec.full(i) + "/deployment.yaml", blob(deployment(i, r))})
			}
			files = append(files, file{spec.full(i) + "/configmap.yaml", blob(configMap(i, fmt.Sprint(r)))})
		}
		for _, f := range largeFiles(spec, r) {
			files = append(files, file{f.path, blob(f.content)})
		}
		c := next()
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Release Bot <release@example.com> %d +0000\n", c, when+int64(r)*3600)
		data(w, fmt.Sprintf("Release %d of every package\n", r))
		if prevCommit != 0 {
			fmt.Fprintf(w, "from :%d\n", prevCommit)
		}
		for _, f := range files {
			fmt.Fprintf(w, "M 100644 :%d %s\n", f.mark, f.path)
		}
		w.WriteString("\n")
		for i := range spec.Packages {
			fmt.Fprintf(w, "reset refs/tags/%s/v%d\nfrom :%d\n\n", spec.full(i), r, c)
		}
		if spec.LargeFiles > 0 {
			fmt.Fprintf(w, "reset refs/tags/%s/v%d\nfrom :%d\n\n", spec.large(), r, c)
		}
		prevCommit = c
		commits[r] = c
	}
	branch := func(ref string, i int, version string) {
		m := blob(configMap(i, version))
		fmt.Fprintf(w, "commit %s\ncommitter Dev <dev@example.com> %d +0000\n", ref, when+int64(spec.Revisions+1)*3600)
		data(w, "Edit "+spec.full(i)+"\n")
		fmt.Fprintf(w, "from :%d\nM 100644 :%d %s/configmap.yaml\n\n", prevCommit, m, spec.full(i))
	}
	for i := 0; i < spec.Drafts && i < spec.Packages; i++ {
		branch(fmt.Sprintf("refs/heads/drafts/%s/edit", spec.full(i)), i, "draft")
	}
	for j := 0; j < spec.Proposals && spec.Drafts+j < spec.Packages; j++ {
		i := spec.Drafts + j
		branch(fmt.Sprintf("refs/heads/proposed/%s/review", spec.full(i)), i, "proposed")
	}
	_, err := w.WriteString("done\n")
	return err
}

// largeFile is a file of the large package and its content.
type largeFile struct{ path, content string }

// largeFiles are the files of the large package that revision r writes:
// all of them in the first, one Deployment in each later one.
func largeFiles(spec Spec, r int) []largeFile {
	if spec.LargeFiles <= 0 {
		return nil
	}
	dir := spec.large()
	n := spec.LargeFiles - 1
	file := func(k int) largeFile {
		return largeFile{fmt.Sprintf("%s/deployment-%03d.yaml", dir, k), deployment(100000+k, r)}
	}
	if r > 1 {
		if n == 0 {
			return nil
		}
		return []largeFile{file((r - 2) % n)}
	}
	files := []largeFile{{dir + "/Kptfile", strings.Replace(kptfile(0), "app-00000", "app-large", 1)}}
	for k := range n {
		files = append(files, file(k))
	}
	return files
}

func kptfile(i int) string {
	return fmt.Sprintf(`apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: app-%05d
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: Application %d of team %d.
pipeline:
  mutators:
  - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1
    configMap:
      namespace: team-%02d
`, i, i, i%50, i%50)
}

func deployment(i, r int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%05d
  labels:
    app.kubernetes.io/name: app-%05d
spec:
  replicas: %d
  selector:
    matchLabels:
      app.kubernetes.io/name: app-%05d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-%05d
    spec:
      containers:
      - name: app
        image: registry.example.com/team-%02d/app:1.%d.0
        ports:
        - containerPort: 8080
        resources:
          requests: {cpu: 100m, memory: 128Mi}
`, i, i, 1+i%3, i, i, i%50, r)
}

func configMap(i int, version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-%05d-config
data:
  version: %q
  log-level: info
`, i, version)
}
