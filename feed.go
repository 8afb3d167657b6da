package recstore

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// The change feed. Every commit has a revision: its place in the log
// (log.go), one more than the commit before. The feed keeps the log
// records of the last Options.FeedBuffer commits in a ring, whatever
// versions are published, so that a reader can read a table's changes
// after a revision, oldest first, and wait for more. A writer stores a
// pointer in the ring (and a copy of its batch's changes, so as not to pin
// the committer's log), and rings the bells of the tables it changed if
// readers wait, taking no lock: no reader holds a writer back, and a
// reader that falls more than the ring behind gets a *FeedError and reads
// the table again.

// Change is one committed change to one record of a table: an insert
// (Old nil), an update (both set: the record before and after) or a
// delete (New nil). Old and New are copies the caller owns.
type Change[T any] struct {
	Revision uint64 // the commit's: the changes of one commit share it
	Old, New *T
}

// Revision returns the revision of db's newest commit: the changes after
// it are yet to come.
func (db *DB) Revision() uint64 { return db.eng.revision() }

// Revision returns the revision of the version tx reads: it sees every
// commit up to it and none after (its own writes aside). A table read in
// a View, then followed from this revision, misses and repeats nothing.
func (tx *Tx) Revision() uint64 { return tx.eng.revision() }

// Changes returns t's changes committed after revision from, oldest first,
// up to the newest commit when it is called. The changes of one commit come
// together, one per record it changed (from the record before the commit
// to the record after), in the order it first changed them. If more than
// Options.FeedBuffer commits came after from, it yields one *FeedError
// (ErrFellBehind) and stops; on a closed DB, an *AccessError. Resume from
// the Revision of the last change read once every change of that commit
// is read; a reader that stopped inside a commit resumes from Revision-1
// and reads that commit again, whole.
func (t *Table[T]) Changes(from uint64) iter.Seq2[Change[T], error] {
	return func(yield func(Change[T], error) bool) {
		_, _ = t.readChanges(from, yield)
	}
}

// Follow is Changes that goes on: once it has read the newest commit, it
// waits for the next, until ctx ends; then it yields ctx's error and
// stops. A reader that falls more than Options.FeedBuffer commits behind
// gets a *FeedError and stops; writers never wait for it.
func (t *Table[T]) Follow(ctx context.Context, from uint64) iter.Seq2[Change[T], error] {
	return func(yield func(Change[T], error) bool) {
		if ctx == nil {
			var zero Change[T]
			yield(zero, &NilCallbackError{Call: t.Name() + ".Follow", Callback: "ctx"})
			return
		}
		for {
			upto, more := t.readChanges(from, yield)
			if !more {
				return
			}
			from = upto
			if err := t.eng.wait(ctx, from); err != nil {
				var zero Change[T]
				yield(zero, t.feedError(err))
				return
			}
		}
	}
}

// readChanges yields t's changes after from, and returns the newest
// revision read and whether the caller may go on.
func (t *Table[T]) readChanges(from uint64, yield func(Change[T], error) bool) (uint64, bool) {
	var zero Change[T]
	if t.db.closed.Load() {
		yield(zero, t.misuse(ErrClosed))
		return from, false
	}
	more := true
	upto, err := t.eng.changes(from, func(rev uint64, old, new *T) bool {
		c := Change[T]{Revision: rev}
		if old != nil {
			o := *old
			c.Old = &o
		}
		if new != nil {
			n := *new
			c.New = &n
		}
		more = yield(c, nil)
		return more
	})
	if err != nil && more {
		yield(zero, err)
		return upto, false
	}
	return upto, more
}

// feedError is err, from a wait of the feed, as its callers return it.
func (t *Table[T]) feedError(err error) error {
	if err == ErrClosed {
		return t.misuse(ErrClosed)
	}
	return err
}

