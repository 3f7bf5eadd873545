package calltable

import (
	"fmt"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// rec is what the tests file: a record that carries its ID.
type rec struct{ id string }

func (r *rec) Key() string { return r.id }

// check compares tab with ref, a plain map, through every ID of pool: Get,
// Len and Each must all agree with it.
func check(t *rapid.T, tab *Table[*rec], ref map[string]*rec, pool []string) {
	if tab.Len() != len(ref) {
		t.Fatalf("Len %d, want %d", tab.Len(), len(ref))
	}
	for _, k := range pool {
		if got := tab.Get(k); got != ref[k] {
			t.Fatalf("Get(%s) = %p, want %p", k, got, ref[k])
		}
	}
	seen := 0
	tab.Each(func(r *rec) {
		if ref[r.id] != r {
			t.Fatalf("Each gave %s, not in the map", r.id)
		}
		seen++
	})
	if seen != len(ref) {
		t.Fatalf("Each gave %d records, want %d", seen, len(ref))
	}
	n := 0
	for i := range tab.Slots() {
		if r := tab.Slot(i); r != nil {
			if ref[r.id] != r {
				t.Fatalf("slot %d holds %s, not in the map", i, r.id)
			}
			n++
		}
	}
	if n != len(ref) {
		t.Fatalf("the slots hold %d records, want %d", n, len(ref))
	}
}

// run drives tab with puts and deletes of IDs drawn from pool, at most
// limit of them in at once, against a plain map; after runs after check.
func run(t *rapid.T, tab *Table[*rec], pool []string, limit int, after func(t *rapid.T)) {
	ref := map[string]*rec{}
	id := rapid.SampledFrom(pool)
	t.Repeat(map[string]func(*rapid.T){
		"put": func(t *rapid.T) {
			k := id.Draw(t, "id")
			if ref[k] != nil {
				t.Skip("present")
			}
			if len(ref) == limit {
				t.Skip("full")
			}
			r := &rec{id: k}
			tab.Put(r)
			ref[k] = r
		},
		"del": func(t *rapid.T) {
			k := id.Draw(t, "id")
			tab.Del(k)
			delete(ref, k)
		},
		"": func(t *rapid.T) {
			check(t, tab, ref, pool)
			after(t)
		},
	})
}

// The table against a plain map: any sequence of puts, gets and deletes,
// with IDs from a small pool so that probes collide, wrap around the end
// of the table and shift back on delete, and enough of them that the
// table grows.
func TestTableRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := New[*rec]()
		pool := make([]string, 61)
		for n := range pool {
			pool[n] = "c" + strconv.Itoa(n)
		}
		run(t, &tab, pool, len(pool), func(*rapid.T) {})
	})
}

// Deletion under heavy collisions: every ID's probe starts in one of the
// last two slots of a table of MinSlots or the first, so that all the
// entries form one cluster that wraps around the end, and deleting any of
// them must shift the right ones back, across the wrap, and no others.
// The table holds few enough that it never grows.
func TestTableDeleteUnderCollisions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := New[*rec]()
		mask := MinSlots - 1
		homes := map[int]int{} // IDs of the pool by home slot
		var pool []string
		for n := 0; len(pool) < 3*MinSlots; n++ {
			k := "c" + strconv.Itoa(n)
			if home := int(tab.hash(k)) & mask; (home == mask-1 || home == mask || home == 0) && homes[home] < MinSlots {
				homes[home]++
				pool = append(pool, k)
			}
		}
		// At most 3/4 of MinSlots at once, where the table does not grow.
		limit := rapid.IntRange(1, MinSlots*3/4).Draw(t, "limit")
		run(t, &tab, pool, limit, func(t *rapid.T) {
			if tab.Len() > 0 && tab.Slots() != MinSlots {
				t.Fatalf("%d slots, want %d", tab.Slots(), MinSlots)
			}
		})
	})
}

// MayFill against its definition: in a table of eight slots, the entry in
// slot j with home slot home may fill the hole at i exactly when the walk
// from home to j does not pass i (so that, moved to i, it is still found
// from home before an empty slot).
func TestMayFill(t *testing.T) {
	const size = 8
	for i := range size {
		for j := range size {
			if j == i {
				continue
			}
			for home := range size {
				// The entry in j is reached from home through the slots
				// home, home+1, ..., j; home lies in (i, j] exactly when
				// that walk does not pass i.
				passes := false
				for k := home; ; k = (k + 1) % size {
					if k == i {
						passes = true
					}
					if k == j {
						break
					}
				}
				if got := MayFill(i, j, home); got != passes {
					t.Errorf("MayFill(%d, %d, %d) = %v, want %v", i, j, home, got, passes)
				}
			}
		}
	}
}

// Touch loads a slot and changes nothing: on an empty table, and on one
// whose lookups and placements then go on as without it.
func TestTouchChangesNothing(t *testing.T) {
	tb := New[*rec]()
	if v := tb.Touch("x"); v != 0 {
		t.Fatalf("Touch on an empty table = %d", v)
	}
	for i := range 100 {
		id := fmt.Sprint("c", i)
		tb.Touch(id)
		tb.Put(&rec{id: id})
	}
	for i := range 100 {
		id := fmt.Sprint("c", i)
		tb.Touch(id)
		if r := tb.Get(id); r == nil || r.id != id {
			t.Fatalf("Get(%s) = %v after Touch", id, r)
		}
	}
	if tb.Len() != 100 {
		t.Fatalf("Len %d", tb.Len())
	}
}
