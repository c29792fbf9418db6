package main

import (
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// repo is one repository under measurement.
type repo struct {
	benchutil.PublishTarget
	gitDir   string
	generate time.Duration // repogen writing the bare repository
	sync     time.Duration // from registration to Ready
	synced   int           // packages the first sync found
	base     baseline
	warmUp   []publication
	pubs     []publication
}

// publication is one package revision taken from a copy to Published.
type publication = benchutil.Publication

// Steps of a publication, in order (benchutil's).
const (
	stepCreate  = benchutil.StepCreate
	stepEdit    = benchutil.StepEdit
	stepPropose = benchutil.StepPropose
	stepApprove = benchutil.StepApprove
	stepRead    = benchutil.StepRead
)

// wantCodes are the status codes of the steps that succeed.
var wantCodes = benchutil.WantCodes

func publish(s *benchutil.Server, r *repo, round int) publication {
	return benchutil.Publish(s, &r.PublishTarget, round)
}
