package recstore

import (
	"fmt"
	"iter"
	"slices"
)

// getOne returns the single record of s matching cond, which the caller
// validated: the core of Get.
func (s *tableVersion[T]) getOne(cond *Cond[T]) (*T, error) {
	return s.find(s.sch.plan(cond), cond)
}

// find is getOne with the plan made.
func (s *tableVersion[T]) find(p plan[T], cond *Cond[T]) (*T, error) {
	r, n := s.matches(p, cond)
	switch n {
	case 0:
		return nil, &NotFoundError{Table: s.sch.table}
	case 1:
		return r, nil
	}
	return nil, &MultipleReturnedError{Table: s.sch.table, Count: n}
}

// matches returns a record matching cond and how many match, counting up
// to maxGetResults. It allocates nothing for the point lookup of a unique
// index, hit or miss.
func (s *tableVersion[T]) matches(p plan[T], cond *Cond[T]) (*T, int) {
	if p.how == pointGet && p.exact {
		if r, ok := s.trees[p.index].Find(s.sch.indexes[p.index].probe(p.k)); ok {
			return r, 1
		}
		return nil, 0
	}
	var found *T
	n := 0
	s.scan(p, cond, func(r *T) bool {
		found = r
		n++
		return n < maxGetResults
	})
	return found, n
}

// Query is a set of records of one table, described by conditions, an
// order, an offset and a limit, and read when a verb (All, Collect, Get,
// First, Count, Delete, …) runs. Build one with Table.Filter. Methods that
// refine a Query return a new one, so a Query is immutable and safe for
// concurrent use by multiple goroutines.
//
// Each verb reads one snapshot of the table from start to end, however
// many writes commit meanwhile. Without OrderBy, records come in primary
// key order.
type Query[T any] struct {
	t       *Table[T]
	cond    Cond[T]
	order   []Order[T]
	offset  int
	limit   int
	limited bool
}

// Order is one term of Query.OrderBy: a field and a direction.
type Order[T any] struct {
	col  *col[T]
	desc bool
}

// Asc orders by the field, smallest first (a null optional field first).
func (c *Column[T, V]) Asc() Order[T] { return Order[T]{col: c.meta()} }

// Desc orders by the field, largest first (a null optional field last).
func (c *Column[T, V]) Desc() Order[T] { return Order[T]{col: c.meta(), desc: true} }

// Filter returns the query of the records matching every one of conds
// (all records if none).
func (t *Table[T]) Filter(conds ...Cond[T]) *Query[T] {
	return &Query[T]{t: t, cond: condOf(conds)}
}

func (q *Query[T]) with(change func(*Query[T])) *Query[T] {
	c := *q
	c.order = slices.Clip(c.order)
	change(&c)
	return &c
}

// Filter narrows q to the records that also match every one of conds.
func (q *Query[T]) Filter(conds ...Cond[T]) *Query[T] {
	return q.with(func(c *Query[T]) { c.cond = And(q.cond, condOf(conds)) })
}

// Exclude narrows q to the records that do not match all of conds
// together: NOT (a AND b). A record whose optional field is null is kept
// by Exclude(field.Eq(v)), as in Django. Exclude() changes nothing.
func (q *Query[T]) Exclude(conds ...Cond[T]) *Query[T] {
	if len(conds) == 0 {
		return q
	}
	return q.with(func(c *Query[T]) { c.cond = And(q.cond, Not(condOf(conds))) })
}

// OrderBy orders q by the terms, the primary key breaking ties in
// ascending order; it replaces any earlier order.
func (q *Query[T]) OrderBy(terms ...Order[T]) *Query[T] {
	return q.with(func(c *Query[T]) { c.order = slices.Clone(terms) })
}

// Offset skips the first n records of q; it replaces any earlier offset.
// A negative n makes every verb fail.
func (q *Query[T]) Offset(n int) *Query[T] {
	return q.with(func(c *Query[T]) { c.offset = n })
}

// Limit keeps at most n records of q; it replaces any earlier limit. A
// negative n makes every verb fail.
func (q *Query[T]) Limit(n int) *Query[T] {
	return q.with(func(c *Query[T]) { c.limit, c.limited = n, true })
}

