package recstore

import (
	"fmt"
	"slices"
)

// The invariant checker. Tests run it when each test ends (on every DB
// they make) and, in builds with the recstore_invariants tag, the
// committer runs it after every batch on the tables the batch changed.
// It is library code, so that it knows the engine as the engine is.

// checkVersion verifies one state of a table: every tree is well formed
// (btree.Check); every index holds exactly the records of the primary key
// that belong in it, each under its own key; and a unique index finds each
// by its key.
func checkVersion[T any](v *tableVersion[T]) error {
	pk := v.trees[0]
	for i, d := range v.sch.indexes {
		tr := v.trees[i]
		if err := tr.Check(); err != nil {
			return fmt.Errorf("index %q: %w", d.name, err)
		}
		n := 0
		var err error
		pk.Scan(func(r *T) bool {
			if !d.member(r) {
				return true
			}
			n++
			if _, kerr := d.keyOf(r); kerr != nil {
				err = fmt.Errorf("index %q holds a record with an invalid key: %v", d.name, kerr)
				return false
			}
			if got, ok := tr.Get(r); !ok || got != r {
				err = fmt.Errorf("index %q is missing a record of the primary key", d.name)
				return false
			}
			if got, ok := tr.Find(d.probe(mustKey(d.keyOf(r)))); d.unique && (!ok || got != r) {
				err = fmt.Errorf("index %q does not find a record by its key", d.name)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if tr.Len() != n {
			return fmt.Errorf("index %q holds %d records, %d belong in it", d.name, tr.Len(), n)
		}
	}
	return nil
}

// check verifies the whole engine, with every writer kept out meanwhile:
// each table's working state (checkVersion) and hash indexes, and that the
// latest version holds exactly the working state's records. If idle, no
// call is under way: then every lock must be free and every mode off (no
// capture, the fast path on), as a panicking callback must leave them.
func (e *memEngine) check(idle bool) error {
	if idle {
		if err := e.checkFree(); err != nil {
			return err
		}
	}
	e.gate.Lock()
	e.treeMu.Lock()
	defer e.gate.Unlock()
	defer e.treeMu.Unlock()
	w := &e.commit.work
	e.catchUp(w)
	v := e.latest()
	for id, t := range w.tables {
		if err := t.check(idle); err != nil {
			return err
		}
		if err := t.sameAs(v.tables.get(id)); err != nil {
			return err
		}
	}
	return nil
}

// checkFree reports a lock held by nobody's call.
func (e *memEngine) checkFree() error {
	for i := range e.stripes {
		if !e.stripes[i].TryLock() {
			return fmt.Errorf("stripe %d is locked", i)
		}
		e.stripes[i].Unlock()
	}
	if !e.gate.TryLock() {
		return fmt.Errorf("the gate is held")
	}
	e.gate.Unlock()
	if !e.treeMu.TryLock() {
		return fmt.Errorf("the working state is locked")
	}
	e.treeMu.Unlock()
	return nil
}

// check is committed's: the table's working state, hash indexes and, if
// idle, its locks and modes.
func (c *commitTable[T]) check(idle bool) error {
	m := c.mt
	if err := checkVersion(c.st.view()); err != nil {
		return fmt.Errorf("table %s: %w", m.name, err)
	}
	if err := c.live.check(c.st.view()); err != nil {
		return fmt.Errorf("table %s: %w", m.name, err)
	}
	if l := m.live.Load(); l.sch != c.live.sch || !slices.Equal(l.idx, c.live.idx) {
		return fmt.Errorf("table %s: readers find other hash indexes than the working state's", m.name)
	}
	if m.sch.Load() != c.st.sch {
		return fmt.Errorf("table %s: its schema is not the working state's", m.name)
	}
	if m.seq.Load()&1 != 0 {
		return fmt.Errorf("table %s: its window is open", m.name)
	}
	if !idle {
		return nil
	}
	switch {
	case c.fastOff != 0 || !c.live.fast || !m.live.Load().fast:
		return fmt.Errorf("table %s: the fast path is off (%d stops)", m.name, c.fastOff)
	case c.capture != nil:
		return fmt.Errorf("table %s: an index build's capture is on", m.name)
	case !m.ddl.TryLock():
		return fmt.Errorf("table %s: a schema change holds the table", m.name)
	}
	m.ddl.Unlock()
	if !m.excl.TryLock() {
		return fmt.Errorf("table %s: a writer holds the table", m.name)
	}
	m.excl.Unlock()
	for _, x := range c.live.idx {
		if x == nil {
			continue
		}
		for i := range x.parts {
			p := x.parts[i].Load()
			if p == nil {
				continue
			}
			if !p.mu.TryLock() {
				return fmt.Errorf("table %s: a partition of %q is locked", m.name, x.def.name)
			}
			p.mu.Unlock()
		}
	}
	return nil
}

// sameAs reports whether v, a version of the table, holds exactly the
// working state's records.
func (c *commitTable[T]) sameAs(v versioned) error {
	tv := v.(*tableVersion[T])
	if tv.sch != c.st.sch {
		return fmt.Errorf("table %s: the latest version is of another schema", c.mt.name)
	}
	var a, b []*T
	c.st.trees[0].Scan(func(r *T) bool { a = append(a, r); return true })
	tv.trees[0].Scan(func(r *T) bool { b = append(b, r); return true })
	if !slices.Equal(a, b) {
		return fmt.Errorf("table %s: the latest version holds %d records, the working state %d, or others", c.mt.name, len(b), len(a))
	}
	return nil
}

// checkBatch is the check after a batch in builds with the
// recstore_invariants tag: the working state of every table the batch
// changed, up to maxCheckedRecords records (bigger tables are checked when
// their test ends). A broken invariant panics, so that the test that broke
// it stops there.
func (e *memEngine) checkBatch(w *working, touched []int) {
	for _, id := range touched {
		t := w.tables[id]
		if t.len() > maxCheckedRecords {
			continue
		}
		if err := t.check(false); err != nil {
			panic(fmt.Errorf("recstore: after a commit: %w", err))
		}
	}
}

// maxCheckedRecords bounds the tables checkBatch checks.
const maxCheckedRecords = 20_000
