package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"sync/atomic"
)

// forgeAPI answers, on loopback, the GitHub calls pkgserver makes to report
// the check of the pushed commit, and counts them: the bench measures
// receiving, and keeps the reports off the network.
type forgeAPI struct {
	url              string
	created, updated atomic.Int64
}

func startForgeAPI() *forgeAPI {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	f := &forgeAPI{url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/acme/blueprints/check-runs", func(w http.ResponseWriter, r *http.Request) {
		n := f.created.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"name":"pkgserver","status":"completed"}`, n)
	})
	mux.HandleFunc("PATCH /repos/acme/blueprints/check-runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.updated.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%s,"name":"pkgserver","status":"completed"}`, r.PathValue("id"))
	})
	go func() { _ = http.Serve(ln, mux) }()
	return f
}
