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
	"strconv"
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

// acceptsGzip tells whether a request takes gzip-encoded answers: gzip
// (or *) is listed in Accept-Encoding with a weight above 0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// matches tells whether an If-None-Match header names etag: one of its
// list, compared weakly (W/ ignored), or *.
func matches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
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

// asset is an embedded file, kept compressed too, with an ETag for each
// form.
type asset struct {
	raw, gz        []byte
	contentType    string
	etag, etagGzip string
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
		tag := base64.RawURLEncoding.EncodeToString(sum[:12])
		a[p] = &asset{raw: b, gz: gzippedBest(b), contentType: ct, etag: `"` + tag + `"`, etagGzip: `"` + tag + `-gz"`}
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
	h.Set("Vary", "Accept-Encoding")
	b, etag := f.raw, f.etag
	gz := acceptsGzip(r) && len(f.gz) < len(f.raw)
	if gz {
		b, etag = f.gz, f.etagGzip
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && matches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	_, _ = w.Write(b)
}
