package recstore

import (
	"context"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
)

// memEngine is the in-memory engine: every table's committed state, the
// log of changes, the versions readers share (log.go), the committer that
// applies writes (commit.go) and the fast path of inserts (fastpath.go).
//
// Locks, in the one order in which a goroutine may take them (a lock is
// never taken while one later in the list is held):
//
//  1. memTable.ddl: one schema change of a table at a time.
//  2. the engine's stripes: the creators of one lookup (GetOrCreate,
//     UpdateOrCreate); one at a time.
//  3. memTable.excl: shared by every write to the table that goes through
//     the committer outside transactions; alone by an optimistic write
//     that took the table alone (retry.go). One table at a time.
//  4. gate: shared by inserts of the fast path, alone by the committer
//     while it applies a batch.
//  5. treeMu: the working state (commit.work), which the committer's
//     batches and the fast path's appliers bring up to date.
//  6. hashPart.mu, in index order: a partition of a hash index, for an
//     insert of the fast path.
//  7. feed.mu: the change feed's wake-up channel, taken by a commit that
//     wakes waiting readers, and by a reader before it waits (feed.go).
//
// A wait under a context (lockContext) takes a lock from a goroutine of
// its own, on behalf of its caller: the order is its caller's.
//
// committer.mu (the queue of ops) is taken alone, with nothing else held
// but the locks above it.
//
// Sequence numbers (seqlocks) readers check instead of locking:
// memTable.seq is odd while the committer publishes a batch's changes to
// the table's hash indexes; hashPart.seq is odd while an insert of the
// fast path writes the partition.
type memEngine struct {
	_ noCopy

	// cur is the newest version published: by the committer or an
	// applier of the fast path (from the working state), or by a reader
	// that brought one up to date (latest).
	cur atomic.Pointer[version]
	// head is the newest change committed: a batch of the committer or
	// an insert of the fast path. The changes that cur does not hold
	// reach back from it.
	head atomic.Pointer[logRec]
	// feed keeps the latest changes for readers of the change feed.
	feed *feed
	// wantFresh asks for a version to be published at the next chance: a
	// reader had to bring one up to date.
	wantFresh atomic.Bool
	isClosed  atomic.Bool
	gate      sync.RWMutex
	treeMu    sync.Mutex
	// applied is the seq of the newest change in the working state.
	applied atomic.Uint64
	stripes []stripe
	opts    Options
	commit  committer
	// tables are the tables declared, by id, for Table.On.
	tablesMu sync.Mutex
	tables   []declared
}

// declared is a table of the engine (a *memTable[T]), whose origin its
// forks share.
type declared interface{ origin() uint64 }

func newMemEngine(o Options) *memEngine {
	e := &memEngine{opts: o, stripes: make([]stripe, o.Stripes), feed: newFeed(o.FeedBuffer)}
	v := &version{}
	e.cur.Store(v)
	e.head.Store(&logRec{})
	e.commit.work.base = v
	return e
}

func (e *memEngine) close() {
	e.isClosed.Store(true)
	e.feed.wakeAll() // the waiting readers see it
}

// stripe is one lock of the engine's stripe set, padded to its own cache
// line so that neighbouring stripes do not slow each other down.
type stripe struct {
	sync.Mutex
	_ [56]byte
}

// memTable is one table of the in-memory engine. Its methods are tableOps
// outside transactions.
type memTable[T any] struct {
	_    noCopy
	e    *memEngine
	id   int
	name string
	sch  atomic.Pointer[tableSchema[T]] // the latest; AddIndex and DropIndex change it
	live atomic.Pointer[liveIndexes[T]] // the committed state, for point reads (hash.go)
	// seq is odd while the committer publishes a batch's changes to the
	// table's hash indexes.
	seq  atomic.Uint64
	seed maphash.Seed
	orig uint64 // the declaration's origin (see Table.On)
	ddl  sync.Mutex
	excl sync.RWMutex
}

