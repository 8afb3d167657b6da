package recstore

import (
	"strings"
	"unsafe"

	"github.com/recstore/recstore/internal/btree"
)

// The index kinds. Every index of a table has an ordered tree; every unique
// index has, besides, a hash index of the committed state (hash.go). A
// table's state writes both kinds through one interface, indexWriter, so
// that one routine (tableState.apply) applies a change to every index of
// the table.

// indexWriter is how a table's state writes one of its indexes, whatever
// the index's kind.
type indexWriter[T any] interface {
	// move replaces old by new in the index; either may be nil (not in
	// the index). With check, if a record other than old holds new's key
	// in a unique index, move changes nothing and returns that record; a
	// kind that does not decide uniqueness on its path returns nil. A
	// move is whole or not done at all, even if a field accessor it calls
	// panics.
	move(old, new *T, check bool) (holder *T)
}

// tree is one index of one table version: its records, ordered by their
// keys in the index. Items are the records themselves, which are immutable
// once stored, so every tree of every version may share them, and a tree
// reads a record's key from its fields when it compares. A published tree
// is never written; a writer writes a copy of its own, whose nodes are
// copied on first write (btree.Copy, btree.Fork).
type tree[T any] = btree.Tree[*T]

// treeWriter writes one index's tree.
type treeWriter[T any] struct {
	tr  *tree[T]
	def *indexDef[T]
	// hint remembers where in the tree the last change went, so that
	// changes near each other (rising keys above all) skip most of the
	// search.
	hint btree.Hint
}

// move is indexWriter's. Each tree operation is whole even if a
// comparison panics, so only a Set that panics after a Delete needs
// undoing.
func (w *treeWriter[T]) move(old, new *T, check bool) (holder *T) {
	// Set replaces the record of equal key (and, in a plain index, equal
	// primary key), so only a key that moves needs a Delete.
	moved := old != nil && (new == nil || !w.def.sameKey(old, new))
	if moved {
		w.tr.Delete(old, &w.hint)
	}
	if new == nil {
		return nil
	}
	done := false
	if moved {
		defer func() {
			if !done { // Set panicked: old goes back
				w.tr.Set(old, nil)
			}
		}()
	}
	prev, replaced := w.tr.Set(new, &w.hint)
	done = true
	if check && replaced && w.def.unique && prev != old && !(!w.def.primary && faultOn(faultSkipUniqueCheck)) {
		w.tr.Set(prev, nil) // give the key back to its holder
		if moved {
			w.tr.Set(old, nil)
		}
		return prev
	}
	return nil
}

// newTree makes an empty tree for index d.
func newTree[T any](d, pk *indexDef[T], degree int) *tree[T] {
	return btree.New(degree, d.order(pk))
}

// order is the order of d's tree, whose primary key is pk. A unique tree
// orders records by key alone. A plain tree orders by (key, primary key)
// so that records with equal keys stay distinct.
func (d *indexDef[T]) order(pk *indexDef[T]) func(a, b *T) int {
	switch {
	case d.unique && len(d.cols) == 1:
		return d.cols[0].compare // a call less at every step of a search
	case d.unique:
		return d.compare
	}
	return func(a, b *T) int {
		if c := d.compare(a, b); c != 0 {
			return c
		}
		return pk.compare(a, b)
	}
}

// compare orders two stored records by their keys in d, field by field,
// which is the order of their encoded keys (see appendComponent).
func (d *indexDef[T]) compare(a, b *T) int {
	for _, c := range d.cols {
		if r := c.compare(a, b); r != 0 {
			return r
		}
	}
	return 0
}

// sameKey reports whether two records have one key in d.
func (d *indexDef[T]) sameKey(a, b *T) bool { return d.compare(a, b) == 0 }

// probe returns the search of d's tree for key k (keyOf's form: a field's
// key, or a composite key's encoding): k compared with a stored record's
// key. A plain index's probe sorts before every record of its key.
func (d *indexDef[T]) probe(k key) func(*T) int {
	unique := d.unique
	return func(r *T) int {
		if c := d.compareKey(k, r); c != 0 || unique {
			return c
		}
		return -1
	}
}

// compareKey compares key k (keyOf's form) with stored record r's key in d.
// It builds no key: a key held as bytes (composite, time, optional) is
// encoded into a buffer on the stack.
func (d *indexDef[T]) compareKey(k key, r *T) int {
	if c := d.cols[0]; len(d.cols) == 1 && !c.optional && c.kind != kindTime {
		kr, _ := c.extract(r)
		return k.compare(kr)
	}
	return d.compareEncoded(k.s, r, false)
}

// comparePrefix compares prefix with the start of stored record r's key
// in d (keyOf's form, for keys held as strings or bytes), cut to
// len(prefix): zero for every record whose key starts with prefix.
func (d *indexDef[T]) comparePrefix(prefix string, r *T) int {
	if c := d.cols[0]; len(d.cols) == 1 && !c.optional && c.kind != kindTime {
		k, _ := c.extract(r)
		return strings.Compare(prefix, k.s[:min(len(k.s), len(prefix))])
	}
	return d.compareEncoded(prefix, r, true)
}

// compareEncoded compares s with r's key in d held as bytes, or with its
// first len(s) bytes if prefix. It compares a field at a time, each in
// place (piece.compare), and stops at the first field that decides, as a
// search mostly does at the leading field: it builds no key.
func (d *indexDef[T]) compareEncoded(s string, r *T, prefix bool) int {
	sb := unsafe.Slice(unsafe.StringData(s), len(s))
	at := 0
	for i, c := range d.cols {
		p := c.piece(r)
		x, n := p.compare(sb[at:])
		if x != 0 {
			return x
		}
		if at += n; at >= len(s) {
			if prefix || at == len(s) && i == len(d.cols)-1 {
				return 0
			}
			return -1 // s is a proper prefix of r's key: every piece holds a byte
		}
	}
	return 1 // r's key is a proper prefix of s
}

// edge is a place in an index's order, between two records: just before
// or just after the records whose key is k, or (prefix) just after every
// record whose key starts with k.s. Scans start and stop at edges, in
// either direction; an edge never equals a record, so that a search for
// it lands between records, whatever the index's kind.
type edge struct {
	k      key
	after  bool // after the records of key k (else before them)
	prefix bool // after every key that starts with k.s
}

func before(k key) edge { return edge{k: k} }

func after(k key) edge { return edge{k: k, after: true} }

func afterPrefix(p string) edge { return edge{k: key{s: p}, after: true, prefix: true} }

// cmpEdge compares edge e with stored record r in d's order: negative if
// e comes before r, positive if after; never zero.
func (d *indexDef[T]) cmpEdge(e *edge, r *T) int {
	var c int
	if e.prefix {
		c = d.comparePrefix(e.k.s, r)
	} else {
		c = d.compareKey(e.k, r)
	}
	switch {
	case c != 0:
		return c
	case e.after:
		return 1
	}
	return -1
}
