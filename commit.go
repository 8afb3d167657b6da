package recstore

import (
	"sync"
	"sync/atomic"

	"github.com/recstore/recstore/internal/btree"
)

// The commit pipeline. Every write but an insert of the fast path
// (fastpath.go), from any table, is an op that the committer applies to
// the DB's private working trees. Ops that arrive
// while a batch is being applied wait in the next batch, and the goroutine
// applying (the combiner) goes on to apply that one too, so that no lock is
// handed from goroutine to goroutine between batches; after combineRounds
// batches it hands the role to the first op's goroutine of the next batch,
// so that no caller waits long for others' writes.
//
// Applying ops one after another in one place, alone (DB.gate keeps the
// fast path's inserts out meanwhile), is what makes every unique index hold
// for them: an op checks its keys against the latest state and no other
// write runs in between. At the end of each batch its changes become
// visible at once (commitBatch): readers see all of a batch or none of it
// and never wait.

// op is one write. run mutates the working state and returns an error to
// undo everything it did.
type op struct {
	run      func(w *working) error
	err      error
	panicked any // a panic from run, re-raised in the caller's goroutine
}

// batch is the ops applied together. done is closed when they are applied
// or, if handed is set then, when the batch is handed to the goroutine of
// its first op, which applies it and closes handed.
type batch struct {
	ops    []*op
	done   chan struct{}
	handed chan struct{}
}

// combineRounds is how many batches a combiner applies before it hands the
// role on.
const combineRounds = 16

type committer struct {
	mu   sync.Mutex // guards open and busy
	open *batch     // the batch new ops join
	busy bool       // a combiner is applying batches
	work working    // touched only by the combiner
}

// submit applies o and returns once its effect is committed (or o failed
// and left no trace).
func (db *DB) submit(o *op) error {
	if db.closed.Load() {
		return ErrClosed
	}
	c := &db.commit
	c.mu.Lock()
	b := c.open
	if b == nil {
		b = &batch{done: make(chan struct{})}
		c.open = b
	}
	b.ops = append(b.ops, o)
	lead := !c.busy
	if lead {
		c.busy, c.open = true, nil
	}
	c.mu.Unlock()

	if !lead {
		<-b.done
		if b.handed != nil {
			if b.ops[0] == o {
				lead = true
			} else {
				<-b.handed
			}
		}
	}
	if lead {
		db.combine(b)
	}
	if o.panicked != nil {
		panic(o.panicked)
	}
	return o.err
}

// combine applies b, then every batch that forms meanwhile, up to
// combineRounds of them, and hands the next one on.
func (db *DB) combine(b *batch) {
	c := &db.commit
	for round := 1; ; round++ {
		db.applyBatch(b)
		if b.handed != nil {
			close(b.handed)
		} else {
			close(b.done)
		}
		c.mu.Lock()
		b, c.open = c.open, nil
		if b == nil {
			c.busy = false
		}
		c.mu.Unlock()
		if b == nil {
			return
		}
		if round == combineRounds {
			b.handed = make(chan struct{})
			close(b.done) // its first op's goroutine carries on
			return
		}
	}
}

// applyBatch applies b alone: no insert of the fast path runs meanwhile,
// and the working trees hold every change committed before it.
func (db *DB) applyBatch(b *batch) {
	db.gate.Lock()
	db.treeMu.Lock()
	defer db.gate.Unlock()
	defer db.treeMu.Unlock()
	w := &db.commit.work
	db.catchUp(w)
	for _, o := range b.ops {
		sp := len(w.log)
		w.runOp(o)
		if o.err != nil || o.panicked != nil {
			w.rollbackTo(sp)
		}
	}
	w.log = w.log[:0]
	db.commitBatch(w)
}

func (w *working) runOp(o *op) {
	defer func() {
		if r := recover(); r != nil {
			o.panicked = r
		}
	}()
	o.err = o.run(w)
}

// maxPending bounds the changes committed since the last published
// version that the working trees hold. Once they reach it, the committer
// or an applier of the fast path publishes, so that the log holds at most
// this many changes (plus the inserts not applied yet, at most maxLag) and
// a reader that brings a version up to date (DB.snapshot) applies at most
// that many. Between publications the working trees change in place: a
// published version costs the writes after it a copy of every node they
// touch.
const maxPending = 4096

