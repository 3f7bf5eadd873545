package call

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// sortByOrder sorts as a comparison sort does, whether the orders are
// dense (placed by slot), spread wide, or not all distinct (sorted by
// comparison), and keeps every entry.
func TestSortByOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 200).Draw(t, "n")
		base := rapid.Uint64Range(0, 1<<40).Draw(t, "base")
		spread := rapid.Uint64Range(1, 1000).Draw(t, "spread")
		index := make([]callIndex, n)
		for i := range index {
			index[i] = callIndex{order: base + rapid.Uint64Range(0, spread*uint64(n+1)).Draw(t, "order"), at: uint32(i)}
		}
		want := slices.Clone(index)
		slices.SortStableFunc(want, byOrder)
		got := sortByOrder(slices.Clone(index))
		if len(got) != len(want) {
			t.Fatalf("%d entries, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].order != want[i].order {
				t.Fatalf("#%d has order %d, want %d", i, got[i].order, want[i].order)
			}
		}
		seen := map[uint32]bool{}
		for _, c := range got {
			if seen[c.at] {
				t.Fatalf("entry %d twice", c.at)
			}
			seen[c.at] = true
		}
	})
}
