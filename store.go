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

	// cur is the newest version published, by the committer or by a
	// reader that brought one up to date (see snapshot).
	cur atomic.Pointer[version]
	// pend is the committer's last published version and the commits
	// made since, which no version holds yet.
	pend atomic.Pointer[pendingLog]
	// liveSeq is odd while the committer writes the live point indexes
	// (live.go).
	liveSeq atomic.Uint64
	// wantFresh asks the committer to publish after its next batch: a
	// reader had to bring a version up to date.
	wantFresh atomic.Bool
	closed    atomic.Bool
	opts      Options
	commit    committer

	namesMu sync.Mutex
	names   map[string]bool
}

// version is one published state of every table. It is immutable: readers
// load it with one atomic load and keep it as long as they like.
type version struct {
	tables []any  // *tableState[T] of table id i
	seq    uint64 // the number of batches committed before it
}

// pendingLog is what a reader needs for the latest state: the committer's
// last published version and the changes committed after it, newest first.
// It is immutable.
type pendingLog struct {
	base *version
	head *commitRec // nil if base is up to date
}

// commitRec is the changes of one committed batch, by table id: nil, or the
// []undoRec[T] of that table in the order they were made.
type commitRec struct {
	prev    *commitRec
	seq     uint64
	changes []any
}

// Options tunes a DB. The zero value of each field picks its default.
type Options struct {
	// Stripes is the number of lock stripes per table that serialise
	// GetOrCreate and UpdateOrCreate calls on the same lookup, rounded up
	// to a power of two. Default: DefaultStripes.
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
	// Measured with BenchmarkGetOrCreate/miss/g=32x (-cpu 2, 20000x): the
	// more stripes, the more creators of different keys reach the commit
	// pipeline together, so the larger its batches and the fewer bytes
	// copied per create: 16.9 KB at 1 stripe, 14-15 KB at 64, 13.3-13.8 KB
	// at 256. 64 takes most of that gain for 4 KB of padded locks per
	// table; times on the shared 2-core machine were too noisy to rank.
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
	db.pend.Store(&pendingLog{base: v})
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

// snapshot returns a version holding every batch committed before it was
// called. Without commits since the last publication that is one atomic
// load or two. Otherwise the caller brings a version up to date itself,
// without waiting for the committer: it applies the pending changes to
// copy-on-write copies of the last published trees (O(changes), at most
// maxPending), offers the result to later readers and asks the committer to
// publish after its next batch.
func (db *DB) snapshot() (*version, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.latest(), nil
}

// latest is snapshot on a DB open or closed.
func (db *DB) latest() *version {
	p := db.pend.Load()
	if p.head == nil {
		return p.base
	}
	cur := db.cur.Load()
	if cur.seq >= p.head.seq {
		return cur
	}
	v := p.materialize()
	db.wantFresh.Store(true)
	for cur.seq < v.seq && !db.cur.CompareAndSwap(cur, v) {
		cur = db.cur.Load()
	}
	return v
}

// materialize returns base with the pending changes applied.
func (p *pendingLog) materialize() *version {
	var recs []*commitRec
	for r := p.head; r != nil; r = r.prev {
		recs = append(recs, r)
	}
	slices.Reverse(recs)
	tables := slices.Clone(p.base.tables)
	var changes []any
	for id := range tables {
		changes = changes[:0]
		for _, r := range recs {
			if id < len(r.changes) && r.changes[id] != nil {
				changes = append(changes, r.changes[id])
			}
		}
		if len(changes) > 0 {
			tables[id] = tables[id].(replayer).replay(changes)
		}
	}
	return &version{tables: tables, seq: p.head.seq}
}

// replayer is a *tableState[T], whatever T.
type replayer interface {
	// replay returns the table with changes ([]undoRec[T] each) applied.
	replay(changes []any) any
}

// noCopy lets go vet's copylocks check report a DB or Table copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
