package recstore

import (
	"context"
	"errors"
	"runtime"
)

// GetOrCreate returns the one record matching lookup, or creates it: like
// sync.Map's LoadOrStore, and like Django's get_or_create, but atomic even
// where no unique index covers lookup. However many goroutines call it with
// the same lookup at once, exactly one creates, every one returns that same
// record, and created is true for exactly that one.
//
// create builds the new record. It is called at most once per call, only
// after a read under the lookup's stripe lock found no match, and never
// concurrently with another create for the same lookup on the same table.
// It must not call back into the DB. If it returns an error, nothing is
// stored and GetOrCreate returns a *CallbackError wrapping it; if it
// panics, every lock is released and the panic is re-raised. Unlike
// Django, the created record must match lookup once stored (an
// auto-assigned key assigned), else a *LookupError and nothing stored, so
// that "exactly one record matches" stays true.
//
// If several records match, GetOrCreate returns a *MultipleReturnedError.
// If the new record would break a unique constraint outside the lookup, the
// lookup is re-run in the same atomic step: a match then is returned with
// created false, else the *UniqueViolationError is returned and nothing is
// stored.
//
// Inside a transaction the search reads the transaction's snapshot and
// writes, and create still never runs concurrently with another create for
// the lookup on the table, inside or outside transactions. The record is
// stored only if the transaction commits, and a concurrent commit of a
// matching record makes the commit fail (DB.Update then runs the function
// again, which finds that record): so create may run for a lookup whose
// record another caller creates, but exactly one of the records created
// for it is ever stored, and exactly one caller whose call took effect
// returned created. A read-only transaction finds records and refuses to
// create (ErrReadOnly); so does a bare handle inside a transaction function
// (ErrOutsideTx, see Table.In).
//
// A hit through an index that covers lookup alone (one equality on a
// single-field unique index or the primary key) takes no lock and
// allocates nothing. The returned record is a copy: the caller owns it.
//
// Waiting for the lookup's other creators, GetOrCreate honours the context
// of t's transaction, if it began with one (DB.UpdateContext); see
// GetOrCreateContext.
func (t *Table[T]) GetOrCreate(lookup Cond[T], create func() (T, error)) (rec T, created bool, err error) {
	return t.getOrCreateCtx(nil, lookup, create)
}

// GetOrCreateContext is GetOrCreate waiting for the lookup's other
// creators only until ctx ends: then it returns ctx's error, having
// created nothing. A record found is returned whatever ctx says.
func (t *Table[T]) GetOrCreateContext(ctx context.Context, lookup Cond[T], create func() (T, error)) (rec T, created bool, err error) {
	if ctx == nil {
		return rec, false, &NilCallbackError{Call: t.Name() + ".GetOrCreateContext", Callback: "ctx"}
	}
	return t.getOrCreateCtx(ctx, lookup, create)
}

// getOrCreateCtx is GetOrCreate under ctx, or t's context if nil.
func (t *Table[T]) getOrCreateCtx(ctx context.Context, lookup Cond[T], create func() (T, error)) (rec T, created bool, err error) {
	// The hit first, in a frame of its own size: the rest is a call away.
	// A hit writes nothing, so it is checked as a read.
	if ops, err := t.access(false); err == nil && create != nil {
		if r, ok := ops.peek(lookup); ok && r != nil {
			return *r, false, nil
		}
	}
	return t.getOrCreateOrFail(ctx, lookup, create)
}

// findOnly is GetOrCreate where access refused a write with err: in a
// read-only transaction, and through a bare handle inside a transaction
// function, it finds with get, and no more; any other misuse is err.
func findOnly[T any](err error, get func() (T, error)) (T, bool, error) {
	if !errors.Is(err, ErrReadOnly) && !errors.Is(err, ErrOutsideTx) {
		var zero T
		return zero, false, err
	}
	r, gerr := get()
	if errors.Is(gerr, ErrNotFound) {
		gerr = err
	}
	return r, false, gerr
}

// getOrCreateOrFail is GetOrCreate past a hit without a lock: misuse,
// then a search, then a create.
func (t *Table[T]) getOrCreateOrFail(ctx context.Context, lookup Cond[T], create func() (T, error)) (T, bool, error) {
	var zero T
	ops, err := t.access(true)
	if err != nil {
		return findOnly(err, func() (T, error) { return t.Get(lookup) })
	}
	if create == nil {
		return zero, false, &NilCallbackError{Call: t.Name() + ".GetOrCreate", Callback: "create"}
	}
	if err := t.checkLookup(&lookup, "GetOrCreate"); err != nil {
		return zero, false, err
	}
	r, created, err := getOrCreate(t.context(ctx), ops, t.Name(), lookup, lookup, create)
	if err != nil {
		return zero, false, err
	}
	return *r, created, nil
}

