package btree

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzTree decodes its input into operations on a tree and checks each
// result against a sorted slice. The first byte picks the degree (2, 3, 4
// or 16); then every operation takes two bytes, op and arg:
//
//	op&0x80      the operation passes the tree's Hint (else nil)
//	(op>>4)&7    x, a small operand (delta, run length, limit, flags)
//	op%13        the kind, below
//	arg          a key (arg+1) or a position in the items (arg/256 of them)
//
// Trees that stop being written (copies taken, trees forked, trees left for
// another) are kept with the items they held and must hold exactly those
// at the end, however the trees they share nodes with went on changing.
func FuzzTree(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		runFuzzTree(t, data)
	})
}

const (
	fzSet = iota
	fzSet2
	fzSetRun
	fzDelete
	fzDelete2
	fzDeleteRun
	fzFind
	fzAscend
	fzCopy
	fzForkCur
	fzForkSnap
	fzCopySnap
	fzVerify
	fzKinds
)

type fuzzFrozen struct {
	tr   *Tree[int]
	want []int
	how  string
}

func runFuzzTree(t *testing.T, data []byte) {
	degree := []int{2, 3, 4, 16}[data[0]%4]
	data = data[1:]
	const maxItems, maxOps, maxSnaps = 2000, 500, 16

	cur := intTree(degree)
	var model []int
	var hint Hint
	var snaps []fuzzFrozen
	var log []string // the operations so far, for failure messages

	// On failure, the operations that led to it.
	defer func() {
		if t.Failed() {
			t.Logf("degree %d, %d operations:", degree, len(log))
			for i := max(0, len(log)-60); i < len(log); i++ {
				t.Logf("  %3d %s", i, log[i])
			}
		}
	}()
	verifySnap := func(s fuzzFrozen) {
		require.Equal(t, nilIfEmpty(s.want), nilIfEmpty(items(s.tr)), "%s changed after it was frozen", s.how)
		require.NoError(t, s.tr.Check(), s.how)
		require.NoError(t, checkCaps(s.tr), s.how)
		require.Equal(t, len(s.want), s.tr.Len())
	}
	freeze := func(tr *Tree[int], want []int, how string) {
		if len(snaps) == maxSnaps { // verify and forget the oldest
			verifySnap(snaps[0])
			snaps = slices.Delete(snaps, 0, 1)
		}
		snaps = append(snaps, fuzzFrozen{tr, slices.Clone(want), how})
	}
	// key picks a key from arg and x: arg+1, or an item's neighbour.
	key := func(arg byte, x int) int {
		if x&1 == 1 && len(model) > 0 {
			k := model[int(arg)*len(model)/256] + x>>1 - 1 // -1 .. +2
			return max(k, 1)
		}
		return int(arg) + 1
	}
	set := func(k int, h *Hint) {
		i, found := slices.BinarySearch(model, k)
		prev, replaced := cur.Set(k, h)
		require.True(t, found == replaced && (!found || prev == k), "Set(%d) = %d, %v", k, prev, replaced)
		if !found {
			model = slices.Insert(model, i, k)
		}
	}
	del := func(k int, h *Hint) {
		i, found := slices.BinarySearch(model, k)
		prev, ok := cur.Delete(k, h)
		require.True(t, found == ok && (!found || prev == k), "Delete(%d) = %d, %v", k, prev, ok)
		if found {
			model = slices.Delete(model, i, i+1)
		}
	}

	for ops := 0; len(data) >= 2 && ops < maxOps; ops++ {
		op, arg := data[0], data[1]
		data = data[2:]
		var h *Hint
		if op&0x80 != 0 {
			h = &hint
		}
		x := int(op>>4) & 7
		kind := int(op) % fzKinds
		hs := ""
		if h != nil {
			hs = "h"
		}
		mutated := true
		switch kind {
		case fzSet, fzSet2:
			k := key(arg, x)
			log = append(log, fmt.Sprintf("Set%s(%d)", hs, k))
			set(k, h)
		case fzSetRun: // rising (or falling) keys above the others
			n := 1 + int(arg)%64
			if len(model)+n > maxItems {
				mutated = false
				break
			}
			base := 256
			if len(model) > 0 {
				base = max(base, model[len(model)-1])
			}
			base += x >> 1
			log = append(log, fmt.Sprintf("SetRun%s(%d..%d,down=%v)", hs, base+1, base+n, x&1 == 1))
			for j := range n {
				if x&1 == 1 {
					set(base+n-j, h)
				} else {
					set(base+1+j, h)
				}
			}
		case fzDelete, fzDelete2:
			k := key(arg, x)
			log = append(log, fmt.Sprintf("Delete%s(%d)", hs, k))
			del(k, h)
		case fzDeleteRun: // a run of neighbouring items, rising or falling
			if len(model) == 0 {
				mutated = false
				break
			}
			at := int(arg) * len(model) / 256
			n := min(1+x*3, len(model)-at)
			run := slices.Clone(model[at : at+n])
			if op&1 == 1 {
				slices.Reverse(run)
			}
			log = append(log, fmt.Sprintf("DeleteRun%s(%v)", hs, run))
			for _, k := range run {
				del(k, h)
			}
		case fzFind:
			mutated = false
			k := key(arg, x)
			log = append(log, fmt.Sprintf("Find(%d)", k))
			_, found := slices.BinarySearch(model, k)
			got, ok := cur.Find(probe(k))
			require.True(t, found == ok && (!found || got == k), "Find(%d) = %d, %v", k, got, ok)
			got, ok = cur.Get(k)
			require.True(t, found == ok && (!found || got == k), "Get(%d) = %d, %v", k, got, ok)
		case fzAscend:
			mutated = false
			limit := int(op&0x8f) % 23 // 0..22, apart from x
			k := key(arg, x)
			up, down := 0, 0 // far edges, with the hint bit
			if h != nil {
				up, down = k+limit, max(1, k-limit)
			}
			if x == 6 {
				k = 0 // from the first or last item
			}
			log = append(log, fmt.Sprintf("Ascend(%d,limit %d,edge %d) Descend(edge %d)", k, limit, up, down))
			requireWalk(t, cur, model, k, limit, up, false)
			requireWalk(t, cur, model, k, limit, down, true)
		case fzCopy:
			mutated = false
			c := cur.Copy()
			if x&1 == 1 { // write the copy; the source stays
				log = append(log, "CopyWriteCopy")
				freeze(cur, model, fmt.Sprintf("a Copy source (op %d)", ops))
				cur = c
			} else {
				log = append(log, "Copy")
				freeze(c, model, fmt.Sprintf("a Copy (op %d)", ops))
			}
		case fzForkCur: // fork the tree; it is never written again
			mutated = false
			log = append(log, "ForkCur")
			freeze(cur, model, fmt.Sprintf("a Fork source (op %d)", ops))
			cur = cur.Fork()
		case fzForkSnap, fzCopySnap: // write a fork (a copy) of a frozen tree
			mutated = false
			if len(snaps) == 0 {
				break
			}
			s := snaps[int(arg)%len(snaps)]
			freeze(cur, model, fmt.Sprintf("a tree left for a fork (op %d)", ops))
			if kind == fzForkSnap {
				log = append(log, fmt.Sprintf("ForkSnap(%s)", s.how))
				cur = s.tr.Fork()
			} else {
				log = append(log, fmt.Sprintf("CopySnap(%s)", s.how))
				cur = s.tr.Copy()
			}
			model = slices.Clone(s.want)
		case fzVerify:
			mutated = false
			log = append(log, "Verify")
			for _, s := range snaps {
				verifySnap(s)
			}
		}
		require.True(t, len(model) == cur.Len(), "Len() = %d, want %d", cur.Len(), len(model))
		// The whole tree after every change while it is small, now and
		// then once it is not.
		if mutated && (len(model) <= 256 || ops%16 == 0) {
			require.NoError(t, cur.Check())
			require.NoError(t, checkCaps(cur))
			if got := items(cur); !slices.Equal(model, got) {
				require.Equal(t, nilIfEmpty(model), nilIfEmpty(got))
			}
		}
	}
	require.NoError(t, cur.Check())
	require.NoError(t, checkCaps(cur))
	require.Equal(t, nilIfEmpty(model), nilIfEmpty(items(cur)))
	for _, s := range snaps {
		verifySnap(s)
	}
}

