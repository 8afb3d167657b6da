package recstore

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// DB is a store of typed tables. Create one with New and declare its
// tables with NewTable. A DB is safe for concurrent use by multiple
// goroutines.
type DB struct {
	_   noCopy
	eng engine
	// closed is set by Close, before the engine is told: every call
	// checks it first (see access), without a call through the seam.
	closed atomic.Bool
	// opts are the engine's, for the tables declared in it.
	opts Options

	namesMu sync.Mutex
	names   map[string]bool
	decls   []anyTable // the tables, in the order declared
}

// Options tunes a DB. The zero value of each field picks its default.
type Options struct {
	// Stripes is the number of lock stripes that serialise GetOrCreate
	// and UpdateOrCreate calls on the same lookup, and of partitions
	// (each with its lock) of every unique index's hash index, rounded up
	// to a power of two. Default: DefaultStripes, or 4 × GOMAXPROCS at New
	// if larger.
	Stripes int
	// Degree is the B-tree degree of every index: nodes hold up to
	// 2*Degree-1 records. Smaller nodes make each copy-on-write cheaper;
	// larger ones make trees shallower. Default: DefaultDegree.
	Degree int
	// StrictLookups makes GetOrCreate and UpdateOrCreate (of a table or a
	// query) refuse, with a *LookupError, a lookup whose equalities fix
	// no unique index. recstore makes such calls atomic anyway; a
	// database does not (two racing callers each create a record), so a
	// test suite that stands recstore in for one can ask to be told.
	StrictLookups bool
	// FeedBuffer turns the change feed on (Table.Changes, Table.Follow,
	// Query.Wait): it keeps the changes of the latest FeedBuffer commits,
	// rounded up to a power of two, and a reader further behind gets a
	// *FeedError. The records those commits replaced or deleted stay in
	// memory until as many commits more have come. Default 0: no feed,
	// and those calls return ErrNoFeed.
	FeedBuffer int
}

// Defaults for Options.
const (
	// DefaultStripes is the default lock-stripe and partition count.
	DefaultStripes = 64
	// DefaultDegree is the default B-tree degree.
	DefaultDegree = 16
)

// New returns an empty in-memory DB. opts, if given, tunes it; see
// Options.
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
	if o.FeedBuffer > 0 {
		o.FeedBuffer = ceilPow2(o.FeedBuffer)
	}
	return &DB{eng: newMemEngine(o), opts: o, names: map[string]bool{}}
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Close closes the DB: every later call on it, its tables and its
// transactions returns ErrClosed. Writes already in progress finish.
// Close is idempotent.
func (db *DB) Close() error {
	db.closed.Store(true)
	db.eng.close()
	return nil
}

// noCopy lets go vet's copylocks check report a DB or Table copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
