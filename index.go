package recstore

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/recstore/recstore/internal/btree"
)

// tree is one index of one table version: its records, ordered by their
// keys in the index. Items are the records themselves, which are immutable
// once stored, so every tree of every version may share them, and a tree
// reads a record's key from its fields when it compares. A published tree
// is never written; the committer writes its private working copy, whose
// nodes are copied on first write after each publication (btree.Copy).
type tree[T any] = btree.Tree[*T]

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
func (d *indexDef[T]) compareKey(k key, r *T) int {
	if len(d.cols) == 1 {
		kr, _ := d.cols[0].extract(r)
		return k.compare(kr)
	}
	var buf [128]byte
	b, _ := d.appendKey(buf[:0], r)
	return strings.Compare(k.s, bytesString(b))
}

// hasPrefix reports whether stored record r's key in d (keyOf's form)
// starts with prefix.
func (d *indexDef[T]) hasPrefix(r *T, prefix string) bool {
	if len(d.cols) == 1 {
		kr, _ := d.cols[0].extract(r)
		return strings.HasPrefix(kr.s, prefix)
	}
	var buf [128]byte
	b, _ := d.appendKey(buf[:0], r)
	return strings.HasPrefix(bytesString(b), prefix)
}

// bytesString views b as a string, for comparing it without a copy; b must
// not change while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// tableSchema is a table's declaration with the lookups its queries need.
type tableSchema[T any] struct {
	*schema[T]
	pk *indexDef[T]
	// single maps a field to the unique index (primary key first) that
	// covers it alone: the zero-allocation point lookup of Get and
	// GetOrCreate.
	single map[*col[T]]int
}

func newTableSchema[T any](s *schema[T]) *tableSchema[T] {
	ts := &tableSchema[T]{schema: s, pk: s.indexes[0], single: map[*col[T]]int{}}
	for i, d := range s.indexes {
		if d.unique && len(d.cols) == 1 && d.where == nil {
			if _, ok := ts.single[d.cols[0]]; !ok {
				ts.single[d.cols[0]] = i
			}
		}
	}
	return ts
}

// tableState is one published version of a table: immutable, shared by
// every reader that loaded it.
type tableState[T any] struct {
	sch   *tableSchema[T]
	trees []*tree[T] // trees[i] indexes sch.indexes[i]; trees[0] is the primary key
}

func (s *tableState[T]) len() int { return s.trees[0].Len() }

// entry is a record with the indexes of its table it belongs to: bit i of
// out is set if it is not in index i (see indexDef.member).
type entry[T any] struct {
	rec *T
	out uint64
	sch *tableSchema[T] // the schema out was computed for, and keys checked against
}

func (e entry[T]) in(i int) bool { return e.rec != nil && e.out&(1<<i) == 0 }

// stored returns the entry of a stored record, whose keys are valid.
func (sch *tableSchema[T]) stored(r *T) entry[T] {
	var out uint64
	for i, d := range sch.indexes {
		if !d.member(r) {
			out |= 1 << i
		}
	}
	return entry[T]{rec: r, out: out, sch: sch}
}

// notePK keeps the auto-assigned keys past r's, a key the user may have
// chosen.
func (sch *tableSchema[T]) notePK(r *T) {
	if sch.auto == nil {
		return
	}
	k, _ := sch.pk.cols[0].extract(r) // checked by entryOf
	n := k.n
	if sch.pk.cols[0].kind == kindInt {
		if n < 1<<63 { // negative
			return
		}
		n ^= 1 << 63
	}
	sch.auto.note(n)
}

// prepare takes r for storing (the caller hands over a copy no one else
// holds), assigns it a primary key if the table auto-assigns them and r's
// is zero, and computes its keys.
func (sch *tableSchema[T]) prepare(r *T) (entry[T], error) {
	if sch.auto != nil && sch.pk.cols[0].isZero(r) {
		id, ok := sch.auto.next()
		if !ok {
			return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "the auto-assigned key sequence is exhausted", err: ErrInvalidKey}
		}
		sch.auto.set(r, id)
	}
	return sch.entryOf(r)
}

// entryOf checks every index key of r and notes the indexes r is in.
func (sch *tableSchema[T]) entryOf(r *T) (entry[T], error) {
	var out uint64
	for i, d := range sch.indexes {
		if !d.member(r) {
			out |= 1 << i
			continue
		}
		if err := d.checkKey(r, sch.table); err != nil {
			return entry[T]{}, err
		}
	}
	if sch.pk.cols[0].isZero(r) {
		return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "the primary key is zero", err: ErrInvalidKey}
	}
	return entry[T]{rec: r, out: out, sch: sch}, nil
}

// checkKey returns why r's key in index d cannot be stored (NaN, over
// MaxKeySize), or nil.
func (d *indexDef[T]) checkKey(r *T, table string) error {
	n, err := d.keySize(r)
	if err == nil && n > MaxKeySize {
		err = &KeyError{Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", n, MaxKeySize), err: ErrKeyTooLarge}
	}
	if err != nil {
		field := ""
		if len(d.cols) == 1 {
			field = d.cols[0].name
		}
		return withContext(err, table, field)
	}
	return nil
}

// emptyTrees makes the trees of an empty table.
func emptyTrees[T any](sch *tableSchema[T], degree int) []*tree[T] {
	trees := make([]*tree[T], len(sch.indexes))
	for i, d := range sch.indexes {
		trees[i] = newTree(d, sch.pk, degree)
	}
	return trees
}
