package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
)

// A command that was done but whose result JSON cannot carry (a time past
// the year 9999) is answered with the code internal and the request's id,
// never with a dropped reply or a partial frame; a result JSON can carry
// is answered ok.
func TestUnencodableResultIsInternal(t *testing.T) {
	id := json.RawMessage(`"r7"`)
	far := call.Info{CallID: "c1", Caller: "alice", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, code := encodeReply(id, far, nil)
	var got struct {
		Type   string          `json:"type"`
		ID     string          `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *replyError     `json:"error"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("reply %s: %v", b, err)
	}
	if code != "internal" || got.Type != "reply" || got.ID != "r7" || got.Result != nil || got.Error == nil || got.Error.Code != "internal" {
		t.Fatalf("code %q, reply %s: want an internal error reply to r7", code, b)
	}
	near := far
	near.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got.Error = nil
	if b, code := encodeReply(id, near, nil); code != "ok" || json.Unmarshal(b, &got) != nil || got.Error != nil {
		t.Fatalf("code %q, reply %s: want ok", code, b)
	}
}
