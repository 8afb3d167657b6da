package recstore

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// The operations of the model-based tests and the interpreter that runs
// them. One interpreter, mdlRun, drives both the reference store
// (mdlModel, model_ref_test.go) and the store (mdlStore) through one
// interface, mdlAPI, so that callbacks (create, update, merge) behave
// identically on both sides and every result can be compared as a string:
// records, flags, counts, and errors by sentinel (errors.Is), dynamic type
// and message.

// The fields of User that conditions and orderings use; mdlFNick is
// uNickname, which the table does not declare.
const (
	mdlFID = iota
	mdlFEmail
	mdlFOrg
	mdlFUsername
	mdlFName
	mdlFAge
	mdlFNick
)

var mdlFieldNames = []string{"id", "email", "org", "username", "name", "age", "nickname"}

func mdlIsStr(f int) bool { return f != mdlFID && f != mdlFAge }

func mdlStr(u *User, f int) string {
	switch f {
	case mdlFEmail:
		return u.Email
	case mdlFOrg:
		return u.Org
	case mdlFUsername:
		return u.Username
	}
	return u.Name // name, and nickname (whose accessor reads Name)
}

func mdlNum(u *User, f int) int64 {
	if f == mdlFID {
		return u.ID
	}
	return int64(u.Age)
}

// mdlOper is the operator of a generated condition.
type mdlOper uint8

const (
	moAll mdlOper = iota // Cond[User]{}: every record
	moAnd
	moOr
	moNot
	moEq
	moNe
	moLt
	moLe
	moGt
	moGe
	moBetween
	moIn
	moPrefix
)

var mdlOperNames = map[mdlOper]string{moEq: "=", moNe: "!=", moLt: "<", moLe: "<=", moGt: ">", moGe: ">=",
	moBetween: " between ", moIn: " in ", moPrefix: " prefix "}

// mdlCond is a generated condition: build makes the store's Cond; match and
// check (model_ref_test.go) are the reference's meaning of it.
type mdlCond struct {
	oper mdlOper
	f    int
	s    []string // the values of a condition on a string field
	n    []int64  // the values of a condition on a numeric field
	subs []mdlCond
}

func mdlAnd(subs ...mdlCond) mdlCond { return mdlCond{oper: moAnd, subs: subs} }

// mdlEq is field f = v, v a string or an int64.
func mdlEq(f int, v any) mdlCond {
	if s, ok := v.(string); ok {
		return mdlCond{oper: moEq, f: f, s: []string{s}}
	}
	return mdlCond{oper: moEq, f: f, n: []int64{v.(int64)}}
}

func (c *mdlCond) build() Cond[User] {
	switch c.oper {
	case moAll:
		return Cond[User]{}
	case moAnd, moOr, moNot:
		subs := make([]Cond[User], len(c.subs))
		for i := range c.subs {
			subs[i] = c.subs[i].build()
		}
		switch c.oper {
		case moAnd:
			return And(subs...)
		case moOr:
			return Or(subs...)
		}
		return Not(subs[0])
	}
	switch c.f {
	case mdlFID:
		return mdlLeaf(uID, c.oper, c.n)
	case mdlFAge:
		ages := make([]int, len(c.n))
		for i, n := range c.n {
			ages[i] = int(n)
		}
		return mdlLeaf(uAge, c.oper, ages)
	case mdlFEmail:
		return mdlLeaf(uEmail, c.oper, c.s)
	case mdlFOrg:
		return mdlLeaf(uOrg, c.oper, c.s)
	case mdlFUsername:
		return mdlLeaf(uUsername, c.oper, c.s)
	case mdlFName:
		return mdlLeaf(uName, c.oper, c.s)
	}
	return mdlLeaf(uNickname, c.oper, c.s)
}

