package call_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// normalize makes events that went through JSON comparable with ones that
// did not: empty slices and pointers as JSON decodes them.
func normalize(es []events.Event) []events.Event {
	out := make([]events.Event, len(es))
	for i, e := range es {
		b, _ := json.Marshal(e)
		_ = json.Unmarshal(b, &out[i])
	}
	return out
}

// randomInput applies one random input of either mode to reg.
func randomInput(rng *rand.Rand, reg *call.Registry, clk *clock.Manual) {
	users := []string{"ann", "ben", "cat", "dan", "eve"}
	devices := []string{"", "phone"}
	u := users[rng.IntN(len(users))]
	id := fmt.Sprintf("c%d", 1+rng.IntN(8))
	pick := func() []string {
		var l []string
		for _, v := range users {
			if v != u && rng.IntN(3) == 0 {
				l = append(l, v)
			}
		}
		return l
	}
	switch rng.IntN(13) {
	case 0:
		reg.Login(u, devices[rng.IntN(2)])
	case 1:
		reg.Logout(u, devices[rng.IntN(2)])
	case 2, 3:
		mode := events.Mode(rng.IntN(2))
		_, _ = reg.Invite(u, pick(), call.InviteConfig{Mode: mode, Timeout: time.Duration(1+rng.IntN(30)) * time.Second, ExtendedData: "x"})
	case 4:
		_ = reg.Accept(u, id, call.AcceptConfig{Device: devices[rng.IntN(2)]})
	case 5:
		_ = reg.Reject(u, id, call.RejectConfig{})
	case 6:
		_, _ = reg.Cancel(u, id, pick(), call.CancelConfig{})
	case 7:
		_, _ = reg.CallingInvite(u, id, pick(), call.CallingInviteConfig{})
	case 8:
		_, _ = reg.Join(u, id, call.JoinConfig{})
	case 9:
		_ = reg.Quit(u, id, call.QuitConfig{})
	case 10:
		_ = reg.End(u, id, call.EndConfig{})
	case 11:
		clk.Advance(time.Duration(rng.IntN(20)) * time.Second)
	case 12:
		reg.Heartbeat(u, devices[rng.IntN(2)])
	}
}