// getOrCreate is GetOrCreate's algorithm over any engine's table: search;
// on a miss, claim the lookup (the engine keeps its other creators out
// until the claim ends), call create, and let the engine store the record
// unless a match appeared meanwhile. create is called here, never through
// the seam's interfaces, so that a closure the caller built for it does
// not escape to the heap: a hit allocates nothing.
func getOrCreate[T any](ctx context.Context, ops tableOps[T], table string, search, lookup Cond[T], create func() (T, error)) (*T, bool, error) {
	r, n, c, err := ops.claim(ctx, search, lookup)
	switch {
	case err != nil:
		return nil, false, err
	case n > 0:
		return found(table, r, n)
	}
	settled := false
	defer func() {
		if !settled { // create failed or panicked
			ops.abandon(c)
		}
	}()
	rec, err := create()
	if err != nil {
		return nil, false, &CallbackError{Table: table, Callback: "create", Err: err}
	}
	settled = true
	return ops.settle(c, search, lookup, &rec)
}

// UpdateOrCreate updates the one record matching lookup, or creates one:
// Django's update_or_create, atomic. If a record matches, update receives a
// copy of it and returns the record to store in its place (it must keep
// the primary key); else create builds a new record, as in GetOrCreate. It
// returns the stored record and whether it was created.
//
// update may be called more than once, each time with the latest record, if
// a concurrent write changes the record between the read and the write: keep
// it free of side effects. Neither callback may call back into the DB. An
// error from either is returned wrapped in a *CallbackError and stores
// nothing; a panic releases every lock and is re-raised. An update that
// would break a unique constraint returns the *UniqueViolationError and
// changes nothing.
//
// UpdateOrCreate honours the context of t's transaction, if it began with
// one (DB.UpdateContext); see UpdateOrCreateContext.
func (t *Table[T]) UpdateOrCreate(lookup Cond[T], update func(T) (T, error), create func() (T, error)) (rec T, created bool, err error) {
	return t.updateOrCreateCtx(nil, lookup, update, create)
}

// UpdateOrCreateContext is UpdateOrCreate waiting for the lookup's other
// creators, and retrying after conflicts, only until ctx ends: then it
// returns ctx's error, having changed nothing.
func (t *Table[T]) UpdateOrCreateContext(ctx context.Context, lookup Cond[T], update func(T) (T, error), create func() (T, error)) (rec T, created bool, err error) {
	if ctx == nil {
		return rec, false, &NilCallbackError{Call: t.Name() + ".UpdateOrCreateContext", Callback: "ctx"}
	}
	return t.updateOrCreateCtx(ctx, lookup, update, create)
}

// updateOrCreateCtx is UpdateOrCreate under ctx, or t's context if nil.
func (t *Table[T]) updateOrCreateCtx(ctx context.Context, lookup Cond[T], update func(T) (T, error), create func() (T, error)) (rec T, created bool, err error) {
	var zero T
	ops, err := t.access(true)
	if err != nil {
		return zero, false, err
	}
	switch {
	case update == nil:
		return zero, false, &NilCallbackError{Call: t.Name() + ".UpdateOrCreate", Callback: "update"}
	case create == nil:
		return zero, false, &NilCallbackError{Call: t.Name() + ".UpdateOrCreate", Callback: "create"}
	}
	if err := t.checkLookup(&lookup, "UpdateOrCreate"); err != nil {
		return zero, false, err
	}
	r, created, err := ops.updateOrCreate(t.context(ctx), lookup, update, create)
	if err != nil {
		return zero, false, err
	}
	return *r, created, nil
}

// checkLookup validates the search of a get-or-create call (verb) against
// t's schema and, under Options.StrictLookups, requires that its
// equalities fix a unique index.
func (t *Table[T]) checkLookup(search *Cond[T], verb string) error {
	sch := t.eng.schema()
	if err := search.check(sch); err != nil {
		return err
	}
	if t.db.opts.StrictLookups && sch.plan(search).how != pointGet {
		return &LookupError{Table: t.Name(), Reason: verb + " with a lookup whose equalities fix no unique index, which Options.StrictLookups refuses: on a database, racing callers could each create a record"}
	}
	return nil
}

