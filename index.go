package recstore

import (
	"fmt"

	"github.com/tidwall/btree"
)

// item is one entry of an index tree: the record's key in that index and
// the record. Records are immutable once stored, so every tree of every
// version may share them. A probe (a search pivot) has a nil rec.
type item[T any] struct {
	k   key
	rec *T
}

// tree is one index of one table version. A published tree is never
// mutated; the committer mutates its private working copy, whose nodes are
// copied on first write after each publication (tidwall/btree's Copy).
type tree[T any] = btree.BTreeG[item[T]]

// newTree makes an empty tree for index d. A unique tree orders items by key
// alone. A plain tree orders by (key, primary key) so that equal keys stay
// distinct, and a probe sorts before every record of its key.
func newTree[T any](d, pk *indexDef[T], degree int) *tree[T] {
	opts := btree.Options{Degree: degree, NoLocks: true}
	if d.unique {
		return btree.NewBTreeGOptions(func(a, b item[T]) bool { return a.k.compare(b.k) < 0 }, opts)
	}
	pkOf := pk.cols[0].extract
	return btree.NewBTreeGOptions(func(a, b item[T]) bool {
		if c := a.k.compare(b.k); c != 0 {
			return c < 0
		}
		if a.rec == nil || b.rec == nil {
			return a.rec == nil && b.rec != nil
		}
		ka, _ := pkOf(a.rec) // stored records have valid keys
		kb, _ := pkOf(b.rec)
		return ka.compare(kb) < 0
	}, opts)
}

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

// entry is a record with its key in every index of the table it belongs
// to: bit i of out is set if it is not in index i (see indexDef.member).
type entry[T any] struct {
	rec  *T
	keys []key
	out  uint64
	sch  *tableSchema[T] // the schema keys and out were computed for
}

func (e entry[T]) in(i int) bool { return e.rec != nil && e.out&(1<<i) == 0 }

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

// entryOf computes and checks every index key of r.
func (sch *tableSchema[T]) entryOf(r *T) (entry[T], error) {
	keys := make([]key, len(sch.indexes))
	var out uint64
	for i, d := range sch.indexes {
		if !d.member(r) {
			out |= 1 << i
			continue
		}
		k, err := d.storedKey(r, sch.table)
		if err != nil {
			return entry[T]{}, err
		}
		keys[i] = k
	}
	if sch.pk.cols[0].isZero(r) {
		return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "the primary key is zero", err: ErrInvalidKey}
	}
	return entry[T]{rec: r, keys: keys, out: out, sch: sch}, nil
}

// storedKey is r's key in index d, checked for storing.
func (d *indexDef[T]) storedKey(r *T, table string) (key, error) {
	k, err := d.keyOf(r)
	if err == nil && len(k.s) > MaxKeySize {
		err = &KeyError{Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", len(k.s), MaxKeySize), err: ErrKeyTooLarge}
	}
	if err != nil {
		field := ""
		if len(d.cols) == 1 {
			field = d.cols[0].name
		}
		return key{}, withContext(err, table, field)
	}
	return k, nil
}

// emptyTrees makes the trees of an empty table.
func emptyTrees[T any](sch *tableSchema[T], degree int) []*tree[T] {
	trees := make([]*tree[T], len(sch.indexes))
	for i, d := range sch.indexes {
		trees[i] = newTree(d, sch.pk, degree)
	}
	return trees
}
