package recstore

import (
	"context"
	"fmt"
	"iter"
	"math"
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
// order and a slice, and read when a verb (All, Collect, Get, First,
// Count, Delete, …) runs. Build one with Table.Filter. Methods that
// refine a Query return a new one, so a Query is immutable and safe for
// concurrent use by multiple goroutines.
//
// Each verb reads one snapshot of the table from start to end, however
// many writes commit meanwhile. Without OrderBy, records come in primary
// key order.
//
// A mistake made building a query (a negative Limit, a Filter after a
// slice, …) is carried in it, and every verb reports it: the first one
// made, before the query's conditions are checked.
//
// Slices follow Django's: Limit and Offset take a slice of the query's
// records, in order, as qs[a:b] does, and a slice of a slice is a slice
// of those records (qs[0:5][4:] is one record). Once sliced, a query's
// records are fixed: Filter, Exclude and OrderBy, and Earliest, Latest,
// InBulk, GetOrCreate and Get with conditions, fail with a *SliceError.
// Every other verb acts on exactly the sliced records.
type Query[T any] struct {
	t     *Table[T]
	cond  Cond[T]
	order []Order[T]
	// The slice: records start to stop (exclusive, if limited) of the
	// query's records in order; start is at most stop.
	start, stop int
	limited     bool
	err         error // the first mistake made building the query
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

// fail notes err as q's mistake, unless q already has one.
func (q *Query[T]) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

// failed returns q with err as its mistake, unless it has one.
func (q *Query[T]) failed(err error) *Query[T] {
	return q.with(func(c *Query[T]) { c.fail(err) })
}

// sliced reports whether Limit or Offset took a slice of q (Offset(0)
// takes none, as qs[0:] in Django).
func (q *Query[T]) sliced() bool { return q.limited || q.start > 0 }

// refused is the error of call on q once sliced.
func (q *Query[T]) refused(call string) error { return &SliceError{Table: q.t.Name(), Call: call} }

// Filter narrows q to the records that also match every one of conds.
// After Limit or Offset, every verb of the result fails with a
// *SliceError (Filter() with no conditions changes nothing).
func (q *Query[T]) Filter(conds ...Cond[T]) *Query[T] {
	return q.narrow("Filter", conds, func(c Cond[T]) Cond[T] { return c })
}

// Exclude narrows q to the records that do not match all of conds
// together: NOT (a AND b). A record whose optional field is null is kept
// by Exclude(field.Eq(v)), as in Django. Exclude() changes nothing. After
// Limit or Offset, every verb of the result fails with a *SliceError.
func (q *Query[T]) Exclude(conds ...Cond[T]) *Query[T] {
	return q.narrow("Exclude", conds, Not[T])
}

// narrow is Filter (call) and Exclude: q and wrap of conds together.
func (q *Query[T]) narrow(call string, conds []Cond[T], wrap func(Cond[T]) Cond[T]) *Query[T] {
	if len(conds) == 0 {
		return q
	}
	return q.with(func(c *Query[T]) {
		if q.sliced() {
			c.fail(q.refused(call))
			return
		}
		c.cond = And(q.cond, wrap(condOf(conds)))
	})
}

// OrderBy orders q by the terms, the primary key breaking ties in
// ascending order; it replaces any earlier order. After Limit or Offset,
// every verb of the result fails with a *SliceError.
//
// An index whose fields, after those that equalities fix, follow the
// terms (in one direction, either) yields the records in order, so that
// Limit, First and Last read only what they return: an index on (org,
// joined) serves Filter(org.Eq(x)).OrderBy(joined.Desc()). Explain says
// whether a query sorts.
func (q *Query[T]) OrderBy(terms ...Order[T]) *Query[T] {
	return q.with(func(c *Query[T]) {
		if q.sliced() {
			c.fail(q.refused("OrderBy"))
			return
		}
		c.order = slices.Clone(terms)
	})
}

// Offset skips the first n records of q, as a Python slice qs[n:] does:
// on a query already sliced, the first n records of the slice. A negative
// n makes every verb fail.
func (q *Query[T]) Offset(n int) *Query[T] {
	return q.with(func(c *Query[T]) {
		if n < 0 {
			c.fail(&LookupError{Table: q.t.Name(), Reason: fmt.Sprintf("negative offset %d", n)})
			return
		}
		c.start = addCapped(c.start, n)
		if c.limited {
			c.stop = max(c.stop, c.start)
		}
	})
}

// Limit keeps at most the first n records of q, as a Python slice qs[:n]
// does: on a query already sliced, of the slice, so that a Limit never
// adds records (Limit(5).Limit(10) keeps five). A negative n makes every
// verb fail.
func (q *Query[T]) Limit(n int) *Query[T] {
	return q.with(func(c *Query[T]) {
		if n < 0 {
			c.fail(&LookupError{Table: q.t.Name(), Reason: fmt.Sprintf("negative limit %d", n)})
			return
		}
		stop := addCapped(c.start, n)
		if c.limited {
			stop = min(stop, c.stop)
		}
		c.stop, c.limited = stop, true
	})
}

// addCapped is a + b for non-negative a and b, at most math.MaxInt.
func addCapped(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// clip is how many of n records, in order, the slice of q keeps.
func (q *Query[T]) clip(n int) int {
	n = max(0, n-q.start)
	if q.limited {
		n = min(n, q.stop-q.start)
	}
	return n
}

// validate returns why q cannot run on a table of sch: a mistake made
// building it, an order (if ordered: Get and GetOrCreate ignore it) or a
// condition on a field the table does not declare, a bad value.
func (q *Query[T]) validate(sch *tableSchema[T], ordered bool) error {
	if q.err != nil {
		return q.err
	}
	for _, o := range q.order {
		if ordered && (o.col == nil || !sch.hasCol(o.col)) {
			return sch.unknownField(o.col.nameOrNil())
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
	// order is the order the records must come in (effectiveOrder), of
	// which the plan's scan yields the first sorted terms in order.
	order  []Order[T]
	sorted int
}

func (q *Query[T]) on(s *tableVersion[T]) prepared[T] {
	p, order, sorted := s.sch.ordered(&q.cond, q.order)
	return prepared[T]{q: q, s: s, p: p, order: order, sorted: sorted}
}

// each calls fn with q's records in order, within the slice, until fn
// returns false, and reports whether it ran to the end. A plan that yields
// the order streams, so a limit stops early; one that yields its leading
// terms streams in runs of records equal in them, each sorted alone; any
// other plan collects and sorts.
func (r prepared[T]) each(fn func(*T) bool) bool {
	q := r.q
	if !q.sliced() && r.sorted == len(r.order) {
		return r.s.scan(r.p, &q.cond, fn) // the common stream: no layer between
	}
	st := &stream[T]{fn: fn, skip: q.start, left: -1}
	if q.limited {
		st.left = q.stop - q.start
	}
	if st.left == 0 {
		return true
	}
	switch {
	case r.sorted == len(r.order):
		r.s.scan(r.p, &q.cond, st.emit)
	case r.sorted > 0:
		// A descending scan of a plain index yields ties in descending
		// primary key order, which the query breaks ascending.
		st.lead, st.rest, st.run = r.order[:r.sorted], r.order[r.sorted:], st.buf[:0]
		if r.s.scan(r.p, &q.cond, st.add) {
			st.flush()
		}
	default:
		var recs []*T
		r.s.scan(r.p, &q.cond, func(rec *T) bool {
			recs = append(recs, rec)
			return true
		})
		for _, rec := range r.s.sch.sorted(recs, r.order) {
			if !st.emit(rec) {
				break
			}
		}
	}
	return !st.stopped
}

// stream passes the records a scan yields to fn within a query's slice;
// for a scan that yields only the order's leading terms (lead), it holds
// each run of records equal in them and sorts it by the rest first. One
// value per query, so that the scan's callback is one allocation.
type stream[T any] struct {
	fn         func(*T) bool
	skip, left int // records to skip, then to pass (-1: all)
	stopped    bool
	lead, rest []Order[T]
	run        []*T
	buf        [4]*T // run's first backing array
}

func (st *stream[T]) emit(rec *T) bool {
	if st.skip > 0 {
		st.skip--
		return true
	}
	if !st.fn(rec) {
		st.stopped = true
		return false
	}
	st.left--
	return st.left != 0
}

// add takes the scan's next record: a record that ends the run passes the
// run on first.
func (st *stream[T]) add(rec *T) bool {
	if len(st.run) > 0 && compareBy(st.lead, st.run[0], rec) != 0 && !st.flush() {
		return false
	}
	st.run = append(st.run, rec)
	return true
}

// flush sorts the run and passes it on.
func (st *stream[T]) flush() bool {
	if len(st.run) > 1 {
		slices.SortFunc(st.run, func(a, b *T) int { return compareBy(st.rest, a, b) })
	}
	for _, rec := range st.run {
		if !st.emit(rec) {
			return false
		}
	}
	st.run = st.run[:0]
	return true
}

// compareBy orders two stored records by terms.
func compareBy[T any](terms []Order[T], a, b *T) int {
	for _, o := range terms {
		if c := o.col.compare(a, b); c != 0 {
			if o.desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// count is the number of q's records in s. It reads no further than the
// slice's end, in any order.
func (q *Query[T]) count(s *tableVersion[T]) int {
	if q.cond.h == nil && !q.sliced() {
		return s.len()
	}
	n := 0
	s.scan(s.sch.plan(&q.cond), &q.cond, func(*T) bool {
		n++
		return !q.limited || n < q.stop
	})
	return q.clip(n)
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
	s := r.s.sch.explain(r.p)
	switch {
	case r.sorted == 0:
		s += ", then sort"
	case r.sorted < len(r.order):
		s += ", then sort ties"
	}
	return s
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

// All returns an iterator over q's records (copies, owned by the caller)
// and, if q cannot run, why: range over it with two variables.
//
//	for rec, err := range q.All() {
//		if err != nil {
//			return err
//		}
//		…
//	}
//
// An invalid query (an unknown field, a bad value, a negative limit, a
// change after a slice), a closed DB or an ended transaction yields one
// zero record with the error, and nothing else.
func (q *Query[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ops, err := q.reader()
		stopped := false
		if err == nil {
			err = ops.each(q, func(rec *T) bool {
				stopped = !yield(*rec, nil)
				return !stopped
			})
		}
		if err != nil && !stopped {
			var zero T
			yield(zero, err)
		}
	}
}

// Collect returns q's records in order.
func (q *Query[T]) Collect() ([]T, error) {
	ops, err := q.reader()
	if err != nil {
		return nil, err
	}
	var out []T
	if q.limited {
		out = make([]T, 0, min(q.stop-q.start, 64)) // a short slice fills it once
	}
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
// Table.Get's errors. Order does not apply, unless q is sliced: then Get()
// returns the one record of the slice (a *NotFoundError if it holds none,
// a *MultipleReturnedError if several), and Get with conditions fails
// with a *SliceError, as in Django.
func (q *Query[T]) Get(conds ...Cond[T]) (T, error) {
	var zero T
	if q.sliced() {
		if len(conds) > 0 {
			q = q.failed(q.refused("Get"))
		}
		return q.getSliced()
	}
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

// getSliced is Get() on a sliced query: the slice must hold one record.
func (q *Query[T]) getSliced() (T, error) {
	var zero T
	ops, err := q.reader()
	if err != nil {
		return zero, err
	}
	var found *T
	n := 0
	err = ops.each(q, func(rec *T) bool {
		found = rec
		n++
		return n < maxGetResults
	})
	switch {
	case err != nil:
		return zero, err
	case n == 0:
		return zero, &NotFoundError{Table: q.t.Name()}
	case n > 1:
		return zero, &MultipleReturnedError{Table: q.t.Name(), Count: n}
	}
	return *found, nil
}

// First returns q's first record and true, or false if q is empty.
// Without OrderBy, the first is the one with the smallest primary key.
// On a sliced query, the slice's first.
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

// Last returns q's last record and true, or false if q is empty. It reads
// q in the reverse order (every term reversed, the primary key breaking
// ties descending) and takes the first, which streams wherever the order
// does. On a sliced query, the slice's last: it reads the slice.
func (q *Query[T]) Last() (T, bool, error) {
	if !q.sliced() {
		return q.reversed().First()
	}
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

// reversed is q in the reverse order: its records, last first.
func (q *Query[T]) reversed() *Query[T] {
	return q.with(func(c *Query[T]) {
		c.order = make([]Order[T], 0, len(q.order)+1)
		for _, o := range q.order {
			c.order = append(c.order, Order[T]{col: o.col, desc: !o.desc})
		}
		c.order = append(c.order, Order[T]{col: q.t.eng.schema().pk.cols[0], desc: true})
	})
}

// Earliest returns the record of q with the smallest values of fields, in
// that order (Django's earliest), or of the primary key if none are given;
// a *NotFoundError if q is empty. It replaces q's order, and streams from
// an index as OrderBy does. On a sliced query it fails with a *SliceError.
func (q *Query[T]) Earliest(fields ...ColumnOf[T]) (T, error) {
	return q.firstBy("Earliest", fields, false)
}

// Latest returns the record of q with the largest values of fields (Django's
// latest), or of the primary key if none are given; a *NotFoundError if q
// is empty. It replaces q's order, and streams from an index as OrderBy
// does. On a sliced query it fails with a *SliceError.
func (q *Query[T]) Latest(fields ...ColumnOf[T]) (T, error) {
	return q.firstBy("Latest", fields, true)
}

func (q *Query[T]) firstBy(call string, fields []ColumnOf[T], desc bool) (T, error) {
	if q.sliced() {
		q = q.failed(q.refused(call))
	}
	if len(fields) == 0 { // by primary key
		fields = []ColumnOf[T]{pkColumn[T]{q.t.eng.schema().pk.cols[0]}}
	}
	terms := make([]Order[T], len(fields))
	for i, f := range fields {
		if f != nil {
			terms[i] = Order[T]{col: f.meta(), desc: desc}
		}
	}
	c := *q
	c.order = terms
	rec, ok, err := c.First()
	if err == nil && !ok {
		err = &NotFoundError{Table: q.t.Name()}
	}
	return rec, err
}

// Count returns the number of q's records (of the slice, if sliced).
func (q *Query[T]) Count() (int, error) {
	ops, err := q.reader()
	if err != nil {
		return 0, err
	}
	return ops.count(q)
}

// Exists reports whether q has a record (the slice, if sliced).
func (q *Query[T]) Exists() (bool, error) {
	_, ok, err := q.First()
	return ok, err
}

// Explain describes how q reads its table, for tests and for people tuning
// indexes, in one grammar: the access ("point", "key scan", "range",
// "prefix", "in", "full scan", or a "union" of plans), the index, the
// values it fixes or bounds, by field ("(org=\"acme\", joined > …)"),
// "descending" if it reads the index backwards, and ", then sort" if the
// records must be sorted (", then sort ties" if only runs of records
// equal in the order's leading fields are). An invalid query is
// "invalid: " and its error.
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

// Delete removes q's records (exactly the slice's, if sliced) in one
// atomic step and returns how many. The query runs again inside the
// commit, so it removes exactly what matches at that moment.
func (q *Query[T]) Delete() (int, error) {
	ops, err := q.use(true, true)
	if err != nil {
		return 0, err
	}
	return ops.deleteWhere(q)
}

// Update replaces each of q's records (exactly the slice's, if sliced) by
// fn's result, in one atomic step, and returns how many it replaced. fn
// receives a copy of each record and must keep its primary key; it runs in
// the caller's goroutine and runs again, for every record, if a concurrent
// write changed what q matched, so keep it free of side effects; it must
// not call back into the DB. A unique violation, an error from fn (wrapped
// in a *CallbackError) or a changed primary key changes nothing.
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
// the map. On a sliced query it fails with a *SliceError.
func InBulk[T any, V Key](q *Query[T], field *Column[T, V], values ...V) (map[V]T, error) {
	if _, ok := q.t.eng.schema().single[field.meta()]; !ok {
		return nil, &LookupError{Table: q.t.Name(), Reason: fmt.Sprintf("InBulk on field %q, which no one-field unique index covers", field.Name())}
	}
	if q.sliced() {
		q = q.failed(q.refused("InBulk"))
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
// must match lookup, not q (Django's rule). Order does not apply; on a
// sliced query it fails with a *SliceError. Where it may not write (a
// read-only transaction, a bare handle inside a transaction function) it
// finds, and fails where it would create.
func (q *Query[T]) GetOrCreate(lookup Cond[T], create func() (T, error)) (T, bool, error) {
	return q.getOrCreateCtx(nil, lookup, create)
}

// GetOrCreateContext is GetOrCreate waiting for the lookup's other
// creators only until ctx ends, as Table.GetOrCreateContext does.
func (q *Query[T]) GetOrCreateContext(ctx context.Context, lookup Cond[T], create func() (T, error)) (T, bool, error) {
	if ctx == nil {
		var zero T
		return zero, false, &NilCallbackError{Call: q.t.Name() + ".Filter(…).GetOrCreateContext", Callback: "ctx"}
	}
	return q.getOrCreateCtx(ctx, lookup, create)
}

// getOrCreateCtx is GetOrCreate under ctx, or its table's context if nil.
func (q *Query[T]) getOrCreateCtx(ctx context.Context, lookup Cond[T], create func() (T, error)) (T, bool, error) {
	var zero T
	if q.sliced() {
		q = q.failed(q.refused("GetOrCreate"))
	}
	ops, err := q.use(true, false)
	if err != nil {
		return findOnly(err, func() (T, error) { return q.Get(lookup) })
	}
	if create == nil {
		return zero, false, &NilCallbackError{Call: q.t.Name() + ".Filter(…).GetOrCreate", Callback: "create"}
	}
	search := And(q.cond, lookup)
	if err := q.t.checkLookup(&search, "GetOrCreate"); err != nil {
		return zero, false, err
	}
	r, created, err := getOrCreate(q.t.context(ctx), ops, q.t.Name(), search, lookup, create)
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

func (m *memTable[T]) count(q *Query[T]) (int, error) { return q.count(m.latest()), nil }

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
	return optimistic(context.Background(), m, func(t *txTable[T]) (int, error) { return t.updateWhere(q, fn) })
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
	n := q.count(t.view())
	t.observe(func(v *tableVersion[T]) bool { return q.count(v) == n })
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
