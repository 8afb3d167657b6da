// Package btree is the ordered index of recstore: a copy-on-write B-tree of
// pointer-sized items, ordered by a comparison of the items themselves.
//
// It differs from github.com/tidwall/btree, which recstore used before, in
// two ways that the index needs. Items carry no key: a tree of *T compares
// records through their fields, so an index costs one word per record
// instead of a key and a pointer (recstore's bench measured 361 heap bytes
// per record with keyed items, against a target of 200). Searches take a
// probe function, so that a search for a key needs no item holding it.
// Nodes are allocated at their full size, so inserting never grows a slice,
// and a node that overflows from its end (rising keys) splits unevenly,
// leaving the left node full instead of half full.
//
// A Tree is not safe for concurrent use, except that any number of
// goroutines may read a tree that no one writes. Copy and Fork share nodes
// between trees; each tree copies a shared node before it first writes it.
package btree

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// Tree is a B-tree of items of type P, ordered by cmp. Items that compare
// equal are one item: Set replaces it.
type Tree[P any] struct {
	cmp   func(a, b P) int
	root  *node[P]
	count int
	iso   uint64 // nodes carrying this mark are the tree's own to write
	max   int    // items per node at most
}

type node[P any] struct {
	iso      uint64
	items    []P        // capacity max+1: a node overflows by one, then splits
	children []*node[P] // nil in a leaf; else len(items)+1 of them
}

func (n *node[P]) leaf() bool { return n.children == nil }

var isoCounter atomic.Uint64

func nextIso() uint64 { return isoCounter.Add(1) }

// New returns an empty tree ordered by cmp, whose nodes hold up to
// 2*degree-1 items. cmp(a, b) is negative if a sorts before b, zero if they
// are the same item, positive otherwise. degree is at least 2.
func New[P any](degree int, cmp func(a, b P) int) *Tree[P] {
	return &Tree[P]{cmp: cmp, iso: nextIso(), max: 2*max(degree, 2) - 1}
}

// Len returns the number of items.
func (t *Tree[P]) Len() int { return t.count }

// Copy returns a tree holding the same items as t, in O(1): the two share
// every node, and each copies a node before its first write to it. Copy
// writes t (its mark), so it must not run concurrently with readers of t's
// header; use Fork on a tree that others read.
func (t *Tree[P]) Copy() *Tree[P] {
	c := *t
	c.iso = nextIso()
	t.iso = nextIso()
	return &c
}

// Fork returns a writable tree holding the same items as t, in O(1),
// without writing t. The fork copies every node before its first write
// to it, so t stays as it is; t itself must not be written afterwards, or
// the fork would see those writes. Many goroutines may fork one tree at
// once.
func (t *Tree[P]) Fork() *Tree[P] {
	c := *t
	c.iso = nextIso()
	return &c
}

// Hint remembers where in the tree the last operation that took it went,
// so that operations on nearby items (rising keys above all) skip most of
// the search. The zero Hint is ready to use; a hint belongs to one tree.
type Hint struct {
	path [8]uint8
	used [8]bool
	// atEnd says the last item set with the hint went to the tree's end:
	// the next, if above every item, goes down the right edge without a
	// search.
	atEnd bool
}

// own returns *pn, copying it first if it belongs to another tree.
func (t *Tree[P]) own(pn **node[P]) *node[P] {
	n := *pn
	if n.iso == t.iso {
		return n
	}
	c := &node[P]{iso: t.iso, items: make([]P, len(n.items), t.max+1)}
	copy(c.items, n.items)
	if !n.leaf() {
		c.children = make([]*node[P], len(n.children), t.max+2)
		copy(c.children, n.children)
	}
	*pn = c
	return c
}

func (t *Tree[P]) newNode(leaf bool) *node[P] {
	n := &node[P]{iso: t.iso, items: make([]P, 0, t.max+1)}
	if !leaf {
		n.children = make([]*node[P], 0, t.max+2)
	}
	return n
}