// validate returns why q cannot run on a table of sch: a negative offset
// or limit, an order (if ordered: Get and GetOrCreate ignore it) or a
// condition on a field the table does not declare, a bad value.
func (q *Query[T]) validate(sch *tableSchema[T], ordered bool) error {
	switch {
	case q.offset < 0:
		return &LookupError{Table: sch.table, Reason: fmt.Sprintf("negative offset %d", q.offset)}
	case q.limited && q.limit < 0:
		return &LookupError{Table: sch.table, Reason: fmt.Sprintf("negative limit %d", q.limit)}
	}
	for _, o := range q.order {
		if ordered && (o.col == nil || !sch.hasCol(o.col)) {
			return &FieldError{Table: sch.table, Field: o.col.nameOrNil()}
		}
	}
	return q.cond.check(sch)
}

// use returns what q's verbs read and write through, once q is valid.
func (q *Query[T]) use(write, ordered bool) (tableOps[T], error) {
	ops, err := q.t.access(write)
	if err != nil {
		return nil, err
	}
	if err := q.validate(q.t.eng.schema(), ordered); err != nil {
		return nil, err
	}
	return ops, nil
}

// reader is use for the verbs that read q in order.
func (q *Query[T]) reader() (tableOps[T], error) { return q.use(false, true) }

// prepared is a query planned on one version of its table.
type prepared[T any] struct {
	q *Query[T]
	s *tableVersion[T]
	p plan[T]
}

func (q *Query[T]) on(s *tableVersion[T]) prepared[T] {
	return prepared[T]{q: q, s: s, p: s.sch.plan(&q.cond)}
}

// each calls fn with q's records in order, after the offset, up to the
// limit, until fn returns false, and reports whether it ran to the end.
// An index whose order is the query's streams, so a limit stops early; any
// other order collects and sorts.
func (r prepared[T]) each(fn func(*T) bool) bool {
	skip, left := r.q.offset, -1
	if r.q.limited {
		left = r.q.limit
	}
	if left == 0 {
		return true
	}
	stopped := false
	emit := func(rec *T) bool {
		if skip > 0 {
			skip--
			return true
		}
		if !fn(rec) {
			stopped = true
			return false
		}
		left--
		return left != 0
	}
	if p, ok := r.streaming(); ok {
		r.s.scan(p, &r.q.cond, emit)
		return !stopped
	}
	var recs []*T
	r.s.scan(r.p, &r.q.cond, func(rec *T) bool {
		recs = append(recs, rec)
		return true
	})
	recs = r.s.sch.sorted(recs, r.q.order)
	for _, rec := range recs {
		if !emit(rec) {
			break
		}
	}
	return !stopped
}

// count is the number of q's records.
func (r prepared[T]) count() int {
	q := r.q
	if q.cond.h == nil && q.offset == 0 && !q.limited {
		return r.s.len()
	}
	n := 0
	r.s.scan(r.p, &q.cond, func(*T) bool {
		n++
		return true
	})
	n = max(0, n-q.offset)
	if q.limited {
		n = min(n, q.limit)
	}
	return n
}

// collect returns q's records.
func (r prepared[T]) collect() []*T {
	var recs []*T
	r.each(func(rec *T) bool {
		recs = append(recs, rec)
		return true
	})
	return recs
}

// explain describes how r reads its table.
func (r prepared[T]) explain() string {
	if p, ok := r.streaming(); ok {
		return r.s.sch.explain(p)
	}
	return r.s.sch.explain(r.p) + ", then sort"
}

// streaming returns a plan that yields the matches already in the query's
// order, if there is one.
func (r prepared[T]) streaming() (plan[T], bool) {
	p, sch := r.p, r.s.sch
	if p.how == pointGet { // at most one record: any order
		return p, true
	}
	switch len(r.q.order) {
	case 0: // primary key order; a plain index orders one key's records so
		return p, p.index == 0 && p.how != unionScan || p.how == keyScan
	case 1:
	default:
		return p, false
	}
	o := r.q.order[0]
	if o.desc {
		return p, false
	}
	if p.how == fullScan {
		for i, d := range sch.indexes {
			if len(d.cols) == 1 && d.cols[0] == o.col && d.complete {
				return plan[T]{how: rangeScan, index: i}, true
			}
		}
		return p, false
	}
	d := sch.indexes[p.index]
	return p, len(d.cols) == 1 && d.cols[0] == o.col && p.how != unionScan
}

