package recstore

// A table's states. Readers share immutable versions of a table
// (tableVersion). A writer changes a writable state of its own
// (tableState), forked from a version in O(1), through one primitive,
// apply, which replaces one record by another in every index of the table;
// freeze turns the state back into a version, in O(1). Every writer is one
// of these, and differs from the others only in what it does with it:
//
//   - the committer's working state (commit.go), which holds every commit;
//   - a transaction's overlay (txn.go), replayed onto the working state
//     when the transaction commits;
//   - a reader bringing a version up to date (log.go), which applies the
//     changes committed since to a fork of it.
//
// Which structure decides that a unique key is free, on each write path:
//
//   - an insert of the fast path (fastpath.go) asks the hash indexes,
//     which hold the committed state, under the locks of its keys'
//     partitions: nothing else writes them meanwhile;
//   - every other write asks the trees of the state it changes (apply with
//     check): the committer's working trees hold every commit, and the
//     committer applies one write at a time, with no insert of the fast
//     path running; a transaction's overlay holds its snapshot and its own
//     writes, and its commit replays each of them onto the working state,
//     asking again.

// tableVersion is one table as of one version of the DB: its schema and
// one tree per index. It is immutable and shared by every reader that
// loaded it.
type tableVersion[T any] struct {
	sch   *tableSchema[T]
	trees []*tree[T] // trees[i] indexes sch.indexes[i]; trees[0] is the primary key
}

func (v *tableVersion[T]) len() int { return v.trees[0].Len() }

// emptyVersion is a table without records.
func emptyVersion[T any](sch *tableSchema[T], degree int) *tableVersion[T] {
	trees := make([]*tree[T], len(sch.indexes))
	for i, d := range sch.indexes {
		trees[i] = newTree(d, sch.pk, degree)
	}
	return &tableVersion[T]{sch: sch, trees: trees}
}

// fork returns a writable state holding v's records, in O(1): its trees
// share v's nodes and copy each before they first write it, so v stays as
// it is. Any number of goroutines may fork one version at once.
func (v *tableVersion[T]) fork() *tableState[T] {
	trees := make([]*tree[T], len(v.trees))
	for i, tr := range v.trees {
		trees[i] = tr.Fork()
	}
	return newTableState(v.sch, trees)
}

// entry is a record with the indexes of its table it belongs to: bit i of
// out is set if it is not in index i (see indexDef.member).
type entry[T any] struct {
	rec *T
	out uint64
	sch *tableSchema[T] // the schema out was computed for, and keys checked against
}

func (e entry[T]) in(i int) bool { return e.rec != nil && e.out&(1<<i) == 0 }

// at is the record if it is in index i, else nil.
func (e entry[T]) at(i int) *T {
	if e.in(i) {
		return e.rec
	}
	return nil
}

// change is one record replaced by another: a nil old rec is an insert, a
// nil new rec a delete.
type change[T any] struct {
	old, new entry[T]
}

// tableState is a writable state of one table: its schema, one tree per
// index, the writers of its indexes, and the log of the changes written to
// it. It is not safe for concurrent use; its owner says who may use it.
type tableState[T any] struct {
	sch   *tableSchema[T]
	trees []*tree[T]
	// writers are the indexes as apply writes them, in index order: every
	// tree and, in the committer's working state while a batch runs, the
	// stage of every hash index (commit.go).
	writers []indexSlot[T]
	// log holds every change written, oldest first, from when the owner
	// last emptied it.
	log []change[T]
}

// indexSlot is one writer of a state and the position of its index in
// the schema (the bit of entry.out that says whether a record is in it).
type indexSlot[T any] struct {
	at int
	w  indexWriter[T]
}

func newTableState[T any](sch *tableSchema[T], trees []*tree[T]) *tableState[T] {
	s := &tableState[T]{}
	s.install(sch, trees)
	return s
}

// view is the state as a version, for reading it in place: the caller must
// not change the state while it reads.
func (s *tableState[T]) view() *tableVersion[T] { return &tableVersion[T]{sch: s.sch, trees: s.trees} }

// freeze returns the state as an immutable version, in O(1). The state
// stays writable: its trees copy each node they write from then on.
func (s *tableState[T]) freeze() *tableVersion[T] {
	trees := make([]*tree[T], len(s.trees))
	for i, tr := range s.trees {
		trees[i] = tr.Copy()
	}
	return &tableVersion[T]{sch: s.sch, trees: trees}
}