// commitBatch makes the batch's changes visible: to point reads through the
// live indexes, and to every other read through the log or, if it is due,
// a new published version. It all happens inside one liveSeq window, so
// that no reader sees part of it.
func (db *DB) commitBatch(w *working) {
	n, force := 0, false
	for _, t := range w.tables {
		c, f := t.batchSize()
		n, force = n+c, force || f
	}
	if n == 0 && !force {
		return // nothing changed
	}
	db.openLive()
	for _, t := range w.tables {
		t.applyLive()
	}
	w.seq++
	w.pending += n
	rec := &commitRec{seq: w.seq}
	if force || w.pending >= maxPending || db.wantFresh.Load() {
		// The version first, so that no reader finds the batch in the
		// log without a version that holds what came before it.
		db.publish(w)
	} else {
		rec.prev.Store(db.head.Load())
		changes := make([]any, len(w.tables))
		for id, t := range w.tables {
			changes[id] = t.changes()
		}
		rec.change = changes
	}
	db.head.Store(rec) // no insert of the fast path runs: see DB.gate
	db.applied.Store(w.seq)
	db.openLive()
	for _, t := range w.tables {
		t.endBatch()
	}
}

// openLive opens or closes the liveSeq window (see live.go).
func (db *DB) openLive() {
	if !faultOn(faultOpenLive) {
		db.liveSeq.Add(1)
	}
}

// publish stores a version of the working trees, which hold every change
// up to w.seq, unless a reader stored one as new already.
func (db *DB) publish(w *working) {
	old := w.base
	tables := make([]any, len(w.tables))
	copy(tables, old.tables)
	for id, t := range w.tables {
		if s := t.publish(); s != nil {
			tables[id] = s
		}
	}
	if faultOn(faultTornPublish) {
		db.cur.Store(&version{tables: tornTables(old.tables, tables), seq: w.seq})
	}
	v := &version{tables: tables, seq: w.seq}
	for cur := db.cur.Load(); (cur.seq < v.seq || faultOn(faultTornPublish)) && !db.cur.CompareAndSwap(cur, v); {
		cur = db.cur.Load()
	}
	w.base, w.pending = v, 0
	db.wantFresh.Store(false)
}

// working is the committer's private, mutable state of every table. The
// committer and the appliers of the fast path use it under DB.treeMu.
type working struct {
	tables  []tableWorker
	log     []int        // ids of the tables changed, in order, for rollback
	seq     uint64       // the seq of the newest change the trees hold
	pending int          // changes the trees hold that base does not
	base    *version     // the last version published from the trees
	inserts [][]any      // catchUp's scratch: the inserts of each table
	recs    []*commitRec // catchUp's scratch: the log it applies
}

// tableWorker is a table's working state, whatever its record type.
type tableWorker interface {
	undoLast()
	replayInto(w *working) error
	// insertLogged applies inserts of the fast path (each a *T) to the
	// trees: they are in the log and the live indexes already.
	insertLogged(recs []any)
	// batchSize returns how many changes the batch made, and whether the
	// table must be published now (it is new, or its schema changed).
	batchSize() (changes int, force bool)
	// applyLive applies the batch's changes to the live indexes.
	applyLive()
	// changes returns the batch's changes, a []undoRec[T], or nil.
	changes() any
	// endBatch forgets the batch's changes: they can no longer be undone,
	// and the log must not pin replaced records.
	endBatch()
	// publish returns an immutable *tableState of the working state if
	// it changed since the last call, else nil.
	publish() any
}

func (w *working) rollbackTo(sp int) {
	for len(w.log) > sp {
		id := w.log[len(w.log)-1]
		w.log = w.log[:len(w.log)-1]
		w.tables[id].undoLast()
	}
}

// tableWork is the working state of one table.
type tableWork[T any] struct {
	id    int
	sch   *tableSchema[T]
	trees []*tree[T]
	dirty bool
	undo  []undoRec[T]
	log   *[]int
	view  *tableState[T] // reads the working trees, for ops that query them
	// capture, while an index is being built, collects every record
	// written, for the build to catch up with.
	capture []*T
	// live and liveOut, in the committer's working state only (nil in a
	// transaction's overlay), are the table's live point indexes and
	// where readers find them; reset says they or the schema changed, so
	// the table must be published with the batch.
	live    *liveIndexes[T]
	liveOut *atomic.Pointer[liveIndexes[T]]
	reset   bool
	// fastOff counts the stops of the fast path into the table under
	// way (setFast): an index build, or an optimistic write retrying.
	fastOff int
	// hints[i] remembers where in trees[i] the last change was, so that
	// changes near each other (rising keys above all) skip most of the
	// search.
	hints []btree.Hint
	// sealed counts the entries of undo that earlier batches committed:
	// since the last publication they are the table's part of the pending
	// log, which readers share, so they are never written again (a
	// publication drops them, and a new array takes their place).
	sealed int
}

