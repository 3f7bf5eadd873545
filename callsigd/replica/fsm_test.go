package replica

import (
	"errors"
	"io"
	"strings"
	"testing"

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