// Wait returns once a commit after revision from changes what q may
// return: a record that q's condition matches before or after the change
// is inserted, updated or deleted. It returns that commit's revision. It
// fires for no other commit: not for other tables, nor for records outside
// q's condition (its index range included). Once ctx ends it returns ctx's
// error; a *FeedError if the feed no longer reaches back to from; on a
// closed DB, an *AccessError. To watch q: read it (in a View, noting
// Tx.Revision), Wait from that revision, and read it again.
func (q *Query[T]) Wait(ctx context.Context, from uint64) (uint64, error) {
	t := q.t
	switch {
	case ctx == nil:
		return 0, &NilCallbackError{Call: t.Name() + ".Filter(…).Wait", Callback: "ctx"}
	case t.db.closed.Load():
		return 0, t.misuse(ErrClosed)
	}
	if err := q.validate(t.eng.schema(), false); err != nil {
		return 0, err
	}
	for {
		fired := uint64(0)
		upto, err := t.eng.changes(from, func(rev uint64, old, new *T) bool {
			if (old != nil && q.cond.match(old)) || (new != nil && q.cond.match(new)) {
				fired = rev
				return false
			}
			return true
		})
		switch {
		case fired > 0:
			return fired, nil
		case err != nil:
			return 0, err
		}
		from = upto
		if err := t.eng.wait(ctx, from); err != nil {
			return 0, t.feedError(err)
		}
	}
}

// feed is an engine's ring of its latest log records.
type feed struct {
	ring []atomic.Pointer[logRec] // a power of two of them
	// base is the revision the feed began after: a fork's first, or 0.
	base uint64
	// waiting counts the readers waiting for a commit; bells holds each
	// table's bell, once a reader waited for it: an immutable map,
	// replaced whole under mu when a table gets its bell, so that a
	// writer reads it without a lock.
	waiting atomic.Int32
	bells   atomic.Pointer[map[int]*bell]
	mu      sync.Mutex
}

// bell is what the readers waiting for one table's commits wait on. A
// commit rings it, waking one reader whatever their number; that reader
// wakes the others, closing wake.
type bell struct {
	ring chan struct{} // holds one ring at most
	wake chan struct{} // closed and replaced under feed.mu
}

// newFeed returns a feed of size commits, or nil (no feed) if size is 0.
func newFeed(size int) *feed {
	if size == 0 {
		return nil
	}
	f := &feed{ring: make([]atomic.Pointer[logRec], size)}
	f.bells.Store(&map[int]*bell{})
	return f
}

func (f *feed) mask() uint64 { return uint64(len(f.ring) - 1) }

// put adds r, just committed, to the feed, and rings the bells of the
// tables it changed, if readers wait: a pointer stored, and a
// non-blocking send per table waited for, without a lock.
//
// The log record that becomes the feed's oldest gives up the records
// before it (prev) once held, its seq at most both the newest version's
// and the working trees' (the newest change applied): then neither a
// reader bringing a version up to date nor a catch-up of the trees reads
// the log past it (log.go, fastpath.go). So the feed keeps its own
// records, not the log before them.
func (f *feed) put(r *logRec, held uint64) {
	f.ring[r.seq&f.mask()].Store(r)
	if o := f.ring[(r.seq+1)&f.mask()].Load(); o != nil && o.seq <= held {
		o.prev.Store(nil)
	}
	if f.waiting.Load() == 0 {
		return
	}
	bells := *f.bells.Load()
	if r.batch == nil {
		bells[r.table].sound()
		return
	}
	for _, l := range r.batch.tables {
		bells[l.table].sound()
	}
}

// sound rings b, if there is one and it is not ringing already.
func (b *bell) sound() {
	if b == nil {
		return
	}
	select {
	case b.ring <- struct{}{}:
	default: // rung already, and no reader has answered yet
	}
}

// wakeAll wakes every waiting reader: the engine closed.
func (f *feed) wakeAll() {
	if f == nil {
		return
	}
	f.mu.Lock()
	for _, b := range *f.bells.Load() {
		f.wakeReaders(b)
	}
	f.mu.Unlock()
}

// wakeReaders wakes the readers waiting on b; f.mu is held.
func (f *feed) wakeReaders(b *bell) {
	close(b.wake)
	b.wake = make(chan struct{})
}

// bellOf returns table id's bell and the channel that its next wake-up
// closes.
func (f *feed) bellOf(id int) (*bell, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bells := *f.bells.Load()
	b := bells[id]
	if b == nil {
		b = &bell{ring: make(chan struct{}, 1), wake: make(chan struct{})}
		next := maps.Clone(bells)
		next[id] = b
		f.bells.Store(&next)
	}
	return b, b.wake
}

// get returns the log record of revision seq, committed already, or nil
// if the feed no longer holds it.
func (f *feed) get(seq uint64) *logRec {
	for {
		r := f.ring[seq&f.mask()].Load()
		switch {
		case r != nil && r.seq == seq:
			return r
		case r != nil && r.seq > seq:
			return nil // overwritten
		}
		runtime.Gosched() // committed, and its committer about to put it
	}
}

