package recstore

import (
	"hash/maphash"
	"runtime"
	"sync/atomic"
)

// The live point indexes. Every unique index over one field (the primary
// key included) has, besides its B-tree, a hash index of the latest
// committed state: Get and GetOrCreate with one equality on such a field
// read it instead of a published version, so that they see every commit at
// once without a version being published for them (see commit.go), in
// O(1) and without a lock.
//
// Only the committer writes a hash index, at the end of each batch, between
// two increments of the DB's liveSeq (odd while it writes). A reader reads
// liveSeq, probes, and reads liveSeq again: an odd or changed value means
// its probe overlapped a commit, and it probes again. So a reader sees every
// batch whole or not at all, through every live index of every table, and
// never takes a lock.

// liveIndexes is the set of live indexes of one table schema. A new one
// replaces it when the schema changes; readers load it atomically.
type liveIndexes[T any] struct {
	seed maphash.Seed
	cols []*col[T]        // cols[j] is the field idx[j] indexes
	at   []int            // at[j] is the position in the schema's indexes of idx[j]
	idx  []*pointIndex[T] // one per unique index over one field, as tableSchema.single
}

// find returns the live index of the unique index that covers c alone, or
// nil if there is none.
func (l *liveIndexes[T]) find(c *col[T]) *pointIndex[T] {
	for j, lc := range l.cols {
		if lc == c {
			return l.idx[j]
		}
	}
	return nil
}

// newLiveIndexes makes sch's live indexes, filled from the primary key
// tree pk.
func newLiveIndexes[T any](sch *tableSchema[T], pk *tree[T], seed maphash.Seed) *liveIndexes[T] {
	l := &liveIndexes[T]{seed: seed}
	for i, d := range sch.indexes {
		if j, ok := sch.single[d.cols[0]]; !ok || j != i {
			continue
		}
		x := newPointIndex(d, seed, pk.Len())
		pk.Scan(func(r *T) bool {
			if d.member(r) {
				x.set(x.keyOf(r), r)
			}
			return true
		})
		l.cols = append(l.cols, d.cols[0])
		l.at = append(l.at, i)
		l.idx = append(l.idx, x)
	}
	return l
}

// pointIndex is a hash index, by open addressing with linear probing, of
// the records of one unique index over one field. Slots hold a record and
// the 32-bit hash of its key (odd, see hash), which also picks the slot a
// probe starts from, so that growing the table rehashes nothing; a slot
// whose hash is 0 has never been used, and one with a hash and no record
// is a deleted entry (a tombstone) that probes pass over. The table is
// never more than three quarters full, tombstones included, so every probe
// ends.
type pointIndex[T any] struct {
	def  *indexDef[T]
	seed maphash.Seed
	tab  atomic.Pointer[pointTable[T]]
	n    int // records held (committer only)
	used int // slots holding a record or a tombstone (committer only)
}

type pointTable[T any] struct {
	tags []atomic.Uint32
	recs []atomic.Pointer[T]
	mask uint64
}

func newPointTable[T any](size int) *pointTable[T] {
	return &pointTable[T]{tags: make([]atomic.Uint32, size), recs: make([]atomic.Pointer[T], size), mask: uint64(size - 1)}
}

func newPointIndex[T any](d *indexDef[T], seed maphash.Seed, n int) *pointIndex[T] {
	x := &pointIndex[T]{def: d, seed: seed}
	x.tab.Store(newPointTable[T](tableSize(n)))
	return x
}

// tableSize is the slot count for n records: a power of two at most half
// full, so that the table grows (and rehashes) only once the records
// have grown by half again at least.
func tableSize(n int) int {
	return ceilPow2(max(16, 2*n))
}

// hash is k's hash: 32 bits, odd so that no key hashes to the mark of a
// slot never used.
func (x *pointIndex[T]) hash(k key) uint32 {
	h := maphash.String(x.seed, k.s) ^ (k.n * 0x9e3779b97f4a7c15)
	return uint32(h>>32) | 1
}