// createdEntry prepares rec, which a create callback returned for lookup,
// for storing: it must match lookup with its keys assigned, so that the
// lookup finds it afterwards.
func createdEntry[T any](sch *tableSchema[T], lookup *Cond[T], rec *T) (entry[T], error) {
	if !lookup.match(rec) {
		l := *lookup // mismatch's conditions escape: a copy keeps lookup, and its caller's, off the heap
		return entry[T]{}, &LookupError{Table: sch.table, Reason: l.mismatch(rec)}
	}
	e, err := sch.prepare(rec) // rec is already the caller's own copy
	if err != nil {
		return entry[T]{}, err
	}
	if !lookup.match(e.rec) { // the key the table assigned is outside the lookup
		return entry[T]{}, &LookupError{Table: sch.table, Reason: "the created record does not match the lookup once its primary key is assigned"}
	}
	return e, nil
}

// found is GetOrCreate's result when n > 0 records match.
func found[T any](table string, r *T, n int) (*T, bool, error) {
	if n > 1 {
		return nil, false, &MultipleReturnedError{Table: table, Count: n}
	}
	return r, false, nil
}

// stripeFor returns the lock that serialises creators of lookup in m.
// Equal lookups hash alike whatever the order of their conditions.
func (m *memTable[T]) stripeFor(lookup *Cond[T]) *stripe {
	h := lookup.hash(m.seed)
	return &m.e.stripes[h&uint64(len(m.e.stripes)-1)]
}

// Outside transactions.

func (m *memTable[T]) claim(ctx context.Context, search, lookup Cond[T]) (*T, int, claim, error) {
	if r, n := m.current(&search); n > 0 {
		return r, n, claim{}, nil
	}
	if faultOn(faultCheckThenAct) {
		return nil, 0, claim{}, nil
	}
	mu := m.stripeFor(&lookup)
	if err := lockContext(ctx, &mu.Mutex); err != nil {
		return nil, 0, claim{}, err
	}
	// Another caller with this lookup may have created while we waited.
	if r, n := m.current(&search); n > 0 && !faultOn(faultSkipRecheck) {
		mu.Unlock()
		return r, n, claim{}, nil
	}
	return nil, 0, claim{mu: mu}, nil
}

func (m *memTable[T]) abandon(c claim) {
	if !faultOn(faultLeakStripe) {
		c.release()
	}
}

// settle is tableOps': insertUnlessFound under the claim. An insert of the
// fast path is applied to the trees (afterInsert) once the claim is
// released, since that may take a while.
func (m *memTable[T]) settle(c claim, search, lookup Cond[T], rec *T) (*T, bool, error) {
	var seq uint64
	defer func() { m.e.afterInsert(seq) }()
	defer c.release()
	e, err := createdEntry(m.schema(), &lookup, rec)
	if err != nil {
		return nil, false, err
	}
	return m.insertUnlessFound(&search, e, &seq)
}

// current returns a record matching search and how many do (counting up
// to maxGetResults) in the latest state: through a hash index if search
// is a point lookup, else in the latest version.
//
// A point lookup whose probe keeps overlapping writes probes again rather
// than read a version: GetOrCreate is about to write anyway, the writes
// it waits for are short, and a version read would bring a version up to
// date, replaying up to maxPending changes.
func (m *memTable[T]) current(search *Cond[T]) (*T, int) {
	for {
		if r, ok := m.peek(*search); ok {
			if r == nil {
				return nil, 0
			}
			return r, 1
		}
		if !m.pointable(search) {
			break
		}
		runtime.Gosched()
	}
	v := m.latest()
	return v.matches(v.sch.plan(search), search)
}

// insertUnlessFound stores e unless, at the moment it would, a record
// matches lookup: the atomic step of GetOrCreate. It returns the record
// found or stored.
//
// A lookup that fixes every field of a unique index needs no search first
// if e matches all of it (a scoped lookup's record need match only its own
// part) and its keys are of the schema planned with (covered): a record
// matching the lookup would then hold e's key in that index, and inserting
// e meets it. Only when the insert meets a unique key is the lookup run.
// Such an insert takes the fast path, and leaves its seq in seq for the
// caller to apply (afterInsert) once it holds no lock.
func (m *memTable[T]) insertUnlessFound(lookup *Cond[T], e entry[T], seq *uint64) (*T, bool, error) {
	sch := m.schema()
	p := sch.plan(lookup)
	covered := p.how == pointGet && p.exact && e.sch == sch && lookup.match(e.rec)
	check := !faultOn(faultCheckThenAct) && !faultOn(faultSkipRecheck)
	if covered || !check {
		in := -1
		if covered && check {
			in = p.index
		}
		if found, s, err, ok := m.insertFast(e, in); ok {
			if err != nil || found != nil {
				return found, false, err
			}
			*seq = s
			return e.rec, true, nil
		}
	}
	return m.insertInCommit(*lookup, e, sch, covered, check)
}

