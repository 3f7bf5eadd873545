package callsig_test

import (
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// What README.md's quick start calls a host's own: its push service, its
// connections, and its answer to the client that sent a command.
var (
	pushes pushService
	conns  connections
)

type pushService struct{}

func (pushService) Send(user string, p events.Push) {
	fmt.Printf("push to %s: %s: %s\n", user, p.Title, p.Content)
}

type connections struct{}

func (connections) SendToUser(user string, e events.Event) {
	fmt.Printf("to %s: %v\n", user, e.Kind)
}

func (connections) SendToDevice(user, device string, e events.Event) {
	fmt.Printf("to %s's %s: %v\n", user, device, e.Kind)
}

func reply(err error) {
	if err != nil {
		fmt.Println("error:", err)
	}
}

// Example_quickStart is README.md's quick start, which
// TestREADMEQuickStartIsTheExample keeps identical to the lines between
// the quickstart markers.
func Example_quickStart() {
	// quickstart:begin
	reg, err := call.NewRegistry(call.Options{
		Sink: events.SinkFunc(func(e events.Event) {
			switch {
			case e.Offline && e.Push != nil: // no device online: an invitation, cancel or timeout to push
				pushes.Send(e.To, *e.Push)
			case e.Offline: // no device online and nothing to push: drop it
			case e.ToDevice != "": // a replay for the device that just logged in
				conns.SendToDevice(e.To, e.ToDevice, e)
			default: // every online device of e.To
				conns.SendToUser(e.To, e)
			}
		}),
	})
	if err != nil {
		log.Fatal(err)
	}

	// From your transport:
	if err := reg.Login("alice", "laptop"); err != nil { // a device connects
		log.Print(err) // a bad ID, or the Journal refused: not online, refuse the connection
	}
	_ = reg.Login("bob", "phone")
	res, err := reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{
		Timeout:      30 * time.Second,
		ExtendedData: `{"media":"video"}`,
		Push:         &events.Push{Title: "Alice", Content: "Incoming video call"},
	})
	if err != nil {
		reply(err) // a call.Err* sentinel, matched with errors.Is
		return
	}
	reply(reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"}))
	_, err = reg.Cancel("alice", res.CallID, []string{"carol"}, call.CancelConfig{
		Push: &events.Push{Title: "Alice", Content: "Missed call"},
	})
	reply(err)
	if err := reg.Logout("alice", "laptop"); err != nil { // a device disconnects
		log.Print(err) // the Journal refused: still online, retry until nil
	}
	// quickstart:end

	// Output:
	// to alice: InvitationCreated
	// to bob: InvitationReceived
	// push to carol: Alice: Incoming video call
	// to alice: InvitationAccepted
	// to bob: UserStateChanged
	// push to carol: Alice: Missed call
}

// TestREADMEQuickStartIsTheExample fails when README.md's quick start and
// Example_quickStart differ, so the README's code always compiles and its
// output is checked.
func TestREADMEQuickStartIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	_, block, ok := strings.Cut(after, "```go\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatal("README.md's quick start has no ```go block")
	}
	_, region, ok := strings.Cut(string(src), "\t// quickstart:begin\n")
	region, _, ok2 = strings.Cut(region, "\t// quickstart:end\n")
	if !ok || !ok2 {
		t.Fatal("example_readme_test.go has no quickstart markers")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(region, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if block != want.String() {
		t.Errorf("README.md's quick start differs from Example_quickStart:\n--- README\n%s--- example\n%s", block, want.String())
	}
}