// locate returns the position of the first item of n that is not below the
// target, and whether it equals the target. The target is item, compared
// with cmp, or, if probe is set, whatever probe compares items with
// (probe(x) is the target compared with x).
func (t *Tree[P]) locate(n *node[P], item P, probe func(P) int) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		var c int
		if probe != nil {
			c = probe(n.items[h])
		} else {
			c = t.cmp(item, n.items[h])
		}
		switch {
		case c == 0:
			return h, true
		case c > 0:
			lo = h + 1
		default:
			hi = h
		}
	}
	return lo, false
}

// hinted is locate for item, trying the hint's position at this depth
// first and remembering where the item went.
func (t *Tree[P]) hinted(n *node[P], item P, hint *Hint, depth int) (i int, found bool) {
	if hint == nil || depth >= len(hint.path) {
		return t.locate(n, item, nil)
	}
	if hint.used[depth] {
		// The item goes at the hinted position or, as the next of rising
		// keys does, just after the item there.
		i = min(int(hint.path[depth]), len(n.items))
		switch {
		case i < len(n.items):
			c := t.cmp(item, n.items[i])
			switch {
			case c == 0:
				return t.remember(hint, depth, i), true
			case c < 0 && (i == 0 || t.cmp(item, n.items[i-1]) > 0):
				return t.remember(hint, depth, i), false
			case c > 0 && (i+1 == len(n.items) || t.cmp(item, n.items[i+1]) < 0):
				return t.remember(hint, depth, i+1), false
			}
		case i > 0 && t.cmp(item, n.items[i-1]) > 0:
			return t.remember(hint, depth, i), false
		}
	}
	i, found = t.locate(n, item, nil)
	return t.remember(hint, depth, i), found
}

func (t *Tree[P]) remember(hint *Hint, depth, i int) int {
	if !hint.used[depth] || int(hint.path[depth]) != i {
		hint.path[depth], hint.used[depth] = uint8(min(i, 255)), true
		for d := depth + 1; d < len(hint.used); d++ {
			hint.used[d] = false
		}
	}
	return i
}

// Get returns the item equal to item.
func (t *Tree[P]) Get(item P) (P, bool) {
	return t.find(item, nil)
}

// Find returns the item that probe compares equal to its target; probe(x)
// is the target compared with x, so it is negative for the items above the
// target.
func (t *Tree[P]) Find(probe func(P) int) (P, bool) {
	var zero P
	return t.find(zero, probe)
}

