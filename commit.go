package recstore

import (
	"slices"
	"sync"
)

// The commit pipeline. Every write but an insert of the fast path
// (fastpath.go), from any table, is an op that the committer applies to
// the engine's working state. Ops that arrive while a batch is being
// applied wait in the next batch, and the goroutine applying (the
// combiner) goes on to apply that one too, so that no lock is handed from
// goroutine to goroutine between batches; after combineRounds batches it
// hands the role to the first op's goroutine of the next batch, so that no
// caller waits long for others' writes.
//
// Applying ops one after another in one place, alone (the engine's gate
// keeps the fast path's inserts out meanwhile), is what makes every unique
// index hold for them: an op checks its keys against the latest state and
// no other write runs in between. At the end of each batch its changes
// become visible at once (commitBatch): readers see all of a batch or none
// of it and never wait.

// op is one write. run changes the working state and returns an error to
// undo everything it did.
type op struct {
	run func(w *working) error
	// alone makes the op a batch of its own: a schema change, which
	// replaces a table's trees and hash indexes.
	alone    bool
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
	work working    // touched only under the engine's treeMu
}

// submit applies o and returns once its effect is committed (or o failed
// and left no trace).
func (e *memEngine) submit(o *op) error {
	if e.isClosed.Load() {
		return ErrClosed
	}
	c := &e.commit
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
		e.combine(b)
	}
	if o.panicked != nil {
		panic(o.panicked)
	}
	return o.err
}