// sorted orders recs by terms, then by primary key ascending. Each
// record's sort keys are computed once.
func (sch *tableSchema[T]) sorted(recs []*T, terms []Order[T]) []*T {
	type row struct {
		rec  *T
		keys []key
	}
	rows := make([]row, len(recs))
	w := len(terms) + 1
	all := make([]key, len(recs)*w) // one allocation for every row's keys
	for i, rec := range recs {
		keys := all[i*w : (i+1)*w : (i+1)*w]
		for j, o := range terms {
			keys[j], _ = o.col.extract(rec) // stored records' fields are valid
		}
		keys[len(terms)], _ = sch.pk.cols[0].extract(rec)
		rows[i] = row{rec, keys}
	}
	slices.SortFunc(rows, func(a, b row) int {
		for j, ka := range a.keys {
			if c := ka.compare(b.keys[j]); c != 0 {
				if j < len(terms) && terms[j].desc {
					return -c
				}
				return c
			}
		}
		return 0
	})
	for i, r := range rows {
		recs[i] = r.rec
	}
	return recs
}

// All returns an iterator over q's records (copies, owned by the caller),
// for range-over-func. It yields nothing if q is invalid or its DB closed:
// Err says why.
func (q *Query[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		ops, err := q.reader()
		if err != nil {
			return
		}
		_ = ops.each(q, func(rec *T) bool { return yield(*rec) })
	}
}

// Err returns why q cannot run (an unknown field, a bad value, a negative
// limit, a closed DB), or nil.
func (q *Query[T]) Err() error {
	_, err := q.reader()
	return err
}