func newTableWork[T any](sch *tableSchema[T], trees []*tree[T], log *[]int) *tableWork[T] {
	return &tableWork[T]{sch: sch, trees: trees, log: log,
		view: &tableState[T]{sch: sch, trees: trees}, hints: make([]btree.Hint, len(trees))}
}

// batchUndo is the undo log of the batch being applied.
func (t *tableWork[T]) batchUndo() []undoRec[T] { return t.undo[t.sealed:] }

func (t *tableWork[T]) batchSize() (int, bool) { return len(t.batchUndo()), t.reset }

func (t *tableWork[T]) applyLive() {
	if t.live == nil {
		return
	}
	if t.liveOut.Load() != t.live {
		t.liveOut.Store(t.live)
	}
	for _, u := range t.batchUndo() {
		for i, x := range t.live.idx {
			if x == nil {
				continue
			}
			if u.old.in(i) && (!u.new.in(i) || !x.def.sameKey(u.old.rec, u.new.rec)) {
				h := x.hashOf(u.old.rec)
				x.part(h).del(u.old.rec, h)
			}
			if u.new.in(i) {
				h := x.hashOf(u.new.rec)
				x.part(h).set(x, u.new.rec, h)
			}
		}
	}
}

func (t *tableWork[T]) insertLogged(recs []any) {
	t.dirty = true
	for i, tr := range t.trees {
		d := t.sch.indexes[i]
		for _, r := range recs {
			if r := r.(*T); d.member(r) {
				tr.Set(r, &t.hints[i])
			}
		}
	}
}

func (t *tableWork[T]) changes() any {
	if len(t.batchUndo()) == 0 {
		return nil
	}
	return t.undo[t.sealed:len(t.undo):len(t.undo)] // sealed by endBatch
}

func (t *tableWork[T]) endBatch() {
	t.sealed = len(t.undo)
	t.reset = false
}

// replay returns s with changes (each a batch's []undoRec[T] or a *T the
// fast path inserted, in order) applied, on copy-on-write copies of its
// trees.
func (s *tableState[T]) replay(changes []any) any {
	tw := s.private()
	for _, c := range changes {
		switch c := c.(type) {
		case *T:
			tw.swap(entry[T]{}, s.sch.stored(c))
		default:
			for _, u := range c.([]undoRec[T]) {
				tw.swap(u.old, u.new)
			}
		}
	}
	return tw.frozen()
}

// undoRec reverses one record change: old replaced by new, where a nil old
// is an insert and a nil new a delete.
type undoRec[T any] struct {
	old, new entry[T]
}

func (t *tableWork[T]) publish() any {
	// The version holds every change: the pending log goes, and with it
	// the records it kept alive. The next period likely logs as much.
	t.undo, t.sealed = make([]undoRec[T], 0, len(t.undo)), 0
	if !t.dirty {
		return nil
	}
	t.dirty = false
	trees := make([]*tree[T], len(t.trees))
	for i, tr := range t.trees {
		trees[i] = tr.Copy() // O(1); later writes copy the nodes they touch
	}
	return &tableState[T]{sch: t.sch, trees: trees}
}

func (t *tableWork[T]) undoLast() {
	u := t.undo[len(t.undo)-1]
	t.undo = t.undo[:len(t.undo)-1]
	t.swap(u.new, u.old)
}

// swap replaces record old by new in every index. Either may be absent (nil
// rec). It checks nothing: callers check unique keys first.
func (t *tableWork[T]) swap(old, new entry[T]) {
	t.swapPrefix(old, new, len(t.trees))
}

// swapPrefix is swap on the first n indexes.
func (t *tableWork[T]) swapPrefix(old, new entry[T], n int) {
	t.dirty = true
	for i, tr := range t.trees[:n] {
		// Set replaces the record of equal key (and, in a plain index,
		// equal primary key), so only a key that moves needs a Delete.
		if old.in(i) && (!new.in(i) || !t.sch.indexes[i].sameKey(old.rec, new.rec)) {
			tr.Delete(old.rec, &t.hints[i])
		}
		if new.in(i) {
			tr.Set(new.rec, &t.hints[i])
		}
	}
}

