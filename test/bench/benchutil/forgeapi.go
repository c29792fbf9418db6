package benchutil

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"sync/atomic"
)

// ForgeAPI answers, on loopback, the GitHub calls pkgserver makes to report
// the check of a pushed commit (of acme/blueprints), and counts them: the
// benches measure receiving, and keep the reports off the network.
type ForgeAPI struct {
	URL              string
	Created, Updated atomic.Int64
}

// StartForgeAPI starts a ForgeAPI, serving until this process ends.
func StartForgeAPI() *ForgeAPI {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	f := &ForgeAPI{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/acme/blueprints/check-runs", func(w http.ResponseWriter, r *http.Request) {
		n := f.Created.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"name":"pkgserver","status":"completed"}`, n)
	})
	mux.HandleFunc("PATCH /repos/acme/blueprints/check-runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.Updated.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%s,"name":"pkgserver","status":"completed"}`, r.PathValue("id"))
	})
	go func() { _ = http.Serve(ln, mux) }()
	return f
}
