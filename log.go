package recstore

import (
	"slices"
	"sync/atomic"
)

// The log of changes, the versions readers share, and their publication.
//
// Every commit is a record of the log: an insert of the fast path or a
// batch of the committer. The engine's head is the newest; each record
// points to the one before, until a published version holds it. A version
// is one immutable state of every table; the engine's cur is the newest
// published. A reader that needs a version (Filter, View, a transaction)
// takes cur if it holds head, else applies the records after it to a fork
// of it (replay) and offers the result to the readers after it (latest).

// version is one state of every table. It is immutable: readers load it
// with one atomic load and keep it as long as they like.
type version struct {
	tables tableList
	seq    uint64 // the seq of the newest change it holds
}

// versioned is what a version holds of one table: a *tableVersion[T],
// whatever T.
type versioned interface {
	// replay returns the table with changes applied, oldest first.
	replay(changes []logged) versioned
}

// logRec is one committed change: an insert of the fast path (ins) or a
// batch of the committer (batch). It is immutable but for prev. It takes
// 48 bytes: every insert of the fast path allocates one.
type logRec struct {
	// prev is the change before, until a published version holds this
	// one: then nil, so that the log before it can be freed.
	prev  atomic.Pointer[logRec]
	seq   uint64 // one more than prev's
	table int    // an insert: its table's id
	ins   any    // an insert: the *T stored
	batch *batchRec
}

// batchRec is what a batch of the committer changed: each table's changes.
type batchRec struct {
	tables []logged
}

// logged is one table's part of the log: an insert of the fast path (ins,
// a *T) or one batch's changes to the table (changes, a *tableLog[T]).
type logged struct {
	table   int
	ins     any
	changes any
}

// tableLog is one batch's changes to one table, in the order they were
// made.
type tableLog[T any] []change[T]

// since returns the records after seq up to h, oldest first, in buf's
// array if it has room, or false if the log no longer reaches back that
// far (a version was published that holds some of them).
func since(h *logRec, seq uint64, buf []*logRec) ([]*logRec, bool) {
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

// with returns v with recs, the records committed after it, applied to
// forks of the tables they changed.
func (v *version) with(recs []*logRec) *version {
	var byTable map[int][]logged
	for _, r := range recs {
		if r.batch == nil {
			byTable = appendLogged(byTable, logged{table: r.table, ins: r.ins})
			continue
		}
		for _, l := range r.batch.tables {
			byTable = appendLogged(byTable, l)
		}
	}
	tables := v.tables
	for id, changes := range byTable {
		tables = tables.with(id, tables.get(id).replay(changes))
	}
	return &version{tables: tables, seq: recs[len(recs)-1].seq}
}

func appendLogged(m map[int][]logged, l logged) map[int][]logged {
	if m == nil {
		m = map[int][]logged{}
	}
	m[l.table] = append(m[l.table], l)
	return m
}

// replay is versioned's: a fork of v with changes applied, frozen.
func (v *tableVersion[T]) replay(changes []logged) versioned {
	st := v.fork()
	for _, l := range changes {
		if l.ins != nil {
			st.apply(entry[T]{}, v.sch.stored(l.ins.(*T)), false)
			continue
		}
		for _, c := range *l.changes.(*tableLog[T]) {
			st.apply(c.old, c.new, false)
		}
	}
	return st.freeze()
}

// latest returns a version holding every change committed before it was
// called. Without commits since the last publication that is two atomic
// loads. Otherwise the caller brings a version up to date itself, without
// waiting for any writer: it applies the pending changes to forks of the
// newest version's tables (O(changes), at most about maxPending plus
// maxLag), offers the result to later readers and asks for a version to be
// published at the next chance.
func (e *memEngine) latest() *version {
	if faultOn(faultReadersWait) {
		e.gate.RLock()
		defer e.gate.RUnlock()
	}
	for {
		h := e.head.Load()
		v := e.cur.Load()
		if v.seq >= h.seq {
			return v
		}
		recs, ok := since(h, v.seq, nil)
		if !ok {
			continue // a newer version was published meanwhile
		}
		nv := v.with(recs)
		e.wantFresh.Store(true)
		e.offer(nv)
		return nv
	}
}

// offer makes v the newest published version unless a newer one is.
func (e *memEngine) offer(v *version) {
	for cur := e.cur.Load(); cur.seq < v.seq && !e.cur.CompareAndSwap(cur, v); {
		cur = e.cur.Load()
	}
}

// maxPending bounds the changes committed since the last published
// version that the working trees hold. Once they reach it, the committer
// or an applier of the fast path publishes, so that the log holds at most
// this many changes (plus the inserts not applied yet, at most maxLag) and
// a reader that brings a version up to date (latest) applies at most that
// many. Between publications the working trees change in place: a
// published version costs the writes after it a copy of every node they
// touch.
const maxPending = 4096

// publish stores a version of the working state, which holds every change
// up to w.seq, unless a reader stored one as new already. It costs
// O(tables changed since the last publication).
func (e *memEngine) publish(w *working) {
	old := w.base
	tables := old.tables
	for _, id := range w.dirty {
		tables = tables.with(id, w.tables[id].publish())
	}
	w.dirty = w.dirty[:0]
	v := &version{tables: tables, seq: w.seq}
	if faultOn(faultTornPublish) { // readers get the torn version until the next publication
		e.cur.Store(&version{tables: tornTables(old.tables, tables), seq: w.seq})
	} else {
		e.offer(v)
	}
	w.base, w.pending = v, 0
	e.wantFresh.Store(false)
}

// tableList is a version's tables, by id: a persistent array, so that a
// new version that changes a few tables copies O(√tables) words rather
// than every table's.
type tableList struct {
	chunks [][]versioned
	n      int
}

const tableChunk = 64

func (l tableList) len() int { return l.n }

func (l tableList) get(id int) versioned { return l.chunks[id/tableChunk][id%tableChunk] }

// newTableList returns the list of vs, by id.
func newTableList(vs []versioned) tableList {
	l := tableList{n: len(vs)}
	for vs := range slices.Chunk(vs, tableChunk) {
		l.chunks = append(l.chunks, append(make([]versioned, 0, tableChunk), vs...))
	}
	return l
}

// with returns l with table id set to v (id at most l.len(): one past the
// end appends).
func (l tableList) with(id int, v versioned) tableList {
	c := id / tableChunk
	chunks := slices.Clone(l.chunks)
	if c == len(chunks) {
		chunks = append(chunks, make([]versioned, 0, tableChunk))
	}
	chunk := slices.Clone(chunks[c])
	if id%tableChunk == len(chunk) {
		chunk = append(chunk, v)
	} else {
		chunk[id%tableChunk] = v
	}
	chunks[c] = chunk
	return tableList{chunks: chunks, n: max(l.n, id+1)}
}