// put replaces old by new, as change does, unless new shares a unique key
// with another record: then it changes nothing and returns the index and
// the record. It checks as it goes, one tree operation per index: Set
// returns what an index held under new's key, and in a unique index an
// item of a record other than old is a conflict, which put undoes. The
// primary key is checked only if checkPK.
func (t *tableWork[T]) put(old, new entry[T], checkPK bool) (*indexDef[T], *T) {
	t.dirty = true
	for i, tr := range t.trees {
		d := t.sch.indexes[i]
		moved := old.in(i) && (!new.in(i) || !d.sameKey(old.rec, new.rec))
		if moved {
			tr.Delete(old.rec, &t.hints[i])
		}
		if !new.in(i) {
			continue
		}
		prev, replaced := tr.Set(new.rec, &t.hints[i])
		if !replaced || !d.unique || prev == old.rec || i == 0 && !checkPK || i > 0 && faultOn(faultSkipUniqueCheck) {
			continue
		}
		tr.Set(prev, nil) // give the key back to its holder
		if moved {
			tr.Set(old.rec, nil)
		}
		t.swapPrefix(new, old, i)
		return d, prev
	}
	t.record(old, new)
	return nil, nil
}

// change replaces old by new, logging the change for rollback.
func (t *tableWork[T]) change(old, new entry[T]) {
	t.record(old, new)
	t.swap(old, new)
}

// record logs the change of old to new, for rollback, publication and an
// index build's catch-up.
func (t *tableWork[T]) record(old, new entry[T]) {
	if t.capture != nil {
		for _, r := range []*T{old.rec, new.rec} {
			if r != nil {
				t.capture = append(t.capture, r)
			}
		}
	}
	t.undo = append(t.undo, undoRec[T]{old: old, new: new})
	*t.log = append(*t.log, t.id)
}

// byPK returns the stored record with r's primary key.
func (t *tableWork[T]) byPK(r *T) (entry[T], bool) {
	held, ok := t.trees[0].Get(r)
	if !ok {
		return entry[T]{}, false
	}
	return t.entryOf(held), true
}

// entryOf returns a stored record's entry.
func (t *tableWork[T]) entryOf(r *T) entry[T] { return t.sch.stored(r) }

// conflict returns the unique index and the record that e would share a
// unique key with, other than the record with e's own primary key (which e
// replaces); the primary key itself is checked only if checkPK.
func (t *tableWork[T]) conflict(e entry[T], checkPK bool) (*indexDef[T], *T) {
	for i, d := range t.sch.indexes {
		if !d.unique || (i == 0 && !checkPK) || !e.in(i) || i > 0 && faultOn(faultSkipUniqueCheck) {
			continue
		}
		held, ok := t.trees[i].Get(e.rec)
		if !ok {
			continue
		}
		if i > 0 && t.sch.pk.sameKey(held, e.rec) {
			continue // the record e replaces
		}
		return d, held
	}
	return nil, nil
}

// violation is the error of rec, which would share its key in unique index
// d with holder.
func violation[T any](sch *tableSchema[T], d *indexDef[T], rec, holder *T) error {
	vals := make([]string, len(d.cols))
	for i, c := range d.cols {
		vals[i] = c.format(rec)
	}
	return &UniqueViolationError{
		Table:      sch.table,
		Constraint: d.name,
		Fields:     d.fieldNames(),
		Values:     vals,
		HeldBy:     sch.pk.cols[0].format(holder),
		PKField:    sch.pk.cols[0].name,
		Existing:   *holder,
	}
}

// notePK keeps the auto-assigned keys past e's, if the user chose it.
func (t *tableWork[T]) notePK(e entry[T]) { t.sch.notePK(e.rec) }

// fit returns e with keys for the working schema: a schema change may have
// committed since the caller computed them.
func (t *tableWork[T]) fit(e entry[T]) (entry[T], error) {
	if e.rec == nil || e.sch == t.sch {
		return e, nil
	}
	return t.sch.entryOf(e.rec)
}

// insert stores a new record, whose keys the caller computed with
// prepare, or returns the error that stops it.
func (t *tableWork[T]) insert(e entry[T]) error {
	e, err := t.fit(e)
	if err != nil {
		return err
	}
	if d, holder := t.put(entry[T]{}, e, true); d != nil {
		return violation(t.sch, d, e.rec, holder)
	}
	t.notePK(e)
	return nil
}

// replace stores e in place of old, the record with its primary key.
func (t *tableWork[T]) replace(old, e entry[T]) error {
	e, err := t.fit(e)
	if err != nil {
		return err
	}
	if d, holder := t.put(old, e, false); d != nil {
		return violation(t.sch, d, e.rec, holder)
	}
	return nil
}