func mdlLeaf[V Key](col *Column[User, V], op mdlOper, vs []V) Cond[User] {
	switch op {
	case moEq:
		return col.Eq(vs[0])
	case moNe:
		return col.Ne(vs[0])
	case moLt:
		return col.Lt(vs[0])
	case moLe:
		return col.Le(vs[0])
	case moGt:
		return col.Gt(vs[0])
	case moGe:
		return col.Ge(vs[0])
	case moBetween:
		return col.Between(vs[0], vs[1])
	case moIn:
		return col.In(vs...)
	}
	return col.Prefix(vs[0])
}

// satisfy returns u changed to satisfy the equalities of c (through And), as a
// create callback would build a record for a lookup.
func (c *mdlCond) satisfy(u User) User {
	switch c.oper {
	case moAnd:
		for i := range c.subs {
			u = c.subs[i].satisfy(u)
		}
	case moEq:
		switch c.f {
		case mdlFID:
			u.ID = c.n[0]
		case mdlFAge:
			u.Age = int(c.n[0])
		case mdlFEmail:
			u.Email = c.s[0]
		case mdlFOrg:
			u.Org = c.s[0]
		case mdlFUsername:
			u.Username = c.s[0]
		case mdlFName:
			u.Name = c.s[0]
		}
	}
	return u
}

func (c mdlCond) String() string {
	var parts []string
	for _, s := range c.subs {
		parts = append(parts, s.String())
	}
	switch c.oper {
	case moAll:
		return "all"
	case moAnd:
		return "(" + strings.Join(parts, " && ") + ")"
	case moOr:
		return "(" + strings.Join(parts, " || ") + ")"
	case moNot:
		return "!" + parts[0]
	}
	var vals []string
	for _, s := range c.s {
		vals = append(vals, mdlQuote(s))
	}
	for _, n := range c.n {
		vals = append(vals, fmt.Sprint(n))
	}
	return mdlFieldNames[c.f] + mdlOperNames[c.oper] + strings.Join(vals, ",")
}

// mdlOrder is one term of an ordering.
type mdlOrder struct {
	f    int
	desc bool
}

func (o mdlOrder) build() Order[User] {
	asc := func(a, d Order[User]) Order[User] {
		if o.desc {
			return d
		}
		return a
	}
	switch o.f {
	case mdlFID:
		return asc(uID.Asc(), uID.Desc())
	case mdlFEmail:
		return asc(uEmail.Asc(), uEmail.Desc())
	case mdlFOrg:
		return asc(uOrg.Asc(), uOrg.Desc())
	case mdlFUsername:
		return asc(uUsername.Asc(), uUsername.Desc())
	case mdlFName:
		return asc(uName.Asc(), uName.Desc())
	case mdlFAge:
		return asc(uAge.Asc(), uAge.Desc())
	}
	return asc(uNickname.Asc(), uNickname.Desc())
}

// mdlQuery is a generated Filter query.
type mdlQuery struct {
	conds    []mdlCond
	order    []mdlOrder
	offset   int
	hasLimit bool
	limit    int // negative: every verb fails
}

func (q *mdlQuery) cond() mdlCond {
	if len(q.conds) == 1 {
		return q.conds[0]
	}
	return mdlAnd(q.conds...)
}

func (q *mdlQuery) build(t *Table[User]) *Query[User] {
	conds := make([]Cond[User], len(q.conds))
	for i := range q.conds {
		conds[i] = q.conds[i].build()
	}
	qq := t.Filter(conds...)
	if len(q.order) > 0 {
		terms := make([]Order[User], len(q.order))
		for i, o := range q.order {
			terms[i] = o.build()
		}
		qq = qq.OrderBy(terms...)
	}
	if q.offset != 0 {
		qq = qq.Offset(q.offset)
	}
	if q.hasLimit {
		qq = qq.Limit(q.limit)
	}
	return qq
}

