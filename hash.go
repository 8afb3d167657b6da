package recstore

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The hash indexes. Every unique index (the primary key included) has,
// besides its tree, a hash index of the latest committed state: the live
// index. Inserts of the fast path check uniqueness against it (see
// state.go), and Get and GetOrCreate with one equality on a field that a
// unique index covers alone read it instead of a published version, so
// that they see every commit at once, in O(1), without a lock.
//
// A hash index is split into partitions by hash, one lock each. Two kinds
// of writer change them, never at the same time (the engine's gate keeps
// them apart): an insert of the fast path (fastpath.go) locks the
// partitions of its keys and changes them between two increments of each
// partition's sequence number; the committer publishes each batch's
// changes to a table (staged while the batch ran, see liveStage) between
// two increments of the table's sequence number. Both numbers are odd
// while a write is under way. A reader reads both, probes, and reads them
// again: an odd or changed value means that its probe overlapped a write,
// and it probes again or, a few times later, reads a published version
// instead (memTable.pointHit). So a reader sees every write whole, through
// every index of the table, never takes a lock and never waits long.

// liveIndexes is the set of live indexes of one table schema. A new set
// replaces it when the schema changes; readers and fast-path writers load
// it atomically.
type liveIndexes[T any] struct {
	sch *tableSchema[T]
	idx []*hashIndex[T] // idx[i] of sch.indexes[i] if unique, else nil
	// points are the live indexes of the unique indexes over one field, as
	// sch.single has them: a short list, which point scans faster than
	// a map.
	points []pointIndex[T]
	seed   maphash.Seed
	parts  int // partitions per hash index
	// fast says whether inserts may take the fast path: not while an
	// index is being built (AddIndex captures its writes in the
	// committer).
	fast bool
}

type pointIndex[T any] struct {
	col *col[T]
	x   *hashIndex[T]
}

// point returns the live index of the unique index that covers c alone, or
// nil if there is none.
func (l *liveIndexes[T]) point(c *col[T]) *hashIndex[T] {
	for _, p := range l.points {
		if p.col == c {
			return p.x
		}
	}
	return nil
}

// newLiveIndexes makes the live indexes of sch, whose trees are trees.
func newLiveIndexes[T any](sch *tableSchema[T], trees []*tree[T], seed maphash.Seed, parts int) *liveIndexes[T] {
	return (&liveIndexes[T]{seed: seed, parts: parts, fast: true}).of(sch, trees)
}

// of returns the live indexes of sch, whose trees are trees: l's hash
// index of each unique index that sch keeps, and a new one, filled from
// its tree, for each unique index that l has none of.
func (l *liveIndexes[T]) of(sch *tableSchema[T], trees []*tree[T]) *liveIndexes[T] {
	n := &liveIndexes[T]{sch: sch, idx: make([]*hashIndex[T], len(sch.indexes)), seed: l.seed, parts: l.parts, fast: l.fast}
	for i, d := range sch.indexes {
		if !d.unique {
			continue
		}
		if j := slices.IndexFunc(l.idx, func(x *hashIndex[T]) bool { return x != nil && x.def == d }); j >= 0 {
			n.idx[i] = l.idx[j]
			continue
		}
		x := newHashIndex(d, l.seed, l.parts)
		trees[i].Scan(func(r *T) bool {
			h := x.hashOf(r)
			x.partFor(h).insert(r, h)
			return true
		})
		n.idx[i] = x
	}
	return n.withPoints()
}

// withPoints sets l's points from its schema and hash indexes, and
// returns l.
func (l *liveIndexes[T]) withPoints() *liveIndexes[T] {
	for c, i := range l.sch.single {
		l.points = append(l.points, pointIndex[T]{c, l.idx[i]})
	}
	return l
}

// fork returns the live indexes of a fork of the table, whose schema is
// sch (l's indexes): each hash index forked, and inserts of the fast path
// on.
func (l *liveIndexes[T]) fork(sch *tableSchema[T]) *liveIndexes[T] {
	n := &liveIndexes[T]{sch: sch, idx: make([]*hashIndex[T], len(l.idx)), seed: l.seed, parts: l.parts, fast: true}
	for i, x := range l.idx {
		if x != nil {
			n.idx[i] = x.fork()
		}
	}
	return n.withPoints()
}

// withFast returns l taking inserts of the fast path or not.
func (l *liveIndexes[T]) withFast(fast bool) *liveIndexes[T] {
	c := *l
	c.fast = fast
	return &c
}