func (t *Tree[P]) find(item P, probe func(P) int) (P, bool) {
	for n := t.root; n != nil; {
		i, found := t.locate(n, item, probe)
		if found {
			return n.items[i], true
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	var zero P
	return zero, false
}

// Set stores item, replacing the item equal to it if there is one, and
// returns that item. hint may be nil.
func (t *Tree[P]) Set(item P, hint *Hint) (prev P, replaced bool) {
	if t.root == nil {
		t.root = t.newNode(true)
	}
	root := t.own(&t.root)
	var atEnd bool
	if hint != nil && hint.atEnd && t.count > 0 && t.cmp(item, t.last()) > 0 {
		t.append(root, item, hint, 0)
		atEnd = true
	} else {
		prev, replaced, atEnd = t.insert(root, item, hint, 0)
	}
	if hint != nil {
		hint.atEnd = atEnd
	}
	if len(root.items) > t.max {
		r := t.newNode(false)
		r.children = append(r.children, root)
		t.root = r
		t.split(r, 0, atEnd)
	}
	if !replaced {
		t.count++
	}
	return prev, replaced
}

// insert puts item into the subtree of n, which the tree owns. n may then
// hold one item too many, for its parent to split; atEnd says the new item
// went to the end of n's subtree, so that the split leaves the left part
// full (and Set's hint tries the end first next time).
func (t *Tree[P]) insert(n *node[P], item P, hint *Hint, depth int) (prev P, replaced, atEnd bool) {
	i, found := t.hinted(n, item, hint, depth)
	if found {
		prev, n.items[i] = n.items[i], item
		return prev, true, false
	}
	if n.leaf() {
		n.items = slices.Insert(n.items, i, item)
		return prev, false, i == len(n.items)-1
	}
	c := t.own(&n.children[i])
	prev, replaced, atEnd = t.insert(c, item, hint, depth+1)
	if len(c.items) > t.max {
		t.split(n, i, atEnd)
		return prev, replaced, atEnd && i == len(n.items)-1
	}
	return prev, replaced, atEnd && i == len(n.items)
}

// last returns the largest item of a tree that holds some.
func (t *Tree[P]) last() P {
	n := t.root
	for !n.leaf() {
		n = n.children[len(n.children)-1]
	}
	return n.items[len(n.items)-1]
}

// append puts item, which is above every item, at the end of the subtree
// of n, which the tree owns: insert without a search.
func (t *Tree[P]) append(n *node[P], item P, hint *Hint, depth int) {
	i := len(n.items)
	if depth < len(hint.path) {
		t.remember(hint, depth, i)
	}
	if n.leaf() {
		n.items = append(n.items, item)
		return
	}
	c := t.own(&n.children[i])
	t.append(c, item, hint, depth+1)
	if len(c.items) > t.max {
		t.split(n, i, true)
	}
}

// split divides n's child i, which holds one item too many, around an item
// that moves up into n. Usually the halves are even; if the child grew at
// its end, the left keeps all but one item, so that rising keys fill nodes.
func (t *Tree[P]) split(n *node[P], i int, atEnd bool) {
	c := n.children[i]
	m := len(c.items) / 2
	if atEnd {
		m = len(c.items) - 2
	}
	r := t.newNode(c.leaf())
	r.items = append(r.items, c.items[m+1:]...)
	mid := c.items[m]
	clear(c.items[m:])
	c.items = c.items[:m]
	if !c.leaf() {
		r.children = append(r.children, c.children[m+1:]...)
		clear(c.children[m+1:])
		c.children = c.children[:m+1]
	}
	n.items = slices.Insert(n.items, i, mid)
	n.children = slices.Insert(n.children, i+1, r)
}

// Delete removes the item equal to item and returns it. hint may be nil.
func (t *Tree[P]) Delete(item P, hint *Hint) (P, bool) {
	var zero P
	if t.root == nil {
		return zero, false
	}
	root := t.own(&t.root)
	prev, ok := t.delete(root, item, false, hint, 0)
	if len(root.items) == 0 {
		if root.leaf() {
			t.root = nil
		} else {
			t.root = root.children[0]
		}
	}
	if ok {
		t.count--
	}
	return prev, ok
}

// delete removes item (or, if last, the last item) from the subtree of n,
// which the tree owns, leaving n possibly one item short for its parent to
// rebalance.
func (t *Tree[P]) delete(n *node[P], item P, last bool, hint *Hint, depth int) (P, bool) {
	var i int
	var found bool
	switch {
	case !last:
		i, found = t.hinted(n, item, hint, depth)
	case n.leaf():
		i, found = len(n.items)-1, true
	default:
		i = len(n.items)
	}
	if n.leaf() {
		if !found {
			var zero P
			return zero, false
		}
		prev := n.items[i]
		n.items = slices.Delete(n.items, i, i+1)
		return prev, true
	}
	c := t.own(&n.children[i])
	var prev P
	ok := true
	if found {
		// Replace the item by its predecessor, the last of the child
		// before it.
		prev = n.items[i]
		n.items[i], _ = t.delete(c, item, true, nil, depth+1)
	} else {
		prev, ok = t.delete(c, item, last, hint, depth+1)
	}
	if ok {
		t.rebalance(n, i)
	}
	return prev, ok
}

// rebalance refills n's child i, which the tree owns, if a delete left it
// below the minimum: from a sibling with items to spare, else by merging
// it with a sibling.
func (t *Tree[P]) rebalance(n *node[P], i int) {
	low := t.max / 2
	c := n.children[i]
	if len(c.items) >= low {
		return
	}
	switch {
	case i > 0 && len(n.children[i-1].items) > low: // rotate from the left
		l := t.own(&n.children[i-1])
		c.items = slices.Insert(c.items, 0, n.items[i-1])
		n.items[i-1] = l.items[len(l.items)-1]
		l.items = slices.Delete(l.items, len(l.items)-1, len(l.items))
		if !c.leaf() {
			c.children = slices.Insert(c.children, 0, l.children[len(l.children)-1])
			l.children = slices.Delete(l.children, len(l.children)-1, len(l.children))
		}
	case i < len(n.items) && len(n.children[i+1].items) > low: // from the right
		r := t.own(&n.children[i+1])
		c.items = append(c.items, n.items[i])
		n.items[i] = r.items[0]
		r.items = slices.Delete(r.items, 0, 1)
		if !c.leaf() {
			c.children = append(c.children, r.children[0])
			r.children = slices.Delete(r.children, 0, 1)
		}
	default: // merge with a sibling, through the item between them
		if i == len(n.items) {
			i--
		}
		l, r := t.own(&n.children[i]), n.children[i+1]
		l.items = append(l.items, n.items[i])
		l.items = append(l.items, r.items...)
		if !l.leaf() {
			l.children = append(l.children, r.children...)
		}
		n.items = slices.Delete(n.items, i, i+1)
		n.children = slices.Delete(n.children, i+1, i+2)
	}
}

// Ascend calls iter with every item not below probe's target, in order,
// until iter returns false or an item is past the far edge; a nil probe
// starts at the first item. probe(x) is the target compared with x. past,
// if set, is the far edge: past(x) reports that x lies beyond it, false for
// every item up to some point and true after it. Ascend calls past on
// O(log n) items only, not on every item it passes to iter. It reports
// whether iter never returned false.
func (t *Tree[P]) Ascend(probe func(P) int, past func(P) bool, iter func(P) bool) bool {
	if t.root == nil {
		return true
	}
	return t.ascend(t.root, probe, past, iter) != walkStopped
}

// Scan calls iter with every item, in order, until iter returns false.
func (t *Tree[P]) Scan(iter func(P) bool) {
	t.Ascend(nil, nil, iter)
}

// walk is how a walk over a subtree ended.
type walk uint8

const (
	walkOn      walk = iota // went through the subtree: go on
	walkEdge                // reached the far edge: stop, iter is content
	walkStopped             // iter returned false
)

func (t *Tree[P]) ascend(n *node[P], probe func(P) int, past func(P) bool, iter func(P) bool) walk {
	i, found := 0, false
	if probe != nil {
		var zero P
		i, found = t.locate(n, zero, probe)
	}
	// items[i:end] are within the far edge, and so is all of child j for
	// j < end: it lies below items[j]. Child end lies below the first
	// item past the edge (or is the last child), so it is walked with past.
	end := len(n.items)
	if past != nil {
		end = firstWhere(n.items, i, end, past)
	}
	within := func(j int) func(P) bool {
		if j < end {
			return nil
		}
		return past
	}
	// Child i holds the items between items[i-1] and items[i]: below the
	// target if items[i] is the target.
	if !n.leaf() && !found {
		if w := t.ascend(n.children[i], probe, within(i), iter); w != walkOn {
			return w
		}
	}
	for ; i < end; i++ {
		if !iter(n.items[i]) {
			return walkStopped
		}
		if !n.leaf() {
			if w := t.ascend(n.children[i+1], nil, within(i+1), iter); w != walkOn {
				return w
			}
		}
	}
	if end < len(n.items) {
		return walkEdge
	}
	return walkOn
}

// Descend calls iter with every item not above probe's target, in
// descending order, until iter returns false or an item is past the far
// edge; a nil probe starts at the last item. probe(x) is the target
// compared with x. past, if set, is the far edge: past(x) reports that x
// lies beyond it (below), true for every item up to some point and false
// after it. Descend calls past on O(log n) items only. It reports whether
// iter never returned false.
func (t *Tree[P]) Descend(probe func(P) int, past func(P) bool, iter func(P) bool) bool {
	if t.root == nil {
		return true
	}
	return t.descend(t.root, probe, past, iter) != walkStopped
}

func (t *Tree[P]) descend(n *node[P], probe func(P) int, past func(P) bool, iter func(P) bool) walk {
	i, found := len(n.items), false
	if probe != nil {
		var zero P
		i, found = t.locate(n, zero, probe)
	}
	// items[i] is the first item not below the target: itself the target
	// if found, else above it, and then child i holds the items below
	// items[i] and above items[i-1], some of them perhaps above the target.
	top := i
	if found {
		top++
	}
	// items[lo:top] are within the far edge, and so is all of child j for
	// j > lo: it lies above items[j-1]. Child lo lies above the last item
	// past the edge (or is the first child), so it is walked with past.
	lo := 0
	if past != nil {
		lo = firstWhere(n.items, 0, top, func(x P) bool { return !past(x) })
	}
	within := func(j int) func(P) bool {
		if j > lo {
			return nil
		}
		return past
	}
	if !n.leaf() && !found {
		if w := t.descend(n.children[i], probe, within(i), iter); w != walkOn {
			return w
		}
	}
	for j := top - 1; j >= lo; j-- {
		if !iter(n.items[j]) {
			return walkStopped
		}
		if !n.leaf() {
			if w := t.descend(n.children[j], nil, within(j), iter); w != walkOn {
				return w
			}
		}
	}
	if lo > 0 {
		return walkEdge
	}
	return walkOn
}

// firstWhere returns the first j in [lo, hi) with f(items[j]), or hi if
// there is none, for an f that is false up to some point and true after
// it: a binary search.
func firstWhere[P any](items []P, lo, hi int, f func(P) bool) int {
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if f(items[h]) {
			hi = h
		} else {
			lo = h + 1
		}
	}
	return lo
}

// Max returns the largest item, or false if the tree is empty: O(log n).
func (t *Tree[P]) Max() (P, bool) {
	if t.count == 0 {
		var zero P
		return zero, false
	}
	return t.last(), true
}

// Check verifies the tree's shape: every leaf at one depth, no node over
// its size or left empty (the root excepted), children one more than
// items, no stale item or child past a node's end (which would keep it
// alive), items in strictly increasing order, and the count. It reads
// every node: O(n). For tests and invariant checkers.
func (t *Tree[P]) Check() error {
	if t.root == nil {
		if t.count != 0 {
			return fmt.Errorf("btree: an empty tree counts %d items", t.count)
		}
		return nil
	}
	c := checker[P]{t: t, leafDepth: -1}
	if err := c.walk(t.root, 0); err != nil {
		return err
	}
	if c.n != t.count {
		return fmt.Errorf("btree: %d items, counted %d", c.n, t.count)
	}
	return nil
}

type checker[P any] struct {
	t         *Tree[P]
	leafDepth int
	n         int
	prev      P
	seen      bool // prev is set
}

func (c *checker[P]) walk(n *node[P], depth int) error {
	t := c.t
	switch {
	case len(n.items) > t.max:
		return fmt.Errorf("btree: a node of %d items, over the most (%d)", len(n.items), t.max)
	case len(n.items) == 0 && n != t.root:
		return fmt.Errorf("btree: an empty node below the root")
	}
	var zero P
	for _, x := range n.items[len(n.items):cap(n.items)] {
		if any(x) != any(zero) {
			return fmt.Errorf("btree: a stale item past a node's end")
		}
	}
	if n.leaf() {
		if c.leafDepth >= 0 && depth != c.leafDepth {
			return fmt.Errorf("btree: leaves at depths %d and %d", c.leafDepth, depth)
		}
		c.leafDepth = depth
		for _, x := range n.items {
			if err := c.item(x); err != nil {
				return err
			}
		}
		return nil
	}
	if len(n.children) != len(n.items)+1 {
		return fmt.Errorf("btree: %d children for %d items", len(n.children), len(n.items))
	}
	for _, ch := range n.children[len(n.children):cap(n.children)] {
		if ch != nil {
			return fmt.Errorf("btree: a stale child past a node's end")
		}
	}
	for i, ch := range n.children {
		if err := c.walk(ch, depth+1); err != nil {
			return err
		}
		if i < len(n.items) {
			if err := c.item(n.items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// item checks that x, the next item in order, is above the one before.
func (c *checker[P]) item(x P) error {
	if c.seen && c.t.cmp(c.prev, x) >= 0 {
		return fmt.Errorf("btree: items out of order after %d of them", c.n)
	}
	c.prev, c.seen = x, true
	c.n++
	return nil
}