// install switches the state to a new schema and its trees, whose writers
// it makes. The log is of the old schema, so it goes.
func (s *tableState[T]) install(sch *tableSchema[T], trees []*tree[T]) {
	s.sch, s.trees, s.log = sch, trees, nil
	s.writers = make([]indexSlot[T], len(trees))
	for i, tr := range trees {
		s.writers[i] = indexSlot[T]{at: i, w: &treeWriter[T]{tr: tr, def: sch.indexes[i]}}
	}
}

// apply replaces old by new in every index of the state; either may be
// absent (a nil rec), for an insert or a delete. With check, a unique
// index in which a record other than old holds new's key stops it: apply
// then leaves every index as it was and returns the index and that
// record. Without check, the caller knows that no key is taken (it replays
// a change that was checked when it was made). It logs nothing (see
// write).
//
// The field accessors order the trees, so apply calls them. If one panics,
// the indexes already changed are put back and the panic goes on: every
// index is left as it was.
func (s *tableState[T]) apply(old, new entry[T], check bool) (taken *indexDef[T], holder *T) {
	i, whole := 0, false
	defer func() {
		if !whole && taken == nil { // a panic in writer i, which moved nothing
			s.applyFirst(new, old, i)
		}
	}()
	for ; i < len(s.writers); i++ {
		x := s.writers[i]
		if h := x.w.move(old.at(x.at), new.at(x.at), check); h != nil {
			s.applyFirst(new, old, i)
			return s.sch.indexes[x.at], h
		}
	}
	whole = true
	return nil, nil
}

// applyFirst is apply without checks through the first n writers only: it
// puts back what a stopped apply did.
func (s *tableState[T]) applyFirst(old, new entry[T], n int) {
	for _, x := range s.writers[:n] {
		x.w.move(old.at(x.at), new.at(x.at), false)
	}
}

// write is apply that also logs the change, and keeps the table's
// auto-assigned keys past a key it stores. It is how an operation changes
// a state; replaying a change that is logged elsewhere uses apply.
func (s *tableState[T]) write(old, new entry[T], check bool) (*indexDef[T], *T) {
	if d, holder := s.apply(old, new, check); d != nil {
		return d, holder
	}
	if old.rec == nil && new.rec != nil {
		s.sch.notePK(new.rec)
	}
	s.log = append(s.log, change[T]{old: old, new: new})
	return nil, nil
}

// undoTo undoes the changes logged after the first n, newest first, and
// drops them from the log.
func (s *tableState[T]) undoTo(n int) {
	for len(s.log) > n {
		c := s.log[len(s.log)-1]
		s.log = s.log[:len(s.log)-1]
		s.apply(c.new, c.old, false)
	}
}

// byPK returns the entry of the stored record with r's primary key.
func (s *tableState[T]) byPK(r *T) (entry[T], bool) {
	held, ok := s.trees[0].Get(r)
	if !ok {
		return entry[T]{}, false
	}
	return s.sch.stored(held), true
}

// fit returns e with keys for the state's schema: a schema change may have
// committed since the caller computed them.
func (s *tableState[T]) fit(e entry[T]) (entry[T], error) {
	if e.rec == nil || e.sch == s.sch {
		return e, nil
	}
	return s.sch.entryOf(e.rec)
}

// insert stores a new record, whose keys the caller computed with
// prepare, or returns the error that stops it.
func (s *tableState[T]) insert(e entry[T]) error {
	e, err := s.fit(e)
	if err != nil {
		return err
	}
	if d, holder := s.write(entry[T]{}, e, true); d != nil {
		return violation(s.sch, d, e.rec, holder)
	}
	return nil
}

// replace stores e in place of old, the record with its primary key.
func (s *tableState[T]) replace(old, e entry[T]) error {
	e, err := s.fit(e)
	if err != nil {
		return err
	}
	if d, holder := s.write(old, e, true); d != nil {
		return violation(s.sch, d, e.rec, holder)
	}
	return nil
}

// remove deletes the stored record r.
func (s *tableState[T]) remove(r *T) { s.write(s.sch.stored(r), entry[T]{}, false) }

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
