package btree

import (
	"cmp"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var flagSeed = flag.Uint64("btree.seed", 0, "seed of TestTree_Model (0: random, printed)")

func intTree(degree int) *Tree[int] { return New(degree, cmp.Compare[int]) }

// probe is the search for target.
func probe(target int) func(int) int {
	return func(x int) int { return cmp.Compare(target, x) }
}

func items(t *Tree[int]) []int {
	var out []int
	t.Scan(func(x int) bool {
		out = append(out, x)
		return true
	})
	return out
}

// TestTree_Model runs random operations on trees of several degrees
// against a sorted slice, with copies and forks taken along the way that
// must keep their items while the tree goes on changing.
func TestTree_Model(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-btree.seed=%d repeats it)", seed, seed)
	for _, degree := range []int{2, 3, 4, 16} {
		t.Run(fmt.Sprintf("degree=%d", degree), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(degree)))
			tr := intTree(degree)
			var model []int
			type frozen struct {
				tr   *Tree[int]
				want []int
			}
			var snaps []frozen
			var hint Hint
			keySpace := 300
			for step := range 20_000 {
				k := 1 + rng.IntN(keySpace)
				if rng.IntN(4) == 0 { // runs of rising keys, as auto keys come
					k = keySpace + step
				}
				i, found := slices.BinarySearch(model, k)
				h := &hint
				if rng.IntN(3) == 0 {
					h = nil
				}
				switch op := rng.IntN(10); {
				case op < 5:
					prev, replaced := tr.Set(k, h)
					require.Equal(t, found, replaced, "Set(%d) at step %d", k, step)
					if found {
						require.Equal(t, k, prev)
					} else {
						model = slices.Insert(model, i, k)
					}
				case op < 8:
					prev, ok := tr.Delete(k, h)
					require.Equal(t, found, ok, "Delete(%d) at step %d", k, step)
					if found {
						require.Equal(t, k, prev)
						model = slices.Delete(model, i, i+1)
					}
				case op == 8:
					got, ok := tr.Find(probe(k))
					require.Equal(t, found, ok)
					if found {
						require.Equal(t, k, got)
					}
					_, ok = tr.Get(k)
					require.Equal(t, found, ok)
				default:
					limit, up, down := rng.IntN(20), 0, 0
					if rng.IntN(2) == 0 { // a far edge near k, sometimes before it
						up, down = k+rng.IntN(60)-5, max(1, k-rng.IntN(60)+5)
					}
					requireWalk(t, tr, model, k, limit, up, false)
					requireWalk(t, tr, model, k, limit, down, true)
					requireWalk(t, tr, model, 0, limit, down, true)
				}
				require.Equal(t, len(model), tr.Len())
				if step%500 == 0 {
					require.NoError(t, tr.Check(), "step %d", step)
					require.Equal(t, model, nilIfEmpty(items(tr)))
					switch rng.IntN(3) {
					case 0:
						snaps = append(snaps, frozen{tr.Copy(), slices.Clone(model)})
					case 1: // a fork of a copy writes on its own
						c := tr.Copy()
						snaps = append(snaps, frozen{c, slices.Clone(model)})
						f := c.Fork()
						f.Set(-1, nil)
						if len(model) > 0 {
							f.Delete(model[len(model)/2], nil)
						}
						require.NoError(t, f.Check())
					}
				}
			}
			require.NoError(t, tr.Check())
			for _, s := range snaps {
				require.Equal(t, s.want, nilIfEmpty(items(s.tr)), "a copy changed after the tree it came from did")
				require.NoError(t, s.tr.Check())
			}
		})
	}
}

