package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
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
		`{"format":3,"node":{"id":"m"},"epoch":"2","entry":{}}`,
	} {
		index := uint64(3 + i)
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: []byte(data)})
			return "no panic"
		}()
		for _, want := range []string{fmt.Sprintf("log entry %d", index), "format " + data[10:11] + ";", "up to 1", "upgrade node n"} {
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

// TestProposalFormatCoversEntry lists the members of call.Entry's JSON in
// proposal format 1. A member added, removed or re-typed fails it: raise
// proposalFormat (see its comment, and the internal paths), then write
// the new list here, unless a node of the old format may safely ignore
// the new member, which the change must then say why.
func TestProposalFormatCoversEntry(t *testing.T) {
	if proposalFormat != 1 {
		t.Fatalf("proposalFormat %d: write this test's list for it", proposalFormat)
	}
	want := map[string]string{
		"op": "call.Op", "at": "time.Time", "user": "string", "device": "string", "call": "string",
		"users": "[]string", "timeout": "time.Duration", "mode": "events.Mode", "data": "string",
		"push": "*events.Push", "host_id": "bool", "admit": "[]string",
		"push.title": "string", "push.content": "string", "push.payload": "string",
	}
	got := map[string]string{}
	var walk func(prefix string, rt reflect.Type)
	walk = func(prefix string, rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			got[prefix+name] = f.Type.String()
			if ft := f.Type; ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				walk(prefix+name+".", ft.Elem()) // a struct of the entry's own: its members count too
			}
		}
	}
	walk("", reflect.TypeFor[call.Entry]())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("call.Entry's JSON members in format 1:\n got %v\nwant %v", got, want)
	}
}