// combine applies b, then every batch that forms meanwhile, up to
// combineRounds of them, and hands the next one on.
func (e *memEngine) combine(b *batch) {
	c := &e.commit
	for round := 1; ; round++ {
		e.applyBatch(b)
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
// and the working state holds every change committed before it. An op
// marked alone commits on its own, after the ops before it.
func (e *memEngine) applyBatch(b *batch) {
	e.gate.Lock()
	e.treeMu.Lock()
	defer e.gate.Unlock()
	defer e.treeMu.Unlock()
	w := &e.commit.work
	if _, r := e.catchUpSafely(w); r != nil {
		for _, o := range b.ops {
			o.panicked = r
		}
		return
	}
	for _, o := range b.ops {
		if o.alone {
			e.commitBatch(w)
		}
		w.runOp(o)
		if o.alone {
			e.commitBatch(w)
		}
	}
	e.commitBatch(w)
}

// catchUpSafely is catchUp that returns a panic of a field accessor
// rather than raising it: the inserts it did not apply stay in the log,
// and the next catch-up applies them (again: a tree's Set of a record it
// holds changes nothing).
func (e *memEngine) catchUpSafely(w *working) (h *logRec, panicked any) {
	defer func() { panicked = recover() }()
	return e.catchUp(w), nil
}

// runOp runs o; if it fails or panics, it undoes what o did.
func (w *working) runOp(o *op) {
	w.epoch++
	w.marks = w.marks[:0]
	defer func() {
		if r := recover(); r != nil {
			o.panicked = r
		}
		if o.err != nil || o.panicked != nil {
			for i := len(w.marks) - 1; i >= 0; i-- {
				w.tables[w.marks[i].table].undoTo(w.marks[i].n)
			}
		}
	}()
	o.err = o.run(w)
}

// working is the committer's working state: every table's, and what the
// batch being applied changed. The committer and the appliers of the fast
// path use it under the engine's treeMu.
type working struct {
	tables []committed // by table id: a *commitTable[T]
	// touched are the ids of the tables the batch used, dirty those
	// changed since the last publication; each once.
	touched []int
	dirty   []int
	// epoch counts the ops run; marks are the lengths of the logs of the
	// tables the op running uses, when it first used them: where undoing
	// it stops.
	epoch   uint64
	marks   []logMark
	seq     uint64   // the seq of the newest change the state holds
	pending int      // changes the state holds that base does not
	base    *version // the last version published from the state
	// catchUp's scratch: the log it applies, and the inserts of each
	// table.
	recs    []*logRec
	inserts map[int][]any
}

type logMark struct{ table, n int }

// committed is a table's working state, whatever its record type: a
// *commitTable[T].
type committed interface {
	// undoTo undoes the changes logged after the first n.
	undoTo(n int)
	// catchUp applies inserts of the fast path (each a *T) to the trees:
	// they are in the log and the hash indexes already.
	catchUp(recs []any)
	// batchSize returns how many changes the batch made, and whether the
	// table must be published now (it is new, or its schema changed); if
	// either, the table is marked changed since the last publication.
	batchSize(w *working) (changes int, force bool)
	// changed marks the table changed since the last publication.
	changed(w *working)
	// openWindow and closeWindow bracket what readers must see whole.
	openWindow()
	closeWindow()
	// publishLive applies the batch's changes to the hash indexes, and
	// hands them to an index build that captures them.
	publishLive()
	// logged returns the batch's changes for the log: a view of the
	// table's log, or, if own, a copy that pins nothing else (the change
	// feed keeps it longer than the log keeps its part).
	logged(own bool) logged
	// endBatch forgets the batch: its changes can no longer be undone, and
	// the log must not pin replaced records.
	endBatch()
	// publish returns the table's state as a version and empties its log.
	publish() versioned
	// len is how many records the table holds.
	len() int
	// fork returns the table in a fork of the engine (see
	// memEngine.fork).
	fork(f *memEngine) (committed, versioned, declared)
	// check and sameAs are the invariant checker's (check.go).
	check(idle bool) error
	sameAs(v versioned) error
}

// commitTable is one table's part of the working state.
type commitTable[T any] struct {
	mt *memTable[T]
	st *tableState[T] // the working trees
	// live are the hash indexes of st.sch, and stage the batch's changes
	// to them, which st's writers include while the batch runs.
	live    *liveIndexes[T]
	stage   liveStage[T]
	writers []indexSlot[T] // st's writers while a batch runs
	// sealed counts the entries of st.log that earlier batches
	// committed: since the last publication they are the table's part of
	// the pending log, which readers share, so they are never written
	// again (publish drops them, and a new array takes their place).
	sealed int
	// reset says the schema or the hash indexes were replaced in this
	// batch: the table is published with it, and readers find its new
	// hash indexes.
	reset bool
	// capture, while an index is being built, collects every record that
	// a batch wrote, for the build to catch up with.
	capture []*T
	// fastOff counts the stops of the fast path into the table under way
	// (setFast): an index build, or an optimistic write that took the
	// table alone.
	fastOff int
	touched bool   // in working.touched
	dirty   bool   // in working.dirty
	epoch   uint64 // the op that last used the table
}

// workTable returns the working state of the table with id for the op
// running: from then on the table's changes are staged for its hash
// indexes, undone if the op fails, and committed with the batch.
func workTable[T any](w *working, id int) *commitTable[T] {
	c := w.tables[id].(*commitTable[T])
	if !c.touched {
		c.touched = true
		w.touched = append(w.touched, id)
		c.st.writers = c.writers
	}
	if c.epoch != w.epoch {
		c.epoch = w.epoch
		w.marks = append(w.marks, logMark{id, len(c.st.log)})
	}
	return c
}

// installLive makes live the table's hash indexes, and st's writers
// those of its trees and of live's stage.
func (c *commitTable[T]) installLive(live *liveIndexes[T]) {
	c.live = live
	trees := c.st.writers[:len(c.st.trees)]
	c.writers = slices.Clip(trees)
	for i, x := range live.idx {
		if x != nil {
			c.writers = append(c.writers, indexSlot[T]{at: i, w: &hashWriter[T]{x: x, stage: &c.stage}})
		}
	}
	c.st.writers = c.writers
}

func (c *commitTable[T]) undoTo(n int) { c.st.undoTo(n) }

func (c *commitTable[T]) catchUp(recs []any) {
	for _, r := range recs {
		c.st.apply(entry[T]{}, c.st.sch.stored(r.(*T)), false)
	}
}

func (c *commitTable[T]) batchLog() []change[T] { return c.st.log[c.sealed:] }

func (c *commitTable[T]) batchSize(w *working) (int, bool) {
	n := len(c.batchLog())
	if n > 0 || c.reset {
		c.changed(w)
	}
	return n, c.reset
}

func (c *commitTable[T]) changed(w *working) {
	if !c.dirty {
		c.dirty = true
		w.dirty = append(w.dirty, c.mt.id)
	}
}

func (c *commitTable[T]) openWindow() {
	if !faultOn(faultOpenLive) {
		c.mt.seq.Add(1)
	}
}

func (c *commitTable[T]) closeWindow() { c.openWindow() }

func (c *commitTable[T]) publishLive() {
	if c.mt.live.Load() != c.live {
		c.mt.live.Store(c.live)
	}
	c.stage.publish()
	if c.capture != nil {
		for _, ch := range c.batchLog() {
			for _, r := range []*T{ch.old.rec, ch.new.rec} {
				if r != nil {
					c.capture = append(c.capture, r)
				}
			}
		}
	}
}

func (c *commitTable[T]) logged(own bool) logged {
	if len(c.batchLog()) == 0 {
		return logged{}
	}
	l := tableLog[T](c.st.log[c.sealed:len(c.st.log):len(c.st.log)]) // sealed by endBatch
	if own {
		l = slices.Clone(l)
	}
	return logged{table: c.mt.id, changes: &l}
}

func (c *commitTable[T]) endBatch() {
	c.sealed = len(c.st.log)
	c.reset, c.touched = false, false
	c.st.writers = c.st.writers[:len(c.st.trees)] // catch-up writes the trees alone
}

func (c *commitTable[T]) publish() versioned {
	// The version holds every change: the pending log goes, and with it
	// the records it kept alive. Readers may still hold the sealed part
	// of the old array (the log of changes), so a new one takes its
	// place, sized for a usual period.
	c.st.log, c.sealed = make([]change[T], 0, min(len(c.st.log), maxPending)), 0
	c.dirty = false
	return c.st.freeze()
}

func (c *commitTable[T]) len() int { return c.st.trees[0].Len() }

// commitBatch makes the batch's changes visible: to point reads through
// the hash indexes, and to every other read through the log or, if it is
// due, a new published version. It all happens inside the windows of the
// tables it changed, so that no reader sees part of it; readers of other
// tables do not notice it.
func (e *memEngine) commitBatch(w *working) {
	n, force := 0, false
	for _, id := range w.touched {
		c, f := w.tables[id].batchSize(w)
		n, force = n+c, force || f
	}
	if n > 0 || force {
		for _, id := range w.touched {
			w.tables[id].openWindow()
		}
		for _, id := range w.touched {
			w.tables[id].publishLive()
		}
		w.seq++
		w.pending += n
		rec := &logRec{seq: w.seq}
		publish := force || w.pending >= maxPending || e.wantFresh.Load()
		if !publish || e.feed != nil {
			// The change feed keeps the batch's changes even when a
			// version holds them: so, before publish forgets them.
			rec.batch = &batchRec{}
			for _, id := range w.touched {
				if l := w.tables[id].logged(e.feed != nil); l.changes != nil {
					rec.batch.tables = append(rec.batch.tables, l)
				}
			}
		}
		if publish {
			// The version first, so that no reader finds the batch in the
			// log without a version that holds what came before it.
			e.publish(w)
		} else {
			rec.prev.Store(e.head.Load())
		}
		e.head.Store(rec) // no insert of the fast path runs: see the gate
		if e.feed != nil {
			e.feed.put(rec, min(e.cur.Load().seq, e.applied.Load()))
		}
		e.applied.Store(w.seq)
		for _, id := range w.touched {
			w.tables[id].closeWindow()
		}
	}
	for _, id := range w.touched {
		w.tables[id].endBatch()
	}
	if invariantsOn {
		e.checkBatch(w, w.touched)
	}
	w.touched = w.touched[:0]
}