func (q mdlQuery) String() string {
	var b strings.Builder
	c := q.cond()
	b.WriteString(c.String())
	for _, o := range q.order {
		fmt.Fprintf(&b, " order %s", mdlFieldNames[o.f])
		if o.desc {
			b.WriteString(" desc")
		}
	}
	if q.offset != 0 {
		fmt.Fprintf(&b, " offset %d", q.offset)
	}
	if q.hasLimit {
		fmt.Fprintf(&b, " limit %d", q.limit)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// The interface both sides implement.

// mdlAPI is what mdlRun drives: the User table of a store or of the model,
// through autocommit calls or bound to a transaction.
type mdlAPI interface {
	Insert(User) (User, error)
	Update(User) error
	Upsert(User) (User, bool, error)
	Delete(mdlCond) (User, error)
	Get(mdlCond) (User, error)
	GetOrCreate(lookup mdlCond, create func() (User, error)) (User, bool, error)
	UpdateOrCreate(lookup mdlCond, update func(User) (User, error), create func() (User, error)) (User, bool, error)
	InsertMany([]User, OnConflict[User]) (BulkResult[User], error)
	Collect(mdlQuery) ([]User, error)
	// All yields q's records until yield returns false, and returns why
	// q cannot run, having yielded nothing.
	All(q mdlQuery, yield func(User) bool) error
	Count(mdlQuery) (int, error)
	First(mdlQuery) (User, bool, error)
	QueryDelete(mdlQuery) (int, error)
	QueryUpdate(mdlQuery, func(User) (User, error)) (int, error)
	Len() int
	// On an autocommit handle.
	Begin(writable bool) (mdlAPI, error)
	RunUpdate(func(mdlAPI) error) error
	RunView(func(mdlAPI) error) error
	// On a transaction's handle.
	Savepoint(func(mdlAPI) error) error
	Commit() error
	Rollback() error
	// records returns what reads through the handle see, noting no read.
	records() ([]User, error)
}

// mdlStore is a handle on a store's User table, bound to tx if set.
type mdlStore struct {
	db *DB
	t  *Table[User]
	tx *Tx
}

func (s *mdlStore) Insert(u User) (User, error)          { return s.t.Insert(u) }
func (s *mdlStore) Update(u User) error                  { return s.t.Update(u) }
func (s *mdlStore) Upsert(u User) (User, bool, error)    { return s.t.Upsert(u) }
func (s *mdlStore) Delete(c mdlCond) (User, error)       { return s.t.Delete(c.build()) }
func (s *mdlStore) Get(c mdlCond) (User, error)          { return s.t.Get(c.build()) }
func (s *mdlStore) Collect(q mdlQuery) ([]User, error)   { return q.build(s.t).Collect() }
func (s *mdlStore) Count(q mdlQuery) (int, error)        { return q.build(s.t).Count() }
func (s *mdlStore) First(q mdlQuery) (User, bool, error) { return q.build(s.t).First() }
func (s *mdlStore) QueryDelete(q mdlQuery) (int, error)  { return q.build(s.t).Delete() }
func (s *mdlStore) Len() int                             { return s.t.Len() }
func (s *mdlStore) Commit() error                        { return s.tx.Commit() }
func (s *mdlStore) Rollback() error                      { return s.tx.Rollback() }
func (s *mdlStore) bound(tx *Tx) *mdlStore               { return &mdlStore{db: s.db, t: s.t.In(tx), tx: tx} }

func (s *mdlStore) All(q mdlQuery, yield func(User) bool) error {
	for u, err := range q.build(s.t).All() {
		if err != nil {
			return err
		}
		if !yield(u) {
			return nil
		}
	}
	return nil
}

func (s *mdlStore) RunView(fn func(mdlAPI) error) error {
	return s.db.View(func(tx *Tx) error { return fn(s.bound(tx)) })
}

func (s *mdlStore) RunUpdate(fn func(mdlAPI) error) error {
	return s.db.Update(func(tx *Tx) error { return fn(s.bound(tx)) })
}

func (s *mdlStore) Savepoint(fn func(mdlAPI) error) error {
	return s.tx.Savepoint(func(*Tx) error { return fn(s) })
}

func (s *mdlStore) GetOrCreate(c mdlCond, create func() (User, error)) (User, bool, error) {
	return s.t.GetOrCreate(c.build(), create)
}

func (s *mdlStore) UpdateOrCreate(c mdlCond, update func(User) (User, error), create func() (User, error)) (User, bool, error) {
	return s.t.UpdateOrCreate(c.build(), update, create)
}

func (s *mdlStore) InsertMany(recs []User, oc OnConflict[User]) (BulkResult[User], error) {
	return s.t.InsertMany(recs, oc)
}

func (s *mdlStore) QueryUpdate(q mdlQuery, fn func(User) (User, error)) (int, error) {
	return q.build(s.t).Update(fn)
}

func (s *mdlStore) Begin(writable bool) (mdlAPI, error) {
	tx, err := s.db.Begin(writable)
	if err != nil {
		return nil, err
	}
	return s.bound(tx), nil
}

// records reads the handle's state directly: a read through a write
// transaction's handle would be validated at its commit.
func (s *mdlStore) records() ([]User, error) {
	if _, err := s.t.access(false); err != nil {
		return nil, err
	}
	return tableRecords(s.t), nil
}

// ---------------------------------------------------------------------------
// Operations and the interpreter.

type mdlKind uint8

const (
	mkInsert mdlKind = iota
	mkUpdate
	mkUpsert
	mkDelete
	mkGet
	mkGetOrCreate
	mkUpdateOrCreate
	mkInsertMany
	mkCollect
	mkAll
	mkCount
	mkFirst
	mkQueryDelete
	mkQueryUpdate
	mkLen
	mkTx
	mkView
	mkSavepoint
	mkNumKinds
)

var mdlKindNames = [mkNumKinds]string{"Insert", "Update", "Upsert", "Delete", "Get", "GetOrCreate", "UpdateOrCreate",
	"InsertMany", "Collect", "All", "Count", "First", "Query.Delete", "Query.Update", "Len", "db.Update", "db.View", "Savepoint"}

func (k mdlKind) String() string { return mdlKindNames[k] }

// How a callback behaves.
type mdlCB uint8

const (
	cbOK     mdlCB = iota
	cbFail         // returns errMdlCallback
	cbPanic        // panics with an mdlPanic
	cbStray        // create: a record not fitted to the lookup; update: a changed primary key
	cbZeroPK       // update: a zero primary key
)

// How a transaction or savepoint ends: its function returns nil, returns
// errMdlAbort, or panics.
type mdlEnd uint8

const (
	endCommit mdlEnd = iota
	endError
	endPanic
)

// InsertMany's OnConflict.
const (
	imAbort = iota
	imIgnore
	imMerge
	imBoth // Ignore and Update together: invalid
)

// mdlSet says which fields an update callback or merge sets, and to what.
type mdlSet struct {
	mask uint8 // 1 email, 2 org, 4 username, 8 age, 16 name
	u    User
}

func (s mdlSet) put(u User) User {
	if s.mask&1 != 0 {
		u.Email = s.u.Email
	}
	if s.mask&2 != 0 {
		u.Org = s.u.Org
	}
	if s.mask&4 != 0 {
		u.Username = s.u.Username
	}
	if s.mask&8 != 0 {
		u.Age = s.u.Age
	}
	if s.mask&16 != 0 {
		u.Name = s.u.Name
	}
	return u
}

type mdlOp struct {
	kind     mdlKind
	rec      User     // Insert, Update, Upsert; the base of a created record
	recs     []User   // InsertMany
	mode     int      // InsertMany's OnConflict
	cond     mdlCond  // the lookup
	query    mdlQuery // Filter verbs
	set      mdlSet   // what update callbacks and merges change
	onCreate mdlCB    // the create callback
	onUpdate mdlCB    // the update callback or merge
	stop     int      // All: how many records the loop reads before it stops (0: all)
	subs     []*mdlOp // a transaction's or savepoint's operations; All: what its loop does at its first record
	end      mdlEnd   // how a transaction, view or savepoint ends
	escape   bool     // a panic of a callback inside the transaction escapes it
	// outside runs the operation, inside a transaction or view, as a plain
	// call that commits at once, while the transaction is open; in the
	// transaction's first run only, so that a retry does not meet it again.
	outside bool
}

// mdlPanic is what callbacks and transaction functions panic with.
type mdlPanic string

var (
	errMdlCallback = errors.New("model: callback failed")
	errMdlAbort    = errors.New("model: transaction function failed")
)

func (op *mdlOp) create() (User, error) {
	switch op.onCreate {
	case cbFail:
		return User{}, errMdlCallback
	case cbPanic:
		panic(mdlPanic("create"))
	case cbStray:
		return op.rec, nil
	}
	return op.cond.satisfy(op.rec), nil
}

func (op *mdlOp) update(u User) (User, error) {
	switch op.onUpdate {
	case cbFail:
		return User{}, errMdlCallback
	case cbPanic:
		panic(mdlPanic("update"))
	case cbStray:
		u.ID += 1 << 40
	case cbZeroPK:
		u.ID = 0
	}
	return op.set.put(u), nil
}

func (op *mdlOp) merge(existing, proposed User) (User, error) {
	switch op.onUpdate {
	case cbFail:
		return User{}, errMdlCallback
	case cbPanic:
		panic(mdlPanic("merge"))
	case cbStray:
		existing.ID = proposed.ID
	}
	return mdlSet{mask: op.set.mask, u: proposed}.put(existing), nil
}

func (op *mdlOp) finish(what string) error {
	switch op.end {
	case endError:
		return errMdlAbort
	case endPanic:
		panic(mdlPanic(what))
	}
	return nil
}

func (op *mdlOp) String() string {
	var b strings.Builder
	if op.outside {
		b.WriteString("outside ")
	}
	b.WriteString(op.kind.String())
	switch op.kind {
	case mkInsert, mkUpdate, mkUpsert:
		b.WriteString(" " + mdlUser(op.rec))
	case mkDelete, mkGet:
		b.WriteString(" " + op.cond.String())
	case mkGetOrCreate, mkUpdateOrCreate:
		fmt.Fprintf(&b, " %s create %s(%d) update %+v(%d)", op.cond, mdlUser(op.rec), op.onCreate, op.set, op.onUpdate)
	case mkInsertMany:
		fmt.Fprintf(&b, " mode %d merge %+v(%d):", op.mode, op.set, op.onUpdate)
		for _, r := range op.recs {
			b.WriteString(" " + mdlUser(r))
		}
	case mkCollect, mkCount, mkFirst, mkQueryDelete:
		b.WriteString(" " + op.query.String())
	case mkAll:
		fmt.Fprintf(&b, " %s stop %d", op.query, op.stop)
		for _, s := range op.subs {
			b.WriteString(" then " + s.String())
		}
	case mkQueryUpdate:
		fmt.Fprintf(&b, " %s set %+v(%d)", op.query, op.set, op.onUpdate)
	case mkTx, mkView, mkSavepoint:
		fmt.Fprintf(&b, " end %d escape %v {", op.end, op.escape)
		for i, s := range op.subs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(s.String())
		}
		b.WriteString("}")
	}
	return b.String()
}

// mdlPanicErr is a recovered mdlPanic, as a result.
type mdlPanicErr struct{ v mdlPanic }

func (e mdlPanicErr) Error() string { return "panic " + string(e.v) }

// mdlCatch runs fn, turning an mdlPanic into an mdlPanicErr. Other panics
// go on: they are bugs.
func mdlCatch(fn func() error) error {
	var err error
	if r := recovered(func() { err = fn() }); r != nil {
		p, ok := r.(mdlPanic)
		if !ok {
			panic(r)
		}
		return mdlPanicErr{p}
	}
	return err
}

// mdlRun applies op through api and returns its result as a string. With
// catch, a callback's panic is recovered into the result; without, it goes
// on (out of a transaction, to roll it back).
func mdlRun(api mdlAPI, op *mdlOp, catch bool) string {
	var res string
	run := func() error {
		var err error
		res, err = mdlRun1(api, op)
		return err
	}
	if !catch || op.kind == mkTx || op.kind == mkView || op.kind == mkSavepoint {
		if err := run(); err != nil {
			return mdlErr(err)
		}
		return res
	}
	if err := mdlCatch(run); err != nil {
		return mdlErr(err)
	}
	return res
}

// mdlRun1 runs op; a non-nil error is the op's error, else res says what
// it returned.
func mdlRun1(api mdlAPI, op *mdlOp) (res string, err error) {
	switch op.kind {
	case mkInsert:
		u, err := api.Insert(op.rec)
		return "ok " + mdlUser(u), err
	case mkUpdate:
		return "ok", api.Update(op.rec)
	case mkUpsert:
		u, inserted, err := api.Upsert(op.rec)
		return fmt.Sprintf("ok %s inserted=%v", mdlUser(u), inserted), err
	case mkDelete:
		u, err := api.Delete(op.cond)
		return "ok " + mdlUser(u), err
	case mkGet:
		u, err := api.Get(op.cond)
		return "ok " + mdlUser(u), err
	case mkGetOrCreate:
		u, created, err := api.GetOrCreate(op.cond, op.create)
		return fmt.Sprintf("ok %s created=%v", mdlUser(u), created), err
	case mkUpdateOrCreate:
		u, created, err := api.UpdateOrCreate(op.cond, op.update, op.create)
		return fmt.Sprintf("ok %s created=%v", mdlUser(u), created), err
	case mkInsertMany:
		var oc OnConflict[User]
		switch op.mode {
		case imIgnore:
			oc.Ignore = true
		case imMerge:
			oc.Update = op.merge
		case imBoth:
			oc.Ignore, oc.Update = true, op.merge
		}
		r, err := api.InsertMany(op.recs, oc)
		return fmt.Sprintf("ok inserted %s updated %s skipped %s", mdlUsers(r.Inserted), mdlUsers(r.Updated), mdlUsers(r.Skipped)), err
	case mkCollect:
		us, err := api.Collect(op.query)
		return "ok " + mdlUsers(us), err
	case mkAll:
		// The loop reads up to stop records; at the first, it runs the
		// sub-operations through the same handle.
		var us []User
		var subs []string
		err := api.All(op.query, func(u User) bool {
			if len(us) == 0 {
				for _, s := range op.subs {
					subs = append(subs, mdlRun(api, s, true))
				}
			}
			us = append(us, u)
			return op.stop == 0 || len(us) < op.stop
		})
		return fmt.Sprintf("ok %s {%s}", mdlUsers(us), strings.Join(subs, "; ")), err
	case mkCount:
		n, err := api.Count(op.query)
		return fmt.Sprintf("ok %d", n), err
	case mkFirst:
		u, ok, err := api.First(op.query)
		return fmt.Sprintf("ok %s %v", mdlUser(u), ok), err
	case mkQueryDelete:
		n, err := api.QueryDelete(op.query)
		return fmt.Sprintf("ok %d", n), err
	case mkQueryUpdate:
		// The count that comes with an error is not compared: it means
		// nothing.
		n, err := api.QueryUpdate(op.query, op.update)
		return fmt.Sprintf("ok %d", n), err
	case mkLen:
		return fmt.Sprintf("ok %d", api.Len()), nil
	}
	// Transactions, views and savepoints: the results of their operations,
	// then how they ended.
	var subs []string
	runs := 0
	body := func(tx mdlAPI) error {
		runs++
		subs = subs[:0] // a retried transaction starts again
		for _, s := range op.subs {
			switch {
			case !s.outside:
				subs = append(subs, mdlRun(tx, s, !op.escape))
			case runs == 1:
				// On a goroutine of its own, as a concurrent client's
				// write: on fn's, a write outside the transaction is
				// refused (ErrOutsideTx).
				done := make(chan string)
				go func() { done <- mdlRun(api, s, true) }()
				subs = append(subs, <-done)
			}
		}
		return op.finish(op.kind.String())
	}
	switch op.kind {
	case mkTx:
		err = mdlCatch(func() error { return api.RunUpdate(body) })
	case mkView:
		err = mdlCatch(func() error { return api.RunView(body) })
	default:
		err = mdlCatch(func() error { return api.Savepoint(body) })
	}
	return fmt.Sprintf("ok runs=%d", runs), mdlSubs(err, runs, subs)
}

// mdlSubsErr carries a transaction's operations' results with its error.
type mdlSubsErr struct {
	err  error
	runs int
	subs []string
}

func (e *mdlSubsErr) Error() string { return e.err.Error() }
func (e *mdlSubsErr) Unwrap() error { return e.err }

func mdlSubs(err error, runs int, subs []string) error {
	return &mdlSubsErr{err: err, runs: runs, subs: slices.Clone(subs)}
}

// mdlSentinels name the error classes of results.
type mdlSentinel struct {
	err  error
	name string
}

var mdlSentinels = []mdlSentinel{
	{ErrNotFound, "ErrNotFound"}, {ErrMultipleReturned, "ErrMultipleReturned"}, {ErrUnknownField, "ErrUnknownField"},
	{ErrInvalidKey, "ErrInvalidKey"}, {ErrKeyTooLarge, "ErrKeyTooLarge"}, {ErrInvalidLookup, "ErrInvalidLookup"},
	{ErrUniqueViolation, "ErrUniqueViolation"}, {ErrDuplicateValues, "ErrDuplicateValues"}, {ErrConflict, "ErrConflict"},
	{ErrClosed, "ErrClosed"}, {ErrTxDone, "ErrTxDone"}, {ErrReadOnly, "ErrReadOnly"}, {ErrSchema, "ErrSchema"},
	{errMdlCallback, "callback"}, {errMdlAbort, "abort"}, {errMdlStale, "STALE"},
}

// mdlErr formats an error: its class (the sentinel errors.Is finds), the
// innermost typed error and its message.
func mdlErr(err error) string {
	var se *mdlSubsErr
	if errors.As(err, &se) {
		subs := fmt.Sprintf("runs=%d {%s}", se.runs, strings.Join(se.subs, "; "))
		if se.err == nil {
			return "ok " + subs
		}
		return mdlErr(se.err) + " " + subs
	}
	var pe mdlPanicErr
	if errors.As(err, &pe) {
		return pe.Error()
	}
	class := "unclassified"
	for _, s := range mdlSentinels {
		if errors.Is(err, s.err) {
			class = s.name
			break
		}
	}
	// The typed error: the innermost one that unwraps to a sentinel.
	inner := err
	for {
		u := errors.Unwrap(inner)
		if u == nil || slices.ContainsFunc(mdlSentinels, func(s mdlSentinel) bool { return s.err == u }) {
			break
		}
		inner = u
	}
	return fmt.Sprintf("error %s %T %s", class, inner, mdlShort(err.Error()))
}

// mdlShort shortens long messages (the keys over MaxKeySize) to a digest.
func mdlShort(s string) string {
	if len(s) <= 200 {
		return strconv.Quote(s)
	}
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%q…(%d bytes, fnv %x)", s[:80], len(s), h.Sum64())
}

func mdlQuote(s string) string { return string(mdlAppendQuote(nil, s)) }

func mdlAppendQuote(b []byte, s string) []byte {
	if len(s) <= 24 {
		return strconv.AppendQuote(b, s)
	}
	b = strconv.AppendQuote(b, s[:8])
	b = append(b, "…("...)
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(b, " bytes)"...)
}

func mdlAppendUser(b []byte, u User) []byte {
	b = append(b, '{')
	b = strconv.AppendInt(b, u.ID, 10)
	for _, s := range []string{u.Email, u.Org, u.Username, u.Name} {
		b = append(b, ' ')
		b = mdlAppendQuote(b, s)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(u.Age), 10)
	return append(b, '}')
}

func mdlUser(u User) string { return string(mdlAppendUser(nil, u)) }

func mdlUsers(us []User) string {
	b := []byte{'['}
	for i, u := range us {
		if i > 0 {
			b = append(b, ' ')
		}
		b = mdlAppendUser(b, u)
	}
	return string(append(b, ']'))
}