// oldest returns the oldest revision after which the feed can still be
// read, given head, the newest.
func (f *feed) oldest(head uint64) uint64 {
	return max(f.base, head-min(head, uint64(len(f.ring))))
}

// wait is tableEngine's: it returns once a commit after revision after
// exists and a commit has changed m since it was called (or one after
// after, before it was called, may have), or ctx's error once ctx ends,
// or ErrClosed once the engine closes. Commits to other tables do not
// wake it.
func (m *memTable[T]) wait(ctx context.Context, after uint64) error {
	e, f := m.e, m.e.feed
	if f == nil {
		return ErrNoFeed
	}
	f.waiting.Add(1)
	defer f.waiting.Add(-1)
	for {
		b, wake := f.bellOf(m.id)
		switch {
		case e.head.Load().seq > after:
			return nil
		case e.isClosed.Load():
			return ErrClosed
		}
		select {
		case <-b.ring: // this reader answers the bell for all
			f.mu.Lock()
			f.wakeReaders(b)
			f.mu.Unlock()
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// revision is engine's.
func (e *memEngine) revision() uint64 { return e.head.Load().seq }

// changes is tableEngine's: m's changes after revision from, up to the
// newest commit, oldest first, to yield until it returns false; it
// returns the newest revision it read, or a *FeedError if the feed no
// longer reaches back to from.
func (m *memTable[T]) changes(from uint64, yield func(rev uint64, old, new *T) bool) (uint64, error) {
	e := m.e
	head := e.head.Load().seq
	switch {
	case e.feed == nil:
		return from, ErrNoFeed
	case from >= head:
		return from, nil // nothing yet
	case from < e.feed.oldest(head):
		return from, &FeedError{Table: m.name, From: from, Oldest: e.feed.oldest(head)}
	}
	for seq := from + 1; seq <= head; seq++ {
		r := e.feed.get(seq)
		if r == nil {
			return seq - 1, &FeedError{Table: m.name, From: seq - 1, Oldest: e.feed.oldest(e.head.Load().seq)}
		}
		if !m.changesIn(r, yield) {
			return seq, nil
		}
	}
	return head, nil
}

// changesIn yields m's changes in r, and reports whether yield always
// asked for more.
func (m *memTable[T]) changesIn(r *logRec, yield func(rev uint64, old, new *T) bool) bool {
	if r.batch == nil {
		if r.ins == nil || r.table != m.id {
			return true
		}
		return yield(r.seq, nil, r.ins.(*T))
	}
	for _, l := range r.batch.tables {
		if l.table != m.id {
			continue
		}
		for _, c := range m.net(*l.changes.(*tableLog[T])) {
			if !yield(r.seq, c.old.rec, c.new.rec) {
				return false
			}
		}
	}
	return true
}

// net returns one commit's changes to m, cs, as one change per record:
// from the record before the commit to the record after it, in the order
// the records were first changed. A record the commit inserted and deleted,
// or changed and changed back to the very record it was (a savepoint's
// undone writes), does not appear.
func (m *memTable[T]) net(cs []change[T]) []change[T] {
	if len(cs) < 2 {
		return cs
	}
	pk := m.schema().pk
	at := make(map[key]int, len(cs))
	out := make([]change[T], 0, len(cs))
	for _, c := range cs {
		r := c.new.rec
		if r == nil {
			r = c.old.rec
		}
		k := mustKey(pk.keyOf(r))
		if i, ok := at[k]; ok {
			out[i].new = c.new
			continue
		}
		at[k] = len(out)
		out = append(out, c)
	}
	return slices.DeleteFunc(out, func(c change[T]) bool { return c.old.rec == c.new.rec }) // none, or undone
}

// FeedError reports a change feed read from a revision that the feed no
// longer holds: more than Options.FeedBuffer commits came after it. Read
// the table again (a View's Tx.Revision says as of when) and follow the
// feed from there. It matches ErrFellBehind with errors.Is.
type FeedError struct {
	Table  string
	From   uint64 // the revision asked for
	Oldest uint64 // the oldest revision the feed can be read from now
}

// Error returns the message described on FeedError.
func (e *FeedError) Error() string {
	return fmt.Sprintf("recstore: the change feed of %s no longer holds the changes after revision %d (it reaches back to %d): read the table again and follow from its revision", e.Table, e.From, e.Oldest)
}

// Unwrap returns ErrFellBehind.
func (e *FeedError) Unwrap() error { return ErrFellBehind }
