package call

import (
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/callsig/callsig/internal/core"
)

// The user table against a plain map: users with a record and users
// found through a call (as member 1 or 2 of it), added, switched from one
// kind to the other, and deleted, with IDs from a small pool so that
// probes collide, wrap around the end of the table and shift back on
// delete.
func TestUserTableRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := newUserTable()
		type entry struct {
			u *user
			c *callRecord
			m int
		}
		ref := map[string]entry{}
		id := rapid.Custom(func(t *rapid.T) string { return "u" + strconv.Itoa(rapid.IntRange(0, 60).Draw(t, "n")) })
		draw := func(t *rapid.T, k string) entry {
			if rapid.Bool().Draw(t, "record") {
				return entry{u: &user{id: k}}
			}
			c, m := newRecord(3), rapid.IntRange(1, 2).Draw(t, "member")
			c.Open(time.Time{}, &core.Opening{Caller: "caller", Invitees: []string{"", ""}})
			c.Members()[3-m].User, c.Members()[m].User = "other", k
			return entry{c: c, m: m}
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
				if e.u != nil {
					tab.addRecord(i, h, e.u)
				} else {
					tab.addCall(i, h, e.c, e.m)
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
				if e.u != nil {
					tab.setRecord(i, e.u)
				} else {
					tab.setCall(i, e.c, e.m)
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
					if tab.key(i) != k || tab.rec(i) != e.u || e.c != nil && tab.head(i) != &e.c.links()[e.m] {
						t.Fatalf("slot of %s holds another entry", k)
					}
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