// hashIndex is the live index of one unique index: the stored records that
// the index holds, by hash of their key.
type hashIndex[T any] struct {
	def  *indexDef[T]
	seed maphash.Seed
	// parts are made on the first write to them, so that an empty or
	// small table holds little: nil is a partition without records.
	parts []atomic.Pointer[hashPart[T]]
	shift uint // a hash's partition is its top bits: h >> shift
}

func newHashIndex[T any](d *indexDef[T], seed maphash.Seed, parts int) *hashIndex[T] {
	return &hashIndex[T]{def: d, seed: seed, parts: make([]atomic.Pointer[hashPart[T]], parts), shift: uint(64 - bits.TrailingZeros(uint(parts)))}
}

// part returns the partition of hash h (the only one if shift is 64), or
// nil if nothing was ever written to it: for readers.
func (x *hashIndex[T]) part(h uint64) *hashPart[T] { return x.parts[h>>x.shift].Load() }

// partFor returns the partition of hash h, making it if need be: for
// writers.
func (x *hashIndex[T]) partFor(h uint64) *hashPart[T] {
	slot := &x.parts[h>>x.shift]
	if p := slot.Load(); p != nil {
		return p
	}
	// Bases from 64 up to just under 64 times growth, spaced evenly in
	// logarithm, so that the partitions' cycles of growth are too (see
	// hashPart.grow).
	i := h >> x.shift
	p := &hashPart[T]{base: int(64 * math.Pow(float64(growNum)/growDen, float64(i)/float64(len(x.parts))))}
	if slot.CompareAndSwap(nil, p) {
		return p
	}
	return slot.Load()
}

// hashKey is the hash of key k of a one-field index, as hashOf hashes a
// record holding it. A key held in s alone (a string, an optional field,
// a time) hashes to its maphash, which is mixed already; the hot path of
// Get spares the finaliser that numbers need.
func (x *hashIndex[T]) hashKey(k key) uint64 {
	if k.n == 0 && k.s != "" {
		return maphash.String(x.seed, k.s)
	}
	return mixHash(0, x.seed, k)
}

// hashOf is the hash of stored record r's key.
func (x *hashIndex[T]) hashOf(r *T) uint64 {
	if len(x.def.cols) == 1 {
		k, _ := x.def.cols[0].extract(r) // stored records have valid keys
		return x.hashKey(k)
	}
	var h uint64
	for _, c := range x.def.cols {
		k, _ := c.extract(r)
		h = mixHash(h, x.seed, k)
	}
	return h
}

// mixHash folds key k of one field into h, the hash of the fields before
// it.
func mixHash(h uint64, seed maphash.Seed, k key) uint64 {
	h ^= k.n
	if k.s != "" {
		h ^= maphash.String(seed, k.s)
	}
	// The finaliser of splitmix64: every bit of the result depends on
	// every bit of the input.
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// hashPart is one partition of a hash index: an open-addressing table,
// probed slot after slot from the one the hash picks until a slot never
// used. A slot holds a record and 32 bits of its hash (odd, so never 0,
// the mark of a slot never used, nor deleted, the mark of a deleted entry
// that probes pass over), so that a probe reads a record only where hashes
// agree, and growing the table reads no record. How full it gets and how it
// grows: see grow. Readers probe it with atomic loads while a writer may
// change it (see the top of this file).
type hashPart[T any] struct {
	mu   sync.Mutex    // held by a fast-path writer
	seq  atomic.Uint64 // odd while a fast-path writer changes the partition
	tab  atomic.Pointer[hashTable[T]]
	n    int // records held (writers only)
	used int // slots not empty: records and deleted entries (writers only)
	base int // the sizes of the partition's tables are base times a power of growth
	// shared says that tab is shared with a partition of a fork (see
	// hashIndex.fork): it is copied before it is written (writers only).
	shared bool
	_      [15]byte
}

// hashTable is the table of a partition. Once published (hashPart.tab),
// its slots are read and written atomically, through hash, rec and fill;
// a table being built by grow, which no reader sees yet, is written
// plainly: a grown table is filled in bulk, and an atomic store of a
// pointer costs a locked instruction besides its write barrier.
type hashTable[T any] struct {
	hashes []uint32
	recs   []*T
}

// slotHash is the part of hash h that a slot keeps: its low 32 bits (the
// partition is picked by the top ones), made odd.
func slotHash(h uint64) uint32 { return uint32(h) | 1 }

// deleted is the hash of a deleted entry's slot: even, so no slot hash.
const deleted uint32 = 2

// start is the slot where probes for slot hash sh begin.
func (t *hashTable[T]) start(sh uint32) int { return int(uint64(sh) * uint64(len(t.hashes)) >> 32) }

func (t *hashTable[T]) hash(i int) uint32 { return atomic.LoadUint32(&t.hashes[i]) }

func (t *hashTable[T]) rec(i int) *T {
	return (*T)(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&t.recs[i]))))
}

