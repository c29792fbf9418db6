package revision

// ZeroID is the object id git gives for a ref that does not exist: the old
// value of a creation and the new value of a deletion.
const ZeroID = "0000000000000000000000000000000000000000"

// RefUpdate is one change of a ref, from Old to New. Git's hooks and the
// standalone hook's requests give ZeroID for a side where the ref does not
// exist; a ref transaction (gitrepo.Repo.UpdateRefs) and a reconcile hint
// also take "" for it.
//
// The JSON form is the wire protocol of the standalone hook
// (hooks/forward): its field names and order must not change.
type RefUpdate struct {
	Old string `json:"old"`
	New string `json:"new"`
	Ref string `json:"ref"`
}
