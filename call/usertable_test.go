package call

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/callsig/callsig/internal/core"
)

// The user table against a plain map: users with a record, users found
// through a call (as member 1 or 2 of it), online on the default device or
// not, and users online on the default device with neither (their ID's
// bytes kept), added, switched from one kind to another, and deleted,
// with IDs from a small pool so that probes collide, wrap around the end
// of the table and shift back on delete.
func TestUserTableRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := newUserTable()
		type entry struct {
			u      *user
			c      *callRecord
			m      int
			online bool // no record, online on the default device
		}
		ref := map[string]entry{}
		elsewhere := newRecord(2) // a call no slot keeps
		elsewhere.Open(time.Time{}, &core.Opening{Caller: "caller", Invitees: []string{""}})
		headOf := func(e entry) *memberLink {
			if e.c == nil {
				return nil
			}
			return &e.c.links()[e.m]
		}
		id := rapid.Custom(func(t *rapid.T) string { return "u" + strconv.Itoa(rapid.IntRange(0, 60).Draw(t, "n")) })
		draw := func(t *rapid.T, k string) entry {
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 0:
				return entry{u: &user{id: k}}
			case 1:
				return entry{online: true}
			}
			c, m := newRecord(3), rapid.IntRange(1, 2).Draw(t, "member")
			c.Open(time.Time{}, &core.Opening{Caller: "caller", Invitees: []string{"", ""}})
			c.Members()[3-m].User, c.Members()[m].User = "other", k
			return entry{c: c, m: m, online: rapid.Bool().Draw(t, "online")}
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				k := id.Draw(t, "id")
				i, h, ok := tab.find(k)
				if ok != (ref[k] != entry{}) {
					t.Fatalf("find(%s): %v", k, ok)
				}
				if ok {
					t.Skip("present")
				}
				e := draw(t, k)
				switch {
				case e.u != nil:
					tab.addRecord(i, h, e.u)
				case e.c == nil:
					tab.addOnline(i, h, strings.Clone(k))
				default:
					tab.addCall(i, h, e.c, e.m) // offline: it may grow the table, moving i
					j, _, _ := tab.find(k)
					tab.setCallOnline(j, e.online)
				}
				ref[k] = e
			},
			"set": func(t *rapid.T) {
				k := id.Draw(t, "id")
				i, _, ok := tab.find(k)
				if !ok {
					t.Skip("absent")
				}
				e := draw(t, k)
				switch {
				case e.u != nil:
					tab.setRecord(i, e.u)
				case e.c == nil:
					tab.setOnline(i, strings.Clone(k))
				default:
					tab.setCall(i, e.c, e.m, e.online)
				}
				ref[k] = e
			},
			"del": func(t *rapid.T) {
				k := id.Draw(t, "id")
				if i, _, ok := tab.find(k); ok {
					tab.del(i)
				}
				delete(ref, k)
			},
			"": func(t *rapid.T) {
				if tab.len() != len(ref) {
					t.Fatalf("len %d, want %d", tab.len(), len(ref))
				}
				records := 0
				for n := 0; n <= 60; n++ {
					k := "u" + strconv.Itoa(n)
					e, present := ref[k]
					i, _, ok := tab.find(k)
					if ok != present {
						t.Fatalf("find(%s): %v, want %v", k, ok, present)
					}
					if !ok {
						continue
					}
					if e.u != nil {
						records++
					}
					if tab.key(i) != k || tab.rec(i) != e.u || e.u == nil && tab.head(i) != headOf(e) {
						t.Fatalf("slot of %s holds another entry", k)
					}
					// findMember finds it by the call the slot keeps, or,
					// from another of the user's calls, by its ID.
					if e.c != nil && (tab.findMember(k, e.c, e.m) != i || tab.findMember(k, elsewhere, 1) != i) {
						t.Fatalf("findMember(%s) finds another slot than find", k)
					}
					if e.u == nil && (len(tab.devices(i)) > 0) != e.online {
						t.Fatalf("slot of %s: devices %q, want online %v", k, tab.devices(i), e.online)
					}
				}
				online := 0
				for _, e := range ref {
					if e.online {
						online++
					}
				}
				tab.eachOnline(func(id string, devices []string) {
					if e := ref[id]; !e.online || len(devices) != 1 || devices[0] != "" {
						t.Fatalf("eachOnline gave %s with %q, not online on the default device in the map", id, devices)
					}
					online--
				})
				if online != 0 {
					t.Fatalf("eachOnline missed %d users", online)
				}
				seen := 0
				tab.each(func(u *user) {
					if ref[u.id].u != u {
						t.Fatalf("each gave %s, not a record in the map", u.id)
					}
					seen++
				})
				if seen != records {
					t.Fatalf("each gave %d records, want %d", seen, records)
				}
			},
		})
	})
}
