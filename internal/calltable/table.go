// Package calltable holds the table of live calls by ID: open addressing
// with linear probing, deletion by shifting entries back (no tombstones),
// and the rule of that deletion (MayFill) for other tables laid out the
// same way.
package calltable

import "hash/maphash"

// Keyed is what a Table holds: a reference (in practice a pointer) to a
// record that carries its own ID. The zero value marks an empty slot and
// is never put in a table.
type Keyed interface {
	comparable
	// Key returns the record's ID, which must not change while the
	// record is in a table.
	Key() string
}

// Table maps IDs to the records that carry them. A slot is the reference
// to the record, whose own ID is the key, and the low 32 bits of the key's
// hash: a pointer's slot is 16 bytes, where a map[string]*T's slot holds a
// copy of the key's header too (B3). The hashes let a probe pass a slot,
// and a deletion shift the following slots back (no tombstones, so the
// table never degrades, however many IDs come and go), without reading any
// other record: with a million records, every such read is a cache miss
// (B4). A slot keeps its reference and hash side by side, so that a probe
// touches one cache line, not one in each of two arrays.
//
// A Table is made by New; it is not safe for concurrent use.
type Table[T Keyed] struct {
	seed  maphash.Seed
	slots []slot[T] // len is a power of two, or 0
	n     int
}

type slot[T Keyed] struct {
	v T
	h uint32 // the low bits of the hash of v.Key()
}

// MinSlots is the fewest slots a table has once it holds anything: its
// size when it first grows.
const MinSlots = 16

// New returns an empty table.
func New[T Keyed]() Table[T] { return Table[T]{seed: maphash.MakeSeed()} }

func (t *Table[T]) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// Touch loads the slot where a lookup of id starts, and returns part of
// it. A caller about to look up several keys, in this table and others,
// touches them all first: their cache misses, independent of one another,
// then overlap, where each lookup in its turn would wait for its own. The
// caller must keep the result where the compiler cannot see it unused,
// else the load may be dropped.
func (t *Table[T]) Touch(id string) uint32 {
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[int(t.hash(id))&(len(t.slots)-1)].h
}

// Get returns the record whose ID is id, or the zero T.
func (t *Table[T]) Get(id string) T {
	var zero T
	if t.n == 0 {
		return zero
	}
	h, mask := t.hash(id), len(t.slots)-1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == zero || s.h == h && s.v.Key() == id {
			return s.v
		}
	}
}

// Put adds v, whose ID is not in the table.
func (t *Table[T]) Put(v T) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
	}
	t.place(v, t.hash(v.Key()))
	t.n++
}

func (t *Table[T]) place(v T, h uint32) {
	var zero T
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i].v != zero {
		i = (i + 1) & mask
	}
	t.slots[i] = slot[T]{v, h}
}

// Del removes the record whose ID is id, if there is one.
func (t *Table[T]) Del(id string) {
	var zero T
	if t.n == 0 {
		return
	}
	h, mask := t.hash(id), len(t.slots)-1
	i := int(h) & mask
	for {
		s := &t.slots[i]
		if s.v == zero {
			return
		}
		if s.h == h && s.v.Key() == id {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].v != zero; j = (j + 1) & mask {
		if MayFill(i, j, int(t.slots[j].h)&mask) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[T]{}
	t.n--
}

// MayFill reports whether the entry in slot j, whose probe starts at slot
// home, may move back into the hole at slot i when an entry is deleted
// from a table with linear probing and no tombstones: it may unless home
// lies in the cyclic range (i, j], where it would then be unreachable
// from home. Every table laid out that way deletes by this one rule.
func MayFill(i, j, home int) bool {
	if j > i {
		return home <= i || home > j
	}
	return home <= i && home > j
}

func (t *Table[T]) grow() {
	var zero T
	old := t.slots
	t.slots = make([]slot[T], max(MinSlots, 2*len(old)))
	for _, s := range old {
		if s.v != zero {
			t.place(s.v, s.h)
		}
	}
}

// Len returns the number of records in the table.
func (t *Table[T]) Len() int { return t.n }

// Each calls f for every record, in no particular order: callers that
// need one sort.
func (t *Table[T]) Each(f func(v T)) {
	var zero T
	for _, s := range t.slots {
		if s.v != zero {
			f(s.v)
		}
	}
}

// Slots returns the number of slots: with Slot, it lets a walk over the
// table be cut into parts, or read ahead of where it is.
func (t *Table[T]) Slots() int { return len(t.slots) }

// Slot returns the record in slot i, or the zero T when the slot is
// empty; 0 <= i < Slots().
func (t *Table[T]) Slot(i int) T { return t.slots[i].v }