// checkCaps verifies that every node still has the slices it was given,
// of max+1 items and max+2 children: no operation ever appended past
// them (which would reallocate, and mean a node held too many).
func checkCaps(t *Tree[int]) error {
	var walk func(n *node[int]) error
	walk = func(n *node[int]) error {
		if cap(n.items) != t.max+1 {
			return fmt.Errorf("node of %d items has capacity %d, want %d", len(n.items), cap(n.items), t.max+1)
		}
		if n.leaf() {
			return nil
		}
		if cap(n.children) != t.max+2 {
			return fmt.Errorf("node of %d children has capacity %d, want %d", len(n.children), cap(n.children), t.max+2)
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if t.root == nil {
		return nil
	}
	return walk(t.root)
}

// fuzzSeeds builds a few inputs that reach deep trees, uneven splits in
// the middle of a tree, merges and forks of forks.
func fuzzSeeds() [][]byte {
	op := func(kind, x int, hint bool) byte {
		// kind must come out of op%fzKinds with x in bits 4..6.
		for b := 0; b < 256; b++ {
			if b%fzKinds == kind && (b>>4)&7 == x && (b&0x80 != 0) == hint {
				return byte(b)
			}
		}
		panic(fmt.Sprintf("no op byte for kind %d x %d hint %v", kind, x, hint))
	}
	var seeds [][]byte
	for deg := range 4 {
		var s []byte
		s = append(s, byte(deg))
		// Rising runs, with and without a hint, then a copy.
		for range 6 {
			s = append(s, op(fzSetRun, 0, true), 63)
		}
		s = append(s, op(fzCopy, 0, false), 0)
		// Neighbours of items in the middle (end-of-leaf inserts).
		for a := 0; a < 256; a += 9 {
			s = append(s, op(fzSet, 5, a%2 == 0), byte(a))
			s = append(s, op(fzSet, 3, a%2 == 1), byte(a))
		}
		s = append(s, op(fzForkCur, 0, false), 0)
		// Runs of deletes in the middle, both ways.
		for a := 10; a < 250; a += 37 {
			s = append(s, op(fzDeleteRun, 7, a%2 == 0), byte(a))
			s = append(s, op(fzAscend, 1, false), byte(a))
			s = append(s, op(fzAscend, 3, false), byte(a))
		}
		s = append(s, op(fzAscend, 6, false), 5)
		s = append(s, op(fzForkSnap, 0, true), 1)
		for a := 0; a < 256; a += 17 {
			s = append(s, op(fzDelete, 1, true), byte(a))
			s = append(s, op(fzFind, 0, false), byte(a))
		}
		s = append(s, op(fzCopySnap, 1, false), 0)
		for a := 0; a < 256; a += 5 {
			s = append(s, op(fzSet, 0, true), byte(a))
		}
		s = append(s, op(fzVerify, 0, false), 0)
		seeds = append(seeds, s)
	}
	// Forks emptied from their end, and from their start, one item at a
	// time: merges into a shared left sibling, rotations from shared ones.
	for deg := range 4 {
		s := []byte{byte(deg), op(fzSetRun, 0, false), 200, op(fzSetRun, 0, true), 100}
		for i := range 40 {
			s = append(s, op(fzForkCur, 0, false), 0)
			if i%2 == 0 {
				s = append(s, op(fzDelete, 3, false), 255, op(fzDelete, 3, true), 255)
			} else {
				s = append(s, op(fzDelete, 3, true), 0, op(fzDelete, 3, false), 0)
			}
		}
		seeds = append(seeds, s)
	}
	seeds = append(seeds, []byte{1, 0x02, 200, 0x83, 100, 0x08, 0, 0x05, 128, 0x0a, 0, 0x84, 3})
	return seeds
}
