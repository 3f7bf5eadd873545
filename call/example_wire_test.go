package call_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// A host sends each event to its recipient as one JSON object, here in the
// envelope {"type":"event", …} that embedding Event gives. To names the
// connection's user, so the host clears it (and Offline, for an online
// recipient) before writing.
func Example_eventJSON() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)),
		NewID: func() string { return "c1" },
		Sink: events.SinkFunc(func(e events.Event) {
			if e.To != "bob" {
				return
			}
			e.To, e.Offline = "", false
			b, _ := json.Marshal(struct {
				Type string `json:"type"`
				events.Event
			}{"event", e})
			fmt.Println(string(b))
		}),
	})
	r.Login("bob", "phone")
	_, _ = r.Invite("alice", []string{"bob"}, call.InviteConfig{
		Timeout: 30 * time.Second, ExtendedData: "video", Push: &events.Push{Title: "Alice is calling"},
	})
	// Output:
	// {"type":"event","kind":"InvitationReceived","call_id":"c1","seq":2,"at":"2026-11-27T09:00:00Z","mode":"General","caller":"alice","from":"alice","data":"video","push":{"title":"Alice is calling"},"deadline":"2026-11-27T09:00:30Z","members":[{"user":"alice","state":"Accepted","data":"video"},{"user":"bob","state":"Received","inviter":"alice","deadline":"2026-11-27T09:00:30Z"}]}
}

// An invite's result as a reply carries it: the timeout in milliseconds,
// and each invitee that Options.Admit refused (H7) with a code and a
// message.
func ExampleInviteResult_MarshalJSON() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)),
		NewID: func() string { return "c1" },
		Admit: func(inviter, invitee string) error {
			if invitee == "zed" {
				return errors.New("zed blocks " + inviter)
			}
			return nil
		},
	})
	res, _ := r.Invite("alice", []string{"bob", "zed"}, call.InviteConfig{Timeout: 30 * time.Second})
	b, _ := json.Marshal(res)
	fmt.Println(string(b))

	var back call.InviteResult
	_ = json.Unmarshal(b, &back)
	fmt.Println(back.Timeout, back.Failed[0].User, call.Code(back.Failed[0].Err))
	// Output:
	// {"call_id":"c1","timeout_ms":30000,"deadline":"2026-11-27T09:00:30Z","failed":[{"user":"zed","code":"refused","message":"zed blocks alice"}]}
	// 30s zed refused
}

// A host answers a refused command with the error's code, and its message
// for people.
func ExampleCode() {
	r, _ := call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))})
	err := r.Accept("bob", "c9", call.AcceptConfig{})
	b, _ := json.Marshal(map[string]string{"code": call.Code(err), "message": err.Error()})
	fmt.Println(string(b))
	fmt.Printf("%q\n", call.Code(nil))
	// Output:
	// {"code":"call_not_found","message":"callsig: accept call \"c9\" by \"bob\": call not found"}
	// ""
}
