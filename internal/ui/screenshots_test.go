package ui_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshots takes a picture of each page as a writer sees it, at
// 1280×860: into PKGSERVER_UI_SCREENSHOTS when set (make ui-screenshots
// writes docs/ui/), else into a temporary directory, so that every run
// checks the pages render in a browser.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("PKGSERVER_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	s := startSite(t)
	s.draftWithFinding()
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 860)); err != nil {
		t.Fatal(err)
	}
	shots := []struct{ name, path, ready string }{
		{"signin", "/ui/signin", "token"},
	}
	for _, sh := range shots {
		take(t, ctx, dir, sh.name, s.url+sh.path, chromedp.WaitVisible(chromedp.ID(sh.ready)))
	}
	if err := chromedp.Do(ctx, signIn(s, s.writer)); err != nil {
		t.Fatal(err)
	}
	take(t, ctx, dir, "repositories", s.url+"/ui/", chromedp.WaitVisible(chromedp.ID("repositories")))
	take(t, ctx, dir, "repository", s.url+"/ui/repositories/default/blueprints", chromedp.WaitVisible(chromedp.ID("package-list")))
	take(t, ctx, dir, "proposal", s.url+"/ui/revisions/default/blueprints.nginx.second", chromedp.WaitVisible(chromedp.ID("lifecycle")))
	take(t, ctx, dir, "findings", s.url+"/ui/revisions/default/blueprints.notes.one#files", chromedp.WaitVisible(chromedp.ID("findings")))
	take(t, ctx, dir, "confirm", s.url+"/ui/revisions/default/blueprints.notes.one/confirm/delete", chromedp.WaitVisible(chromedp.CSS(`button[value="delete"]`)))
	take(t, ctx, dir, "clone", s.url+"/ui/revisions/default/deployments.my-nginx.v1", chromedp.WaitVisible(chromedp.ID("upstream")))
	take(t, ctx, dir, "diff", s.url+"/ui/revisions/default/blueprints.nginx.second/diff", chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// take navigates to a page, waits until it is ready, and saves a picture
// of the viewport as dir/name.png.
func take(t *testing.T, ctx context.Context, dir, name, url string, ready chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), ready); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("%s: a screenshot of %d bytes, %v", name, len(png), err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
