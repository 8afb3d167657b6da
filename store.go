package recstore

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// DB is an in-memory store of typed tables. Create one with New and declare
// its tables with NewTable. A DB is safe for concurrent use by multiple
// goroutines.
type DB struct {
	_ noCopy

	// cur is the newest version published: by the committer or an
	// applier of the fast path (from the working trees), or by a reader
	// that brought one up to date (see snapshot).
	cur atomic.Pointer[version]
	// head is the newest change committed: a batch of the committer or
	// an insert of the fast path. The changes that cur does not hold
	// reach back from it.
	head atomic.Pointer[commitRec]
	// liveSeq is odd while the committer writes the live indexes
	// (live.go).
	liveSeq atomic.Uint64
	// wantFresh asks for a version to be published at the next chance: a
	// reader had to bring one up to date.
	wantFresh atomic.Bool
	closed    atomic.Bool
	// gate keeps the two kinds of writer apart: inserts of the fast path
	// hold it shared, the committer's batches alone.
	gate sync.RWMutex
	// treeMu guards the working trees (commit.work.tables' trees and
	// seq), which the committer's batches and the fast path's appliers
	// bring up to date.
	treeMu sync.Mutex
	// applied is the seq of the newest change in the working trees.
	applied atomic.Uint64
	opts    Options
	commit  committer

	namesMu sync.Mutex
	names   map[string]bool
}

// version is one published state of every table. It is immutable: readers
// load it with one atomic load and keep it as long as they like.
type version struct {
	tables []any  // *tableState[T] of table id i
	seq    uint64 // the seq of the newest change it holds
}

// commitRec is one committed change: a batch of the committer (change is
// a []any, by table id: nil or the []undoRec[T] of that table in the order
// they were made) or an insert of the fast path (change is a *T, inserted
// into table). It is immutable but for prev. One field serves both, so
// that the record takes 40 bytes (the 48-byte size class) rather than 64:
// every insert of the fast path allocates one.
type commitRec struct {
	// prev is the change before, until a published version holds this
	// one: then nil, so that the log before it can be freed.
	prev   atomic.Pointer[commitRec]
	seq    uint64 // one more than prev's
	table  int
	change any
}

// Options tunes a DB. The zero value of each field picks its default.
type Options struct {
	// Stripes is the number of lock stripes per table that serialise
	// GetOrCreate and UpdateOrCreate calls on the same lookup, and of
	// partitions (each with its lock) of every unique index's hash index,
	// rounded up to a power of two. Default: DefaultStripes.
	Stripes int
	// Degree is the B-tree degree of every index: nodes hold up to
	// 2*Degree-1 records. Smaller nodes make each copy-on-write cheaper;
	// larger ones make trees shallower. Default: DefaultDegree.
	Degree int
}

// Defaults for Options.
const (
	// DefaultStripes is the default lock-stripe count per table (or
	// 4 × GOMAXPROCS at New, rounded up to a power of two, if larger).
	// With 2 cores, BenchmarkGetOrCreate/(miss|zipf)/g=32x (-cpu 2,
	// 200000x, -recstore.stripes 8, 64, 512; 2026-12-02) could not rank
	// them: miss 1.4-2.2 µs and zipf 0.51-0.63 µs at every count, the
	// spread of one count as wide as the gaps between counts. 64 keeps
	// creators of different keys apart on up to 16 cores, for 4 KB of
	// padded stripes per table and 4 KB per unique index; measure on a
	// machine with more cores before changing it.
	DefaultStripes = 64
	// DefaultDegree is the default B-tree degree.
	DefaultDegree = 16
)

// New returns an empty DB. opts, if given, tunes it; see Options.
func New(opts ...Options) *DB {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Stripes <= 0 {
		o.Stripes = max(DefaultStripes, 4*runtime.GOMAXPROCS(0))
	}
	o.Stripes = ceilPow2(o.Stripes)
	if o.Degree <= 1 {
		o.Degree = DefaultDegree
	}
	db := &DB{opts: o, names: map[string]bool{}}
	v := &version{}
	db.cur.Store(v)
	db.head.Store(&commitRec{})
	db.commit.work.base = v
	return db
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Close closes the DB: every later call on it or its tables returns
// ErrClosed. Writes already in progress finish. Close is idempotent.
func (db *DB) Close() error {
	db.closed.Store(true)
	return nil
}

// snapshot returns a version holding every change committed before it was
// called. Without commits since the last publication that is two atomic
// loads. Otherwise the caller brings a version up to date itself, without
// waiting for any writer: it applies the pending changes to copy-on-write
// copies of the newest version's trees (O(changes), at most about
// maxPending plus maxLag), offers the result to later readers and asks for
// a version to be published at the next chance.
func (db *DB) snapshot() (*version, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.latest(), nil
}

// latest is snapshot on a DB open or closed.
func (db *DB) latest() *version {
	for {
		h := db.head.Load()
		v := db.cur.Load()
		if v.seq >= h.seq {
			return v
		}
		recs, ok := since(h, v.seq, nil)
		if !ok {
			continue // a newer version was published meanwhile
		}
		nv := v.with(recs)
		db.wantFresh.Store(true)
		for cur := v; cur.seq < nv.seq && !db.cur.CompareAndSwap(cur, nv); {
			cur = db.cur.Load()
		}
		return nv
	}
}

// since returns the changes after seq up to h, oldest first, in buf's
// array if it has room, or false if the log no longer reaches back that
// far (a version was published that holds some of them).
func since(h *commitRec, seq uint64, buf []*commitRec) ([]*commitRec, bool) {
	recs := buf[:0]
	for r := h; r != nil && r.seq > seq; r = r.prev.Load() {
		recs = append(recs, r)
	}
	if len(recs) == 0 || recs[len(recs)-1].seq != seq+1 {
		return nil, false
	}
	slices.Reverse(recs)
	return recs, true
}

// with returns v with recs, the changes committed after it, applied.
func (v *version) with(recs []*commitRec) *version {
	tables := slices.Clone(v.tables)
	changes := make([][]any, len(tables)) // by table id, in order
	for _, r := range recs {
		batch, ok := r.change.([]any)
		if !ok {
			changes[r.table] = append(changes[r.table], r.change)
			continue
		}
		for id, c := range batch {
			if c != nil {
				changes[id] = append(changes[id], c)
			}
		}
	}
	for id, c := range changes {
		if len(c) > 0 {
			tables[id] = tables[id].(replayer).replay(c)
		}
	}
	return &version{tables: tables, seq: recs[len(recs)-1].seq}
}

// replayer is a *tableState[T], whatever T.
type replayer interface {
	// replay returns the table with changes applied: each a []undoRec[T]
	// of a batch or a *T inserted by the fast path.
	replay(changes []any) any
}

// noCopy lets go vet's copylocks check report a DB or Table copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
