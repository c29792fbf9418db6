// Command uibench measures the web UI of `pkgserver serve` (/ui/) from a
// separate process on loopback, over a generated repository of P packages
// × R revisions and one package of many files: the time the server takes
// to answer the repository's package page, that page filtered to one
// package, the revision page of the large package and the repositories
// page, one request at a time on a keep-alive connection; the bytes a
// browser's first visit to the package page transfers (the page and every
// stylesheet and script it references, asked for with Accept-Encoding:
// gzip); and the sign-in form's round trip. It prints a Markdown report.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// repoName is the repository's name on the server (namespace default).
const repoName = "bench"

func main() {
	out := flag.String("out", "test/bench/_out/ui", "working directory (emptied first)")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	packages := flag.Int("packages", 10000, "packages of the generated repository, besides the large one")
	revisions := flag.Int("revisions", 3, "published revisions of every package")
	files := flag.Int("files", 200, "files of the large package (its Kptfile and Deployments)")
	requests := flag.Int("requests", 200, "requests measured per page, after a tenth as many (at least 3) of warm-up")
	flag.Parse()
	log.SetFlags(0)
	if *packages < 1 || *revisions < 1 || *files < 1 || *requests < 1 {
		log.Fatal("-packages, -revisions, -files and -requests must be positive")
	}
	began, loadBefore := time.Now(), benchutil.LoadAvg()
	dir, bin := benchutil.Workdir(*out, *pkgserver)

	spec := repogen.Spec{Packages: *packages, Revisions: *revisions, Drafts: *packages / 20, Proposals: *packages / 40, LargeFiles: *files}
	gitDir := filepath.Join(dir, "repo.git")
	start := time.Now()
	if err := repogen.Generate(gitDir, spec); err != nil {
		log.Fatal(err)
	}
	rep := report{spec: spec, requests: *requests, loadBefore: loadBefore, generate: time.Since(start)}

	srv := benchutil.StartServer(bin, filepath.Join(dir, "data"), filepath.Join(dir, "serve.log"), benchutil.ServerOptions{
		HTTP: &http.Client{Timeout: 5 * time.Minute}})
	rep.sync, rep.synced = srv.Register(repoName, map[string]any{"git": map[string]any{"url": gitDir}}, 30*time.Minute)
	if rep.synced != *packages+1 {
		srv.Stop()
		log.Fatalf("the first sync found %d packages, want %d", rep.synced, *packages+1)
	}
	large, err := latestRevision(srv, repogen.LargePackagePath)
	if err == nil {
		var names []string
		names, err = srv.RevisionNames(500)
		rep.revisions = len(names)
	}
	if err != nil {
		srv.Stop()
		log.Fatal(err)
	}

	filtered := repogen.PackagePath(*packages / 2)
	repoPage := "/ui/repositories/default/" + repoName
	rep.pages = []*pageResult{
		{name: "package page (first page)", path: repoPage, goal: true, check: rowsCheck(0)},
		{name: "package page filtered to one package", path: repoPage + "?name=" + url.QueryEscape(filtered), check: rowsCheck(1)},
		{name: fmt.Sprintf("revision page of the package of %d files", *files), path: "/ui/revisions/default/" + url.PathEscape(large), goal: true, check: filesCheck(*files)},
		{name: "repositories page", path: "/ui/", check: containsCheck(repoName)},
	}
	warm := max(3, *requests/10)
	measurePages(newClient(srv.Base, srv.Token), rep.pages, warm, *requests)
	if rep.visit, err = firstVisit(srv.Base, srv.Token, repoPage); err != nil {
		log.Printf("first visit: %v", err)
		rep.visitErr = err
	}
	if rep.signIn, err = signInRoundTrip(srv.Base, srv.Token); err != nil {
		log.Printf("sign-in: %v", err)
		rep.signInErr = err
	}
	srv.Stop()
	rep.loadAfter, rep.took = benchutil.LoadAvg(), time.Since(began)
	rep.print(os.Stdout)
	if !rep.correct() {
		os.Exit(1)
	}
}

// latestRevision is the name of a package's latest published revision.
func latestRevision(srv *benchutil.Server, pkg string) (string, error) {
	var l pkgv1alpha1.PackageRevisionList
	q := url.Values{"fieldSelector": {"spec.repository=" + repoName + ",spec.packageName=" + pkg},
		"labelSelector": {pkgv1alpha1.LatestRevisionLabel + "=true"}}
	if _, _, err := srv.Call(http.MethodGet, benchutil.RevisionsPath+"?"+q.Encode(), nil, http.StatusOK, &l); err != nil {
		return "", err
	}
	if len(l.Items) != 1 {
		return "", fmt.Errorf("%s has %d latest revisions, want 1", pkg, len(l.Items))
	}
	return l.Items[0].Name, nil
}