// fill stores r, whose slot hash is sh, in slot i: the record first, so
// that a reader who sees the hash finds a record of it or none.
func (t *hashTable[T]) fill(i int, r *T, sh uint32) {
	atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&t.recs[i])), unsafe.Pointer(r))
	atomic.StoreUint32(&t.hashes[i], sh)
}

// find returns the slot holding the record that same says has the key
// sought, whose hash is h, or -1, and the first slot where a record of
// that key could go (deleted or never used), if find stopped at it. It
// may run concurrently with a writer's changes: the caller validates what
// it read with the sequence numbers.
func (t *hashTable[T]) find(h uint64, same func(*T) bool) (at, free int) {
	sh := slotHash(h)
	free = -1
	for i := t.start(sh); ; i++ {
		if i == len(t.hashes) {
			i = 0
		}
		switch t.hash(i) {
		case 0:
			if free < 0 {
				free = i
			}
			return -1, free
		case sh:
			if r := t.rec(i); r != nil && same(r) {
				return i, free
			}
		case deleted:
			if free < 0 {
				free = i
			}
		}
	}
}

// get returns the record with key k (of a one-field index), whose hash is
// h, or nil.
func (p *hashPart[T]) get(x *hashIndex[T], k key, h uint64) *T {
	t := p.tab.Load()
	if t == nil {
		return nil
	}
	c := x.def.cols[0]
	i, _ := t.find(h, func(r *T) bool { return c.hasKey(r, k) })
	if i < 0 {
		return nil
	}
	return t.rec(i)
}

// claim returns the stored record with r's key, whose hash is h, or, if
// there is none, the slot where add should put r. The writer holds the
// partition until it has added r or given up.
func (p *hashPart[T]) claim(x *hashIndex[T], r *T, h uint64) (held *T, slot int) {
	t := p.tab.Load()
	if full(t, p.used) {
		t = p.grow() // before the search, so that the slot stays valid
	}
	i, free := t.find(h, func(s *T) bool { return x.def.sameKey(r, s) })
	if i >= 0 {
		return t.rec(i), -1
	}
	return nil, free
}

// add stores r, whose hash is h, in slot, which claim returned for it.
func (p *hashPart[T]) add(r *T, h uint64, slot int) {
	t := p.own()
	if t.hash(slot) == 0 {
		p.used++
	}
	t.fill(slot, r, slotHash(h))
	p.n++
}

// The committer's writes: it has the partition to itself (no insert of
// the fast path runs), and what it stores is checked already, so none of
// them calls a field accessor.

// insert stores r, whose hash is h and whose key no record holds, in the
// first free slot of its probe sequence.
func (p *hashPart[T]) insert(r *T, h uint64) {
	t := p.own()
	if full(t, p.used) {
		t = p.grow()
	}
	sh := slotHash(h)
	i := t.start(sh)
	for t.hashes[i]&1 != 0 { // a record's slot: odd hash
		if i++; i == len(t.hashes) {
			i = 0
		}
	}
	if t.hashes[i] == 0 {
		p.used++
	}
	t.fill(i, r, sh)
	p.n++
}

// slotOf returns the slot holding r itself, whose hash is h, or -1.
func (t *hashTable[T]) slotOf(r *T, h uint64) int {
	if t == nil {
		return -1
	}
	i, _ := t.find(h, func(s *T) bool { return s == r })
	return i
}

// replace stores new in the slot of old, which has its key and hash h.
func (p *hashPart[T]) replace(old, new *T, h uint64) {
	t := p.own()
	t.fill(t.slotOf(old, h), new, slotHash(h))
}

// remove deletes r, whose hash is h, leaving a deleted entry; a table left
// mostly empty shrinks, so that memory follows the records held.
func (p *hashPart[T]) remove(r *T, h uint64) {
	i := p.tab.Load().slotOf(r, h)
	if i < 0 {
		return
	}
	t := p.own()
	atomic.StoreUint32(&t.hashes[i], deleted)
	atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&t.recs[i])), nil)
	p.n--
	switch {
	case p.n == 0:
		p.tab.Store(nil)
		p.used, p.shared = 0, false
	case len(t.hashes) > minSlots && shrinkBelowDen*p.n < len(t.hashes):
		p.grow() // to a size that fits the records left
	}
}

