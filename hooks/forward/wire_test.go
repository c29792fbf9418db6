package forward

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRequestWire pins the JSON a hook sends: a hook binary of one release
// talks to the server of another, so the field names and their order are
// the protocol.
func TestRequestWire(t *testing.T) {
	updates, err := ReadUpdates(strings.NewReader(
		"0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 refs/heads/main\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Request{Updates: updates, Quarantine: Quarantine{ObjectDirectory: "/q/objects"}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"updates":[{"old":"0000000000000000000000000000000000000000",` +
		`"new":"1111111111111111111111111111111111111111","ref":"refs/heads/main"}],` +
		`"quarantine":{"objectDirectory":"/q/objects"}}`
	if string(b) != want {
		t.Errorf("request encodes as\n%s\nwant\n%s", b, want)
	}
	var back Request
	if err := json.Unmarshal([]byte(want), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Updates) != 1 || back.Updates[0] != updates[0] {
		t.Errorf("decoded %+v, want %+v", back.Updates, updates)
	}
}