// start is the slot where probes for hash h begin: its 31 bits above the
// odd one (tables stay far below 2^31 slots).
func (t *pointTable[T]) start(h uint32) uint64 { return uint64(h>>1) & t.mask }

// get returns the record with key k, whose hash is h, or nil. It may run
// concurrently with the committer's writes; the caller validates it with
// liveSeq.
func (x *pointIndex[T]) get(k key, h uint32) *T {
	t := x.tab.Load()
	for i := t.start(h); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case 0:
			return nil
		case h:
			if r := t.recs[i].Load(); r != nil && x.keyOf(r) == k {
				return r
			}
		}
	}
}

// keyOf is r's key; stored records have valid keys.
func (x *pointIndex[T]) keyOf(r *T) key {
	k, _ := x.def.cols[0].extract(r)
	return k
}

// reserve makes room for extra more records, so that the writes of a
// batch never grow the table while readers may be probing it. The new
// table holds what the old one does; it is built before it is published,
// from a table no one else writes.
func (x *pointIndex[T]) reserve(extra int) {
	t := x.tab.Load()
	if 4*(x.used+extra) <= 3*len(t.tags) {
		return
	}
	nt := newPointTable[T](tableSize(x.n + extra))
	for i := range t.recs {
		if r := t.recs[i].Load(); r != nil {
			h := t.tags[i].Load()
			j := nt.start(h)
			for nt.tags[j].Load() != 0 {
				j = (j + 1) & nt.mask
			}
			nt.tags[j].Store(h)
			nt.recs[j].Store(r)
		}
	}
	x.used = x.n
	x.tab.Store(nt)
}

// set stores r under k, replacing the record held under k if any. The
// committer calls it inside a liveSeq window, after reserve.
func (x *pointIndex[T]) set(k key, r *T) {
	t := x.tab.Load()
	h := x.hash(k)
	free := -1
	for i := t.start(h); ; i = (i + 1) & t.mask {
		switch got := t.tags[i].Load(); {
		case got == 0:
			if free < 0 {
				free = int(i)
				x.used++
			}
			t.tags[free].Store(h)
			t.recs[free].Store(r)
			x.n++
			return
		case got == h:
			if old := t.recs[i].Load(); old != nil && x.keyOf(old) == k {
				t.recs[i].Store(r)
				return
			}
			fallthrough
		default:
			if free < 0 && t.recs[i].Load() == nil {
				free = int(i) // a tombstone to reuse
			}
		}
	}
}

// del removes the record held under k, leaving a tombstone.
func (x *pointIndex[T]) del(k key) {
	t := x.tab.Load()
	h := x.hash(k)
	for i := t.start(h); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case 0:
			return
		case h:
			if r := t.recs[i].Load(); r != nil && x.keyOf(r) == k {
				t.recs[i].Store(nil)
				x.n--
				return
			}
		}
	}
}

// pointHit is the hot path of Get and GetOrCreate: one equality on a field
// that a unique index covers alone, outside transactions. ok reports
// whether it could answer: then r is the record of the latest committed
// state (nil if there is none). It takes no lock and allocates nothing; c
// is passed by value so that it never escapes.
func (t *Table[T]) pointHit(c Cond[T]) (r *T, ok bool) {
	if t.tx != nil || c.op != opEq || c.err != nil {
		return nil, false
	}
	db := t.core.db
	if db.closed.Load() {
		return nil, false
	}
	for spins := 0; ; spins++ {
		seq := db.liveSeq.Load()
		if seq&1 == 0 {
			x := t.core.live.Load().find(c.col)
			if x == nil {
				return nil, false
			}
			r = x.get(c.k, x.hash(c.k))
			if db.liveSeq.Load() == seq {
				return r, true
			}
		}
		if spins >= 4 {
			runtime.Gosched() // let the committer finish its batch
		}
	}
}