// A partition's table is at most maxLoad full, deleted entries included,
// so that every probe ends; when full, it grows by growth. Once deletes
// leave it less than 1/shrinkBelowDen full (and over minSlots), it shrinks
// to fit.
const (
	maxLoadNum, maxLoadDen = 17, 20 // 0.85
	growNum, growDen       = 7, 4   // 1.75
	shrinkBelowDen         = 4
	minSlots               = 64
)

// full reports whether t, holding used slots not empty, must grow before
// one more record goes in.
func full[T any](t *hashTable[T], used int) bool {
	return t == nil || maxLoadDen*(used+1) > maxLoadNum*len(t.hashes)
}

// grow replaces the table by the next size of the partition's sequence,
// without deleted entries (or, if deletes made room, by a size that fits
// the records left). The old table stays intact for readers still probing
// it.
//
// Each partition's sizes are its base times powers of growth, and
// newHashIndex spreads the bases evenly, in logarithm, over one step of
// growth. Hashes spread records evenly among partitions, so with a shared
// sequence they would all grow at once, and memory per record would swing
// by the whole step as records are added. With spread bases, at any
// record count the partitions are at every point of their cycles, and the
// index holds, at every size, the average: about 1.55 slots per record
// (memory per record is one of bench/'s targets). That is what lets the
// step be 1.75 rather than 1.5, so that a record is moved by growth about
// 1.3 times on average instead of 2.
func (p *hashPart[T]) grow() *hashTable[T] {
	// need is (n+1)/maxLoad times the mean of 1 and growth: for a full
	// table, above its size and below the next one of the sequence.
	need := (p.n + 1) * maxLoadDen * (growNum + growDen) / (2 * growDen * maxLoadNum)
	slots := p.base
	for slots < need {
		slots = slots * growNum / growDen
	}
	for slots > 8 && slots*growDen/growNum >= need {
		slots = slots * growDen / growNum
	}
	nt := &hashTable[T]{hashes: make([]uint32, slots), recs: make([]*T, slots)}
	if t := p.tab.Load(); t != nil {
		for i, r := range t.recs {
			sh := t.hashes[i]
			if sh&1 == 0 {
				continue // never used, or deleted
			}
			j := nt.start(sh)
			for nt.hashes[j] != 0 {
				if j++; j == slots {
					j = 0
				}
			}
			nt.recs[j], nt.hashes[j] = r, sh
		}
	}
	p.used, p.shared = p.n, false
	p.tab.Store(nt)
	return nt
}

// own returns the partition's table, copied first if it is shared with a
// fork's: slot for slot, so that a slot that claim found stays valid.
// Readers still probing the shared table find it intact, as after grow.
func (p *hashPart[T]) own() *hashTable[T] {
	t := p.tab.Load()
	if !p.shared || t == nil || faultOn(faultForkWritesShared) {
		return t
	}
	c := &hashTable[T]{hashes: slices.Clone(t.hashes), recs: slices.Clone(t.recs)}
	p.tab.Store(c)
	p.shared = false
	return c
}

// fork returns a hash index holding x's records, for a fork of the
// engine, in O(partitions): each partition's table is shared by both
// until one of them writes it. Nothing may write x meanwhile (the
// committer forks with the engine's gate held).
func (x *hashIndex[T]) fork() *hashIndex[T] {
	f := &hashIndex[T]{def: x.def, seed: x.seed, parts: make([]atomic.Pointer[hashPart[T]], len(x.parts)), shift: x.shift}
	for i := range x.parts {
		p := x.parts[i].Load()
		if p == nil {
			continue
		}
		t := p.tab.Load()
		p.shared = t != nil
		c := &hashPart[T]{n: p.n, used: p.used, base: p.base, shared: p.shared}
		c.tab.Store(t)
		f.parts[i].Store(c)
	}
	return f
}

// liveStage holds the changes that a batch of the committer makes to one
// table's live indexes until the batch commits. Each change is staged as
// it is made, with its hashes (by a hashWriter, one of the working state's
// writers), so that the field accessors, which compute them, run inside
// the operation that made it (a panic there undoes the operation alone),
// and publishing the changes, inside the table's window, calls no user
// code.
type liveStage[T any] struct {
	moves []liveMove[T]
}

