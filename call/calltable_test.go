package call

import (
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// The call table against a plain map: any sequence of puts, gets and
// deletes, with IDs from a small pool so that probes collide, wrap around
// the end of the table and shift back on delete.
func TestCallTableRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := newCallTable()
		ref := map[string]*callState{}
		id := rapid.Custom(func(t *rapid.T) string { return "c" + strconv.Itoa(rapid.IntRange(0, 60).Draw(t, "n")) })
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k := id.Draw(t, "id")
				if ref[k] != nil {
					t.Skip("present")
				}
				c := &callState{id: k}
				tab.put(c)
				ref[k] = c
			},
			"del": func(t *rapid.T) {
				k := id.Draw(t, "id")
				tab.del(k)
				delete(ref, k)
			},
			"": func(t *rapid.T) {
				if tab.len() != len(ref) {
					t.Fatalf("len %d, want %d", tab.len(), len(ref))
				}
				for n := 0; n <= 60; n++ {
					k := "c" + strconv.Itoa(n)
					if got := tab.get(k); got != ref[k] {
						t.Fatalf("get(%s) = %p, want %p", k, got, ref[k])
					}
				}
				seen := 0
				tab.each(func(c *callState) {
					if ref[c.id] != c {
						t.Fatalf("each gave %s, not in the map", c.id)
					}
					seen++
				})
				if seen != len(ref) {
					t.Fatalf("each gave %d calls, want %d", seen, len(ref))
				}
			},
		})
	})
}

// The user table against a plain map, as TestCallTableRapid.
func TestUserTableRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := newUserTable()
		ref := map[string]*user{}
		id := rapid.Custom(func(t *rapid.T) string { return "u" + strconv.Itoa(rapid.IntRange(0, 60).Draw(t, "n")) })
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k := id.Draw(t, "id")
				if ref[k] != nil {
					t.Skip("present")
				}
				u := &user{id: k}
				tab.put(u)
				ref[k] = u
			},
			"del": func(t *rapid.T) {
				k := id.Draw(t, "id")
				tab.del(k)
				delete(ref, k)
			},
			"": func(t *rapid.T) {
				if tab.len() != len(ref) {
					t.Fatalf("len %d, want %d", tab.len(), len(ref))
				}
				for n := 0; n <= 60; n++ {
					k := "u" + strconv.Itoa(n)
					if got := tab.get(k); got != ref[k] {
						t.Fatalf("get(%s) = %p, want %p", k, got, ref[k])
					}
				}
				seen := 0
				tab.each(func(u *user) {
					if ref[u.id] != u {
						t.Fatalf("each gave %s, not in the map", u.id)
					}
					seen++
				})
				if seen != len(ref) {
					t.Fatalf("each gave %d users, want %d", seen, len(ref))
				}
			},
		})
	})
}