func nilIfEmpty(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestTree_RisingKeysFillNodes: keys inserted in rising order, as auto
// primary keys and time stamps come, leave nodes nearly full rather than
// half full.
func TestTree_RisingKeysFillNodes(t *testing.T) {
	tr := intTree(16)
	var hint Hint
	for k := range 100_000 {
		tr.Set(k+1, &hint)
	}
	require.NoError(t, tr.Check())
	nodes, slots := 0, 0
	var walk func(n *node[int])
	walk = func(n *node[int]) {
		nodes++
		slots += tr.max
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(tr.root)
	fill := float64(tr.Len()) / float64(slots)
	require.Greater(t, fill, 0.9, "%d items in %d nodes", tr.Len(), nodes)
}

// TestTree_RisingKeysAppend: with a hint, an item above every other goes
// down the tree's right edge after one comparison, with the max, instead
// of a search; the tree stays whole while a copy shares its nodes.
func TestTree_RisingKeysAppend(t *testing.T) {
	compares := 0
	tr := New(16, func(a, b int) int { compares++; return cmp.Compare(a, b) })
	var hint Hint
	tr.Set(0, &hint)
	var snap *Tree[int]
	for k := 1; k <= 100_000; k++ {
		tr.Set(k, &hint)
		if k == 50_000 {
			snap = tr.Copy()
		}
	}
	require.LessOrEqual(t, compares, 100_000+10, "compares for 100,000 rising keys")
	require.NoError(t, tr.Check())
	require.NoError(t, snap.Check())
	require.Equal(t, 100_001, tr.Len())
	require.Equal(t, 50_001, snap.Len())
	for _, k := range []int{0, 49_999, 50_000} {
		_, ok := snap.Get(k)
		require.True(t, ok, "snapshot lost %d", k)
	}
	_, ok := snap.Get(50_001)
	require.False(t, ok, "snapshot sees a later append")
}

// TestTree_Fork_ConcurrentWriters: many goroutines fork one tree and
// write their forks at once (run under -race); the tree keeps its items
// and each fork holds its own.
func TestTree_Fork_ConcurrentWriters(t *testing.T) {
	base := intTree(4)
	for k := range 1000 {
		base.Set(k*2, nil)
	}
	want := items(base)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			f := base.Fork()
			for k := range 1000 {
				f.Set(k*2+1, nil) // odd keys are the fork's
				if k%3 == g%3 {
					f.Delete(k*2, nil)
				}
			}
			if err := f.Check(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, want, items(base))
	require.NoError(t, base.Check())
}

// TestTree_DeleteEveryItem empties trees in several orders down to a nil
// root, and they work again afterwards.
func TestTree_DeleteEveryItem(t *testing.T) {
	for _, order := range []string{"rising", "falling", "random"} {
		t.Run(order, func(t *testing.T) {
			tr := intTree(2)
			keys := make([]int, 500)
			for i := range keys {
				keys[i] = i + 1
				tr.Set(i+1, nil)
			}
			switch order {
			case "falling":
				slices.Reverse(keys)
			case "random":
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			}
			for _, k := range keys {
				_, ok := tr.Delete(k, nil)
				require.True(t, ok, "Delete(%d)", k)
				require.NoError(t, tr.Check())
			}
			require.Nil(t, tr.root)
			_, ok := tr.Delete(1, nil)
			require.False(t, ok)
			tr.Set(7, nil)
			require.Equal(t, []int{7}, items(tr))
		})
	}
}

func BenchmarkTree_Set(b *testing.B) {
	for _, order := range []string{"rising", "random"} {
		b.Run(order, func(b *testing.B) {
			keys := make([]int, 1_000_000)
			for i := range keys {
				keys[i] = i
			}
			if order == "random" {
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			}
			b.ReportAllocs()
			tr := intTree(16)
			var hint Hint
			for i := 0; b.Loop(); i++ {
				if i == len(keys) {
					tr, i = intTree(16), 0
				}
				tr.Set(keys[i], &hint)
			}
		})
	}
}

// TestTree_Check_Detects breaks a tree's shape in each way Check looks for
// and requires Check to say so: the checker can fail.
func TestTree_Check_Detects(t *testing.T) {
	build := func() *Tree[int] {
		tr := intTree(2)
		for i := 1; i <= 40; i++ {
			tr.Set(i, nil)
		}
		require.NoError(t, tr.Check())
		return tr
	}
	for _, c := range []struct {
		name    string
		corrupt func(tr *Tree[int])
		want    string
	}{
		{"order", func(tr *Tree[int]) {
			l := tr.root
			for !l.leaf() {
				l = l.children[0]
			}
			l.items[0], l.items[1] = l.items[1], l.items[0]
		}, "out of order"},
		{"count", func(tr *Tree[int]) { tr.count++ }, "counted"},
		{"stale item", func(tr *Tree[int]) {
			l := tr.root.children[0]
			l.items[:cap(l.items)][cap(l.items)-1] = 99
		}, "stale item"},
		{"depth", func(tr *Tree[int]) {
			r := tr.root
			r.children[0] = &node[int]{items: make([]int, 1, tr.max+1)}
			r.children[0].items[0] = r.items[0] - 1
		}, ""},
		{"children", func(tr *Tree[int]) { tr.root.children = tr.root.children[:len(tr.root.children)-1] }, "children for"},
		{"empty node", func(tr *Tree[int]) {
			l := tr.root
			for !l.leaf() {
				l = l.children[len(l.children)-1]
			}
			clear(l.items)
			l.items = l.items[:0]
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := build()
			c.corrupt(tr)
			err := tr.Check()
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// requireWalk checks Ascend (or Descend, if desc) from k (0: from the
// first or last item), stopped after limit items (at least one) or at the
// far edge (0: none; else the items from edge on are past it ascending,
// those below it descending), and Max, against model, the tree's items in
// order.
func requireWalk(t testing.TB, tr *Tree[int], model []int, k, limit, edge int, desc bool) {
	t.Helper()
	name, walk, sign := "Ascend", tr.Ascend, 1
	if desc {
		name, walk, sign = "Descend", tr.Descend, -1
	}
	var pr func(int) int
	var past func(int) bool
	if k != 0 {
		pr = probe(k)
	}
	switch {
	case edge != 0 && desc:
		past = func(x int) bool { return x < edge }
	case edge != 0:
		past = func(x int) bool { return x >= edge }
	}
	var avail []int // the items the walk may reach, in its order
	for j := range model {
		x := model[j]
		if desc {
			x = model[len(model)-1-j]
		}
		if k != 0 && (k-x)*sign > 0 {
			continue // before the start
		}
		if past != nil && past(x) {
			break
		}
		avail = append(avail, x)
	}
	want := avail[:min(max(limit, 1), len(avail))]
	var got []int
	done := walk(pr, past, func(x int) bool {
		got = append(got, x)
		return len(got) < limit
	})
	require.Equal(t, nilIfEmpty(want), nilIfEmpty(got), "%s(%d, limit %d, edge %d)", name, k, limit, edge)
	require.Equal(t, len(avail) < max(limit, 1), done, "%s(%d, limit %d, edge %d) returned %v", name, k, limit, edge, done)
	m, ok := tr.Max()
	require.Equal(t, len(model) > 0, ok)
	if ok {
		require.Equal(t, model[len(model)-1], m)
	}
}
