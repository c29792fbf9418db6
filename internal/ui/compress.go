package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// minGzip is the smallest body worth compressing.
const minGzip = 1024

// gzipWriters compress pages: at gzip's fastest level, since a page is
// compressed on every request (a revision page of 200 files is 600 KB).
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// acceptsGzip tells whether a request takes gzip-encoded answers.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipped compresses a page.
func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	gzipWriters.Put(w)
	return out.Bytes()
}

// gzippedBest compresses an asset, once, as small as gzip makes it.
func gzippedBest(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// writeBody writes a page's body, compressed when the client takes it and
// it is worth it.
func writeBody(w http.ResponseWriter, r *http.Request, code int, b []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if len(b) >= minGzip && acceptsGzip(r) {
		b = gzipped(b)
		h.Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// asset is an embedded file, kept compressed too, with its ETag.
type asset struct {
	raw, gz     []byte
	contentType string
	etag        string
}

// assetServer serves the embedded assets: an ETag each (a hash of the
// content), gzip to clients that take it, cached an hour.
type assetServer map[string]*asset

func loadAssets(files fs.FS) (assetServer, error) {
	a := assetServer{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		a[p] = &asset{raw: b, gz: gzippedBest(b), contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return a, err
}

func (a assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a[strings.TrimPrefix(r.URL.Path, Prefix+"assets/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b := f.raw
	if acceptsGzip(r) && len(f.gz) < len(f.raw) {
		b = f.gz
		h.Set("Content-Encoding", "gzip")
	}
	_, _ = w.Write(b)
}
