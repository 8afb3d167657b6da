package recstore

import (
	"errors"
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
// Django, the created record must match lookup (else a *LookupError and
// nothing stored), so that "exactly one record matches" stays true.
//
// If several records match, GetOrCreate returns a *MultipleReturnedError.
// If the new record would break a unique constraint outside the lookup, the
// lookup is re-run in the same atomic step: a match then is returned with
// created false, else the *UniqueViolationError is returned and nothing is
// stored.
//
// A hit through an index that covers lookup alone (one equality on a
// single-field unique index or the primary key) takes no lock and
// allocates nothing. The returned record is a copy: the caller owns it.
func (t *Table[T]) GetOrCreate(lookup Cond[T], create func() (T, error)) (rec T, created bool, err error) {
	switch r, ok := t.pointHit(lookup); {
	case r != nil:
		return *r, false, nil
	case ok: // no record matches: getOrCreate's first read would say so again
		return t.create(&lookup, &lookup, create)
	}
	return t.getOrCreate(lookup, lookup, create)
}

// getOrCreate searches for search (lookup, or lookup within a query's
// scope) and creates from lookup.
func (t *Table[T]) getOrCreate(search, lookup Cond[T], create func() (T, error)) (T, bool, error) {
	var zero T
	r, n, err := t.current(&search)
	if err != nil {
		return zero, false, err
	}
	t.noteRead(&search)
	if n > 0 {
		return t.found(r, n)
	}
	return t.create(&search, &lookup, create)
}

// create is getOrCreate once a read found no record matching search.
func (t *Table[T]) create(search, lookup *Cond[T], create func() (T, error)) (T, bool, error) {
	var seq uint64
	rec, created, err := t.createLocked(search, lookup, create, &seq)
	t.core.db.afterInsert(seq) // with the stripe free: applying may take a while
	return rec, created, err
}

// createLocked is the atomic part of getOrCreate: under the lookup's
// stripe, it searches again, then creates. An insert of the fast path
// leaves its seq in seq, for the caller to apply once the stripe is free.
func (t *Table[T]) createLocked(search, lookup *Cond[T], create func() (T, error), seq *uint64) (T, bool, error) {
	var zero T
	if t.tx != nil {
		// A transaction's overlay is its own: no stripe to take, and the
		// commit validates the read that found nothing.
		if err := t.tx.usable(true); err != nil {
			return zero, false, err
		}
	} else if !faultOn(faultCheckThenAct) {
		mu := t.core.stripeFor(lookup)
		mu.Lock()
		if faultOn(faultLeakStripe) {
			defer func() {
				if recover() == nil {
					mu.Unlock()
				}
			}()
		} else {
			defer mu.Unlock()
		}
		// Another caller with this lookup may have created while we waited.
		r, n, err := t.current(search)
		if err != nil {
			return zero, false, err
		}
		if n > 0 && !faultOn(faultSkipRecheck) {
			return t.found(r, n)
		}
	}
	e, err := t.created(lookup, create)
	if err != nil {
		return zero, false, err
	}
	r, created, err := t.insertUnlessFound(search, e, seq)
	if err != nil {
		return zero, false, err
	}
	return *r, created, nil
}

// current returns a record matching search and how many do (counting up
// to maxGetResults) in the latest state: through a live index if search
// is a point lookup outside a transaction, else in a snapshot.
func (t *Table[T]) current(search *Cond[T]) (*T, int, error) {
	if r, ok := t.pointHit(*search); ok {
		if r == nil {
			return nil, 0, nil
		}
		return r, 1, nil
	}
	s, err := t.state()
	if err != nil {
		return nil, 0, err
	}
	p, err := s.sch.planFor(search)
	if err != nil {
		return nil, 0, err
	}
	r, n := s.matches(p, search)
	return r, n, nil
}

// found is GetOrCreate's result when n > 0 records match.
func (t *Table[T]) found(r *T, n int) (T, bool, error) {
	if n > 1 {
		var zero T
		return zero, false, &MultipleReturnedError{Table: t.Name(), Count: n}
	}
	return *r, false, nil
}

// created calls create and prepares its record for storing.
func (t *Table[T]) created(lookup *Cond[T], create func() (T, error)) (entry[T], error) {
	rec, err := create()
	if err != nil {
		return entry[T]{}, &CallbackError{Table: t.Name(), Callback: "create", Err: err}
	}
	if !lookup.match(&rec) {
		return entry[T]{}, &LookupError{Table: t.Name(), Reason: "the created record does not match the lookup"}
	}
	return t.core.sch().prepare(&rec) // rec is already the caller's own copy
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
// caller to apply (DB.afterInsert) once it holds no lock.
func (t *Table[T]) insertUnlessFound(lookup *Cond[T], e entry[T], seq *uint64) (*T, bool, error) {
	sch := t.core.sch()
	p, err := sch.planFor(lookup)
	if err != nil {
		return nil, false, err
	}
	covered := p.how == pointGet && p.exact && e.sch == sch && lookup.match(e.rec)
	check := !faultOn(faultCheckThenAct) && !faultOn(faultSkipRecheck)
	if t.tx == nil && (covered || !check) {
		in := -1
		if covered && check {
			in = p.index
		}
		if found, s, err, ok := t.insertFast(e, in); ok {
			if err != nil || found != nil {
				return found, false, err
			}
			*seq = s
			return e.rec, true, nil
		}
	}
	return t.insertInCommit(*lookup, e, sch, covered, check)
}

// insertInCommit is insertUnlessFound's atomic step in the committer, or in
// a transaction's overlay. lookup is a copy, which the step keeps.
func (t *Table[T]) insertInCommit(lookup Cond[T], e entry[T], sch *tableSchema[T], covered, check bool) (*T, bool, error) {
	var got *T
	created := false
	err := t.write(func(tw *tableWork[T]) error {
		covered := covered && tw.sch == sch
		if check && !covered {
			r, err := tw.view.getOne(&lookup)
			if !errors.Is(err, ErrNotFound) {
				got = r
				return err
			}
		}
		if err := tw.insert(e); err != nil {
			var uv *UniqueViolationError
			if check && covered && errors.As(err, &uv) {
				if r, ferr := tw.view.getOne(&lookup); !errors.Is(ferr, ErrNotFound) {
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
func (t *Table[T]) UpdateOrCreate(lookup Cond[T], update func(T) (T, error), create func() (T, error)) (rec T, created bool, err error) {
	var zero T
	if _, err := t.core.sch().planFor(&lookup); err != nil {
		return zero, false, err
	}
	if err := t.writable(); err != nil {
		return zero, false, err
	}
	var seq uint64
	defer func() { t.core.db.afterInsert(seq) }() // after the stripe's release
	if t.tx == nil {
		mu := t.core.stripeFor(&lookup)
		mu.Lock()
		defer mu.Unlock()
	}
	t.noteRead(&lookup)
	type result struct {
		r       *T
		created bool
	}
	res, err := retrying(t, func(t *Table[T]) (result, error) {
		r, created, err := t.updateOrCreateOnce(&lookup, update, create, &seq)
		return result{r, created}, err
	})
	if err != nil {
		return zero, false, err
	}
	return *res.r, res.created, nil
}

func (t *Table[T]) updateOrCreateOnce(lookup *Cond[T], update func(T) (T, error), create func() (T, error), seq *uint64) (*T, bool, error) {
	s, err := t.state()
	if err != nil {
		return nil, false, err
	}
	cur, err := s.getOne(lookup)
	switch {
	case errors.Is(err, ErrNotFound):
		e, err := t.created(lookup, create)
		if err != nil {
			return nil, false, err
		}
		r, created, err := t.insertUnlessFound(lookup, e, seq)
		if err == nil && !created {
			return nil, false, errStale // appeared meanwhile: update it
		}
		return r, created, err
	case err != nil:
		return nil, false, err
	}
	e, err := t.core.sch().updated(cur, update)
	if err != nil {
		return nil, false, err
	}
	err = t.write(func(tw *tableWork[T]) error {
		if now, err := tw.view.getOne(lookup); err != nil || now != cur {
			return errStale
		}
		old, _ := tw.byPK(e.rec)
		return tw.replace(old, e)
	})
	return e.rec, false, err
}

// stripeFor returns the lock that serialises creators of lookup. Equal
// lookups hash alike whatever the order of their conditions.
func (c *tableCore[T]) stripeFor(lookup *Cond[T]) *stripe {
	h := lookup.hash(c.seed)
	return &c.stripes[h&uint64(len(c.stripes)-1)]
}
