package jsonl_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/internal/jsonl"
)

func TestAppendReadDropsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j, err := jsonl.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []call.Entry{
		{Op: call.OpLogin, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), User: "bob", Device: "p"},
		{Op: call.OpInvite, At: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), User: "a", Users: []string{"bob"}, CallID: "x"},
	}
	for _, e := range want {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"accept","at":"20`) // a crash mid-write
	f.Close()
	got, err := jsonl.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	if got, err := jsonl.Read(filepath.Join(t.TempDir(), "missing")); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	for _, s := range []string{"one", "two"} {
		if err := jsonl.WriteFileAtomic(path, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != s {
			t.Fatalf("read %q, want %q", b, s)
		}
	}
}