// newMemTable declares a table of sch in e.
func newMemTable[T any](e *memEngine, sch *tableSchema[T]) (*memTable[T], error) {
	m := &memTable[T]{e: e, name: sch.table, seed: maphash.MakeSeed(), orig: origins.Add(1)}
	m.sch.Store(sch)
	err := e.submit(&op{alone: true, run: func(w *working) error {
		m.id = len(w.tables)
		c := &commitTable[T]{mt: m, st: emptyVersion(sch, e.opts.Degree).fork(), reset: true}
		c.installLive(newLiveIndexes(sch, c.st.trees, m.seed, e.opts.Stripes))
		w.tables = append(w.tables, c)
		workTable[T](w, m.id)
		e.tablesMu.Lock()
		e.tables = append(e.tables, m)
		e.tablesMu.Unlock()
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *memTable[T]) schema() *tableSchema[T] { return m.sch.Load() }

// version returns the table in v; a table declared after v was published
// is empty.
func (m *memTable[T]) version(v *version) *tableVersion[T] {
	if m.id >= v.tables.len() {
		return emptyVersion(m.schema(), m.e.opts.Degree)
	}
	return v.tables.get(m.id).(*tableVersion[T])
}

// latest is the table in the engine's latest version.
func (m *memTable[T]) latest() *tableVersion[T] { return m.version(m.e.latest()) }

// commitOp applies fn to the table's working state in the commit
// pipeline; if fn fails, nothing it did stays.
func (m *memTable[T]) commitOp(fn func(c *commitTable[T], w *working) error) error {
	m.excl.RLock()
	defer m.excl.RUnlock()
	return m.e.submit(&op{run: func(w *working) error { return fn(workTable[T](w, m.id), w) }})
}

// peek is tableOps': the lock-free point read of the hash indexes. It
// takes no lock and allocates nothing; c is passed by value so that it
// never escapes. If its probe keeps overlapping a write (a batch that the
// committer publishes to the table, or an insert), it gives up, and the
// caller reads a version instead: no reader waits for a writer.
func (m *memTable[T]) peek(c Cond[T]) (r *T, ok bool) {
	if c.h == nil || c.h.op != opEq || c.h.err != nil {
		return nil, false
	}
	if faultOn(faultReadersWait) {
		m.e.gate.RLock()
		defer m.e.gate.RUnlock()
	}
	for tries := 0; tries < maxPeeks; tries++ {
		seq := m.seq.Load()
		if seq&1 != 0 {
			return nil, false // a batch is being published: read a version
		}
		x := m.live.Load().point(c.h.col)
		if x == nil {
			return nil, false
		}
		h := x.hashKey(c.k)
		p := x.part(h)
		if p == nil {
			return nil, true // never written: the key was never stored
		}
		if ps := p.seq.Load(); ps&1 == 0 {
			r = p.get(x, c.k, h)
			if p.seq.Load() == ps && m.seq.Load() == seq {
				return r, true
			}
		}
		runtime.Gosched() // let the insert finish
	}
	return nil, false
}

// pointable reports whether peek can answer c, given time: c is one
// equality on a field that a unique index of the table covers alone.
func (m *memTable[T]) pointable(c *Cond[T]) bool {
	return c.h != nil && c.h.op == opEq && c.h.err == nil && m.live.Load().point(c.h.col) != nil
}

// maxPeeks is how many probes peek makes before it reads a version. A
// probe fails while an insert holds the key's partition, which takes
// well under a microsecond; giving up after four probes sent contended
// GetOrCreate misses to bring a version up to date instead: 8% of the
// bench's miss profile.
const maxPeeks = 64

// setFast stops inserts into the table from taking the fast path, or ends
// one such stop: they take it again once every stop has ended. It runs in
// the committer, beside which no such insert runs.
func (c *commitTable[T]) setFast(on bool) {
	if on {
		c.fastOff--
	} else {
		c.fastOff++
	}
	c.live = c.live.withFast(c.fastOff == 0)
	if !c.reset {
		c.mt.live.Store(c.live)
	}
}

// takeAlone stops every other write to the table outside transactions
// until release is called: inserts stop taking the fast path, and writes
// through the committer wait. An optimistic write that keeps going stale
// takes it (retry.go).
func (m *memTable[T]) takeAlone(ctx context.Context) (release func(), err error) {
	pause := func(on bool) error {
		return m.commitOp(func(c *commitTable[T], _ *working) error {
			c.setFast(on)
			return nil
		})
	}
	if err := pause(false); err != nil {
		return nil, err
	}
	if err := lockContext(ctx, &m.excl); err != nil {
		_ = pause(true) // fails only on a closed DB, which takes no insert anyway
		return nil, err
	}
	return func() {
		m.excl.Unlock()
		_ = pause(true) // fails only on a closed DB, which takes no insert anyway
	}, nil
}
