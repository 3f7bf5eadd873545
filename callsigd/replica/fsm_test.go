package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/hashicorp/raft"
)

// TestFSMRefusesGarbage: a log entry or a snapshot it cannot read gives
// ErrInvalidArgument and leaves the replica as it was.
func TestFSMRefusesGarbage(t *testing.T) {
	f, err := newFSM("n", 1, call.Options{}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := f.state()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte("{not json")}).(applied)
	if !errors.Is(a.err, call.ErrInvalidArgument) {
		t.Fatalf("Apply of garbage = %v, want ErrInvalidArgument", a.err)
	}
	a, _ = f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte(`{"entry":{"op":"dance"}}`)}).(applied)
	if !errors.Is(a.err, call.ErrInvalidArgument) {
		t.Fatalf("Apply of an unknown op = %v, want ErrInvalidArgument", a.err)
	}
	for _, snap := range []string{"", "1234567", "12345678{}", "12345678" + string(before[:len(before)/2])} {
		if err := f.Restore(io.NopCloser(strings.NewReader(snap))); !errors.Is(err, call.ErrInvalidArgument) {
			t.Fatalf("Restore(%q) = %v, want ErrInvalidArgument", snap, err)
		}
	}
	if _, after, _ := f.state(); string(after) != string(before) {
		t.Fatalf("garbage changed the replica:\n%s\n%s", before, after)
	}
}

// TestFSMStopsAtANewerFormat: an entry written in a proposal format newer
// than the node's is neither applied nor refused (either could leave this
// replica unlike its peers', which know the format): Apply panics, naming
// the entry and both formats, with the replica and its applied index as
// they were. Entries of the node's own format, and of none (format 1),
// apply.
func TestFSMStopsAtANewerFormat(t *testing.T) {
	f, err := newFSM("n", 1, call.Options{}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	login := func(user string) call.Entry {
		return call.Entry{Op: call.OpLogin, User: user, At: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	}
	own, err := json.Marshal(newProposal("m", 2, login("alice")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(own), `"format":1`) {
		t.Fatalf("a proposal does not say its format: %s", own)
	}
	if a := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: own}).(applied); a.err != nil {
		t.Fatalf("Apply of format 1 = %v", a.err)
	}
	unversioned := `{"node":"m","epoch":2,"entry":{"op":"login","user":"bob","at":"2026-12-06T00:00:00Z"}}`
	if a := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte(unversioned)}).(applied); a.err != nil {
		t.Fatalf("Apply of an entry with no format = %v", a.err)
	}
	if got := f.registry().Devices("bob"); len(got) != 1 {
		t.Fatalf("an entry with no format did not apply: bob's devices %q", got)
	}
	_, before, err := f.state()
	if err != nil {
		t.Fatal(err)
	}
	// A newer format whose entry this node could decode, and one it could
	// not: neither is applied, nor refused.
	for i, data := range []string{
		`{"format":2,"node":"m","epoch":2,"entry":{"op":"login","user":"carol","at":"2026-12-06T00:00:00Z"}}`,
		`{"format":7,"node":"m","epoch":2,"entry":["a","shape","format 1 never had"]}`,
	} {
		index := uint64(3 + i)
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: []byte(data)})
			return "no panic"
		}()
		for _, want := range []string{fmt.Sprintf("log entry %d", index), "format " + data[10:11], "up to 1", "upgrade node n"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("Apply of %s: %q, want a panic saying %q", data, msg, want)
			}
		}
		if got := f.applied(); got != 2 {
			t.Fatalf("applied index %d after an entry of a newer format, want 2", got)
		}
		if _, after, _ := f.state(); string(after) != string(before) {
			t.Fatalf("an entry of a newer format changed the replica:\n%s\n%s", before, after)
		}
	}
}
