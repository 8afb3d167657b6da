package recstore

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// DB is an in-memory store of typed tables. Create one with New and declare
// its tables with NewTable. A DB is safe for concurrent use by multiple
// goroutines.
type DB struct {
	_ noCopy

	cur    atomic.Pointer[version] // the latest published version
	closed atomic.Bool
	opts   Options
	commit committer

	namesMu sync.Mutex
	names   map[string]bool
}

// version is one published state of every table. It is immutable: readers
// load it with one atomic load and keep it as long as they like.
type version struct {
	tables []any // *tableState[T] of table id i
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
	db.cur.Store(&version{})
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

// snapshot returns the latest published version.
func (db *DB) snapshot() (*version, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.cur.Load(), nil
}

// noCopy lets go vet's copylocks check report a DB or Table copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