// insertInCommit is insertUnlessFound's atomic step in the committer.
// lookup is a copy, which the step keeps.
func (m *memTable[T]) insertInCommit(lookup Cond[T], e entry[T], sch *tableSchema[T], covered, check bool) (*T, bool, error) {
	var got *T
	created := false
	err := m.commitOp(func(c *commitTable[T], _ *working) error {
		covered := covered && c.st.sch == sch
		if check && !covered {
			r, err := c.st.view().getOne(&lookup)
			if !errors.Is(err, ErrNotFound) {
				got = r
				return err
			}
		}
		if err := c.st.insert(e); err != nil {
			var uv *UniqueViolationError
			if check && covered && errors.As(err, &uv) {
				if r, ferr := c.st.view().getOne(&lookup); !errors.Is(ferr, ErrNotFound) {
					got = r
					return ferr
				}
			}
			return err
		}
		got, created = e.rec, true
		return nil
	})
	return got, created, err
}

func (m *memTable[T]) updateOrCreate(ctx context.Context, lookup Cond[T], update func(T) (T, error), create func() (T, error)) (*T, bool, error) {
	mu := m.stripeFor(&lookup) // held until the write commits: no other creator's read goes stale
	if err := lockContext(ctx, &mu.Mutex); err != nil {
		return nil, false, err
	}
	defer mu.Unlock()
	type result struct {
		r       *T
		created bool
	}
	res, err := optimistic(ctx, m, func(t *txTable[T]) (result, error) {
		r, created, err := t.updateOrCreateIn(&lookup, update, create)
		return result{r, created}, err
	})
	return res.r, res.created, err
}

// Inside a transaction.

func (t *txTable[T]) claim(ctx context.Context, search, lookup Cond[T]) (*T, int, claim, error) {
	v := t.view()
	r, n := v.matches(v.sch.plan(&search), &search)
	t.observeMatches(&search, r, n)
	if n > 0 {
		return r, n, claim{}, nil
	}
	mu := t.mt.stripeFor(&lookup)
	if err := lockContext(ctx, &mu.Mutex); err != nil {
		return nil, 0, claim{}, err
	}
	return nil, 0, claim{mu: mu}, nil
}

func (t *txTable[T]) abandon(c claim) { c.release() }

func (t *txTable[T]) settle(c claim, _, lookup Cond[T], rec *T) (*T, bool, error) {
	defer c.release()
	e, err := createdEntry(t.mt.schema(), &lookup, rec)
	if err != nil {
		return nil, false, err
	}
	if err := t.write(func(st *tableState[T]) error { return t.refusal(st, e.rec, st.insert(e)) }); err != nil {
		return nil, false, err
	}
	return e.rec, true, nil
}

// observeMatches records that search matched r, n of them (up to
// maxGetResults).
func (t *txTable[T]) observeMatches(search *Cond[T], r *T, n int) {
	t.observe(func(v *tableVersion[T]) bool {
		r2, n2 := v.matches(v.sch.plan(search), search)
		return n2 == n && (n != 1 || r2 == r)
	})
}

func (t *txTable[T]) updateOrCreate(ctx context.Context, lookup Cond[T], update func(T) (T, error), create func() (T, error)) (*T, bool, error) {
	mu := t.mt.stripeFor(&lookup)
	if err := lockContext(ctx, &mu.Mutex); err != nil {
		return nil, false, err
	}
	defer mu.Unlock()
	return t.updateOrCreateIn(&lookup, update, create)
}

// updateOrCreateIn is UpdateOrCreate in the transaction, with the lookup's
// stripe held.
func (t *txTable[T]) updateOrCreateIn(lookup *Cond[T], update func(T) (T, error), create func() (T, error)) (*T, bool, error) {
	cur, err := t.get(*lookup)
	switch {
	case errors.Is(err, ErrNotFound):
		rec, err := create()
		if err != nil {
			return nil, false, &CallbackError{Table: t.mt.name, Callback: "create", Err: err}
		}
		e, err := createdEntry(t.mt.schema(), lookup, &rec)
		if err != nil {
			return nil, false, err
		}
		if err := t.write(func(st *tableState[T]) error { return t.refusal(st, e.rec, st.insert(e)) }); err != nil {
			return nil, false, err
		}
		return e.rec, true, nil
	case err != nil:
		return nil, false, err
	}
	e, err := t.mt.schema().updated(cur, update)
	if err != nil {
		return nil, false, err
	}
	err = t.write(func(st *tableState[T]) error { return t.refusal(st, e.rec, st.replace(st.sch.stored(cur), e)) })
	if err != nil {
		return nil, false, err
	}
	return e.rec, false, nil
}