// liveMove is one record replaced by another in one hash index: old is
// removed (if set), then new stored (if set); if same, they share a key,
// and new takes old's slot.
type liveMove[T any] struct {
	x          *hashIndex[T]
	old, new   *T
	hOld, hNew uint64
	same       bool
}

// hashWriter writes one live index through its table's stage.
type hashWriter[T any] struct {
	x     *hashIndex[T]
	stage *liveStage[T]
}

// move stages the change of old to new. It never reports a holder: in the
// working state the trees decide (see state.go).
func (w *hashWriter[T]) move(old, new *T, _ bool) *T {
	if old == nil && new == nil {
		return nil
	}
	m := liveMove[T]{x: w.x, old: old, new: new}
	if old != nil {
		m.hOld = w.x.hashOf(old)
	}
	if new != nil {
		m.hNew = w.x.hashOf(new)
	}
	m.same = old != nil && new != nil && m.hOld == m.hNew && w.x.def.sameKey(old, new)
	w.stage.moves = append(w.stage.moves, m)
	return nil
}

// publish applies the staged changes to the live indexes and forgets
// them. The committer calls it inside the table's window.
func (s *liveStage[T]) publish() {
	for _, m := range s.moves {
		if m.same {
			m.x.part(m.hOld).replace(m.old, m.new, m.hOld)
			continue
		}
		if m.old != nil {
			m.x.part(m.hOld).remove(m.old, m.hOld)
		}
		if m.new != nil {
			m.x.partFor(m.hNew).insert(m.new, m.hNew)
		}
	}
	s.moves = reuse(s.moves)
}

// reuse empties a scratch slice for the next batch: it keeps the array
// if it is no bigger than a usual batch needs, so that one huge batch (a
// Query.Delete of every record) does not hold its memory for good.
func reuse[E any](s []E) []E {
	if cap(s) > maxPending {
		return nil
	}
	clear(s) // the records may go
	return s[:0]
}

// check compares every live index with its tree in v, the state the live
// indexes hold: the same records, each under its key and in the partition
// of its hash, and each partition's counts right. It calls the field
// accessors; nobody may write meanwhile.
func (l *liveIndexes[T]) check(v *tableVersion[T]) error {
	if l.sch != v.sch {
		return fmt.Errorf("the live indexes are of another schema than the trees")
	}
	for i, d := range v.sch.indexes {
		x := l.idx[i]
		if (x != nil) != d.unique {
			return fmt.Errorf("index %q (unique %v) has a live index: %v", d.name, d.unique, x != nil)
		}
		if x == nil {
			continue
		}
		if x.def != d {
			return fmt.Errorf("live index %d is of index %q, not %q", i, x.def.name, d.name)
		}
		if err := x.check(v.trees[i]); err != nil {
			return fmt.Errorf("live index %q: %w", d.name, err)
		}
	}
	return nil
}

// check compares x with tr, the tree of its index.
func (x *hashIndex[T]) check(tr *tree[T]) error {
	n := 0
	for pi := range x.parts {
		p := x.parts[pi].Load()
		if p == nil {
			continue
		}
		t := p.tab.Load()
		live, used := 0, 0
		if t != nil {
			for i, sh := range t.hashes {
				r := t.recs[i]
				switch {
				case sh == 0 || sh == deleted:
					if r != nil {
						return fmt.Errorf("a free slot holds a record")
					}
				case sh&1 == 0:
					return fmt.Errorf("slot hash %#x is neither free nor a record's", sh)
				case r == nil:
					return fmt.Errorf("a record's slot holds none")
				default:
					h := x.hashOf(r)
					if slotHash(h) != sh || x.part(h) != p {
						return fmt.Errorf("a record is filed under another hash")
					}
					if held, ok := tr.Get(r); !ok || held != r {
						return fmt.Errorf("it holds a record that its tree does not")
					}
					live++
				}
				if sh != 0 {
					used++
				}
			}
			if full(t, used-1) {
				return fmt.Errorf("a partition is over its load: %d of %d slots used", used, len(t.hashes))
			}
		}
		if live != p.n || used != p.used {
			return fmt.Errorf("a partition counts %d records and %d used slots, holds %d and %d", p.n, p.used, live, used)
		}
		n += live
	}
	if n != tr.Len() {
		return fmt.Errorf("it holds %d records, its tree %d", n, tr.Len())
	}
	return nil
}