// Collect returns q's records in order.
func (q *Query[T]) Collect() ([]T, error) {
	ops, err := q.reader()
	if err != nil {
		return nil, err
	}
	var out []T
	err = ops.each(q, func(rec *T) bool {
		out = append(out, *rec)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns the one record of q that matches every one of conds, with
// Table.Get's errors. Order, offset and limit do not apply.
func (q *Query[T]) Get(conds ...Cond[T]) (T, error) {
	var zero T
	ops, err := q.use(false, false)
	if err != nil {
		return zero, err
	}
	cond := And(q.cond, condOf(conds))
	if err := cond.check(q.t.eng.schema()); err != nil {
		return zero, err
	}
	rec, err := ops.get(cond)
	if err != nil {
		return zero, err
	}
	return *rec, nil
}

// First returns q's first record and true, or false if q is empty.
// Without OrderBy, the first is the one with the smallest primary key.
func (q *Query[T]) First() (T, bool, error) {
	var zero T
	ops, err := q.reader()
	if err != nil {
		return zero, false, err
	}
	var first *T
	err = ops.each(q, func(rec *T) bool {
		first = rec
		return false
	})
	if err != nil || first == nil {
		return zero, false, err
	}
	return *first, true, nil
}

// Last returns q's last record and true, or false if q is empty.
func (q *Query[T]) Last() (T, bool, error) {
	var zero T
	ops, err := q.reader()
	if err != nil {
		return zero, false, err
	}
	var last *T
	err = ops.each(q, func(rec *T) bool {
		last = rec
		return true
	})
	if err != nil || last == nil {
		return zero, false, err
	}
	return *last, true, nil
}

// Earliest returns the record of q with the smallest values of fields, in
// that order (Django's earliest), or of the primary key if none are given;
// a *NotFoundError if q is empty.
func (q *Query[T]) Earliest(fields ...ColumnOf[T]) (T, error) {
	return q.firstBy(fields, false)
}

// Latest returns the record of q with the largest values of fields (Django's
// latest), or of the primary key if none are given; a *NotFoundError if q
// is empty.
func (q *Query[T]) Latest(fields ...ColumnOf[T]) (T, error) {
	return q.firstBy(fields, true)
}

func (q *Query[T]) firstBy(fields []ColumnOf[T], desc bool) (T, error) {
	if len(fields) == 0 { // by primary key
		fields = []ColumnOf[T]{pkColumn[T]{q.t.eng.schema().pk.cols[0]}}
	}
	terms := make([]Order[T], len(fields))
	for i, f := range fields {
		if f != nil {
			terms[i] = Order[T]{col: f.meta(), desc: desc}
		}
	}
	rec, ok, err := q.OrderBy(terms...).First()
	if err == nil && !ok {
		err = &NotFoundError{Table: q.t.Name()}
	}
	return rec, err
}

// Count returns the number of q's records.
func (q *Query[T]) Count() (int, error) {
	ops, err := q.reader()
	if err != nil {
		return 0, err
	}
	return ops.count(q)
}

// Exists reports whether q has a record.
func (q *Query[T]) Exists() (bool, error) {
	_, ok, err := q.First()
	return ok, err
}

// Explain describes how q reads its table: the index and bounds it uses,
// and whether it sorts. For tests and for people tuning indexes.
func (q *Query[T]) Explain() string {
	ops, err := q.reader()
	if err == nil {
		var s string
		if s, err = ops.explain(q); err == nil {
			return s
		}
	}
	return "invalid: " + err.Error()
}

// Delete removes q's records in one atomic step and returns how many. The
// query runs again inside the commit, so it removes exactly what matches
// at that moment.
func (q *Query[T]) Delete() (int, error) {
	ops, err := q.use(true, true)
	if err != nil {
		return 0, err
	}
	return ops.deleteWhere(q)
}

// Update replaces each of q's records by fn's result, in one atomic step,
// and returns how many it replaced. fn receives a copy of each record and
// must keep its primary key; it runs in the caller's goroutine and runs
// again, for every record, if a concurrent write changed what q matched, so
// keep it free of side effects; it must not call back into the DB. A
// unique violation, an error from fn (wrapped in a *CallbackError) or a
// changed primary key changes nothing.
func (q *Query[T]) Update(fn func(T) (T, error)) (int, error) {
	ops, err := q.use(true, true)
	if err != nil {
		return 0, err
	}
	if fn == nil {
		return 0, &NilCallbackError{Call: q.t.Name() + ".Filter(…).Update", Callback: "fn"}
	}
	return ops.updateWhere(q, fn)
}

// updated applies a user's update function to a copy of old and prepares
// the result, which must keep old's primary key.
func (sch *tableSchema[T]) updated(old *T, fn func(T) (T, error)) (entry[T], error) {
	rec, err := fn(*old)
	if err != nil {
		return entry[T]{}, &CallbackError{Table: sch.table, Callback: "update", Err: err}
	}
	e, err := sch.entryOf(&rec)
	if err != nil {
		return entry[T]{}, err
	}
	if !sch.pk.sameKey(e.rec, old) {
		return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "update changed the primary key", Err: ErrInvalidKey}
	}
	return e, nil
}

// InBulk returns q's records whose field is one of values, keyed by that
// field (Django's in_bulk). field must be unique on its own (the primary
// key or a one-field unique index); values absent from q are absent from
// the map.
func InBulk[T any, V Key](q *Query[T], field *Column[T, V], values ...V) (map[V]T, error) {
	if _, ok := q.t.eng.schema().single[field.meta()]; !ok {
		return nil, &LookupError{Table: q.t.Name(), Reason: fmt.Sprintf("InBulk on field %q, which no one-field unique index covers", field.Name())}
	}
	recs, err := q.Filter(field.In(values...)).Collect()
	if err != nil {
		return nil, err
	}
	out := make(map[V]T, len(recs))
	for _, r := range recs {
		out[field.value(&r)] = r
	}
	return out, nil
}

// GetOrCreate is Table.GetOrCreate with the search limited to q's records:
// a record matching lookup outside q does not count. The created record
// must match lookup, not q (Django's rule).
func (q *Query[T]) GetOrCreate(lookup Cond[T], create func() (T, error)) (T, bool, error) {
	var zero T
	ops, err := q.use(true, false)
	if err != nil {
		return zero, false, err
	}
	if create == nil {
		return zero, false, &NilCallbackError{Call: q.t.Name() + ".Filter(…).GetOrCreate", Callback: "create"}
	}
	search := And(q.cond, lookup)
	if err := search.check(q.t.eng.schema()); err != nil {
		return zero, false, err
	}
	r, created, err := getOrCreate(ops, q.t.Name(), search, lookup, create)
	if err != nil {
		return zero, false, err
	}
	return *r, created, nil
}

// The read verbs outside transactions: on the latest version.

func (m *memTable[T]) each(q *Query[T], fn func(*T) bool) error {
	q.on(m.latest()).each(fn)
	return nil
}

func (m *memTable[T]) count(q *Query[T]) (int, error) { return q.on(m.latest()).count(), nil }

func (m *memTable[T]) explain(q *Query[T]) (string, error) { return q.on(m.latest()).explain(), nil }

// deleteWhere removes q's records inside the commit: exactly what matches
// at that moment.
func (m *memTable[T]) deleteWhere(q *Query[T]) (int, error) {
	n := 0
	err := m.commitOp(func(c *commitTable[T], _ *working) error {
		recs := q.on(c.st.view()).collect()
		for _, r := range recs {
			c.st.remove(r)
		}
		n = len(recs)
		return nil
	})
	return n, err
}

// updateWhere runs in a transaction of its own: fn runs outside the
// committer, and the commit checks that q still matches what fn saw.
func (m *memTable[T]) updateWhere(q *Query[T], fn func(T) (T, error)) (int, error) {
	return optimistic(m, func(t *txTable[T]) (int, error) { return t.updateWhere(q, fn) })
}

// The read verbs inside a transaction: on its view, each read noted for
// the commit to make again.

func (t *txTable[T]) each(q *Query[T], fn func(*T) bool) error {
	var seen []*T
	at := t.pos() // fn may write through the transaction
	whole := q.on(t.view()).each(func(r *T) bool {
		seen = append(seen, r)
		return fn(r)
	})
	t.observeAt(at, func(v *tableVersion[T]) bool {
		i, same := 0, true
		again := q.on(v).each(func(r *T) bool {
			if i == len(seen) || r != seen[i] {
				same = false
				return false
			}
			i++
			return i < len(seen) || whole // stopped early: the rest was not read
		})
		return same && i == len(seen) && (!whole || again)
	})
	return nil
}

func (t *txTable[T]) count(q *Query[T]) (int, error) {
	n := q.on(t.view()).count()
	t.observe(func(v *tableVersion[T]) bool { return q.on(v).count() == n })
	return n, nil
}

func (t *txTable[T]) explain(q *Query[T]) (string, error) { return q.on(t.view()).explain(), nil }

// collect returns q's records in the transaction, noting the read.
func (t *txTable[T]) collect(q *Query[T]) []*T {
	recs := q.on(t.view()).collect()
	t.observe(func(v *tableVersion[T]) bool { return slices.Equal(q.on(v).collect(), recs) })
	return recs
}

func (t *txTable[T]) deleteWhere(q *Query[T]) (int, error) {
	recs := t.collect(q)
	err := t.write(func(st *tableState[T]) error {
		for _, r := range recs {
			st.remove(r)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(recs), nil
}

func (t *txTable[T]) updateWhere(q *Query[T], fn func(T) (T, error)) (int, error) {
	olds := t.collect(q)
	news := make([]entry[T], len(olds))
	sch := t.mt.schema()
	for i, old := range olds {
		e, err := sch.updated(old, fn)
		if err != nil {
			return 0, err
		}
		news[i] = e
	}
	err := t.write(func(st *tableState[T]) error {
		for i, old := range olds {
			if err := st.replace(st.sch.stored(old), news[i]); err != nil {
				return t.refusal(st, news[i].rec, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(olds), nil
}
