package recstore

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The reference store of the model-based tests (TESTING.md §2): a
// trivially correct model of the User table of newUsers, written from the
// documented behaviour of the exported API only. It uses none of the
// store's unexported identifiers: a map by primary key, a map per unique
// index (user_email, org_username), linear scans for everything else (Get,
// Filter, ordering), and transactions as the Tx doc describes them.
//
// The operations that drive it and the store through one interface are in
// model_ops_test.go, the generator in model_gen_test.go, the tests in
// model_run_test.go.
//
// Auto-assigned keys. The table takes an auto-assigned key from its
// sequence when it prepares a record, before any other check, so a failed
// insert, a rolled-back transaction, an InsertMany that aborts or a write in
// an ended transaction leaves a gap; every key a caller chooses moves the
// sequence past it as soon as it is stored (in InsertMany, as soon as its
// record is prepared: a batch's keys come as if its records were inserted
// one by one), inside a transaction too, even one that then rolls back
// (the sequence is the table's, not the transaction's). The model keeps
// the sequence exactly (mdlDB.stage and mdlDB.advance) instead of comparing
// records modulo their id: every result is compared whole, ids included,
// so the sequence's rules are under test too.
//
// Transactions. A write transaction reads its snapshot with its own writes
// applied, and commits only if every read it made, through any verb, reads
// the same at the moment it commits with the transaction's own writes made
// before that read applied on top of the latest committed state, and every
// record it changed is still the version it changed. The model keeps the
// transaction's history (every change it made, in order, including the
// changes that a failed write or a rolled-back savepoint undid, and their
// undoing) and each read with its place in that history; its commit makes
// the history again on the latest committed state, checking each read at
// its place (mdlTx.tryCommit). "Reads the same" is, per verb: the same
// record version or the same failure (not found; several, with the same
// count) for a lookup (Get, Delete's, GetOrCreate's and UpdateOrCreate's);
// the same list of record versions in order for Collect, Query.Delete,
// Query.Update and an All that ran to the end; the same first records for
// First and for an All the caller stopped (a later match does not count);
// the same number for Count and Len; for a write refused by a unique key,
// the same holder of that key and the same record with the refused
// record's primary key; for an Update that found no record, still none.
// The read of an All whose loop wrote is placed where the All began.
//
// Record identity. "The same version" is pointer identity: the model stores
// immutable *User values and gives every write a new one, so that a record
// rewritten with equal fields is a new version, as it is in the store.

// mdlMaxCount is the largest Count of a *MultipleReturnedError: exact up
// to 20, 21 for more.
const mdlMaxCount = 21

// mdlChange is one change of a model state: old replaced by new, either nil
// for an insert or a delete.
type mdlChange struct{ old, new *User }

// mdlState is one state of the table: records by primary key, a map per
// unique index, the primary keys in order, and the log of its changes (for
// undoing a failed write and, in a transaction's overlay, its history).
type mdlState struct {
	recs    map[int64]*User
	email   map[string]int64
	orgUser map[[2]string]int64
	ids     []int64 // sorted
	log     []mdlChange
}

func newMdlState() *mdlState {
	return &mdlState{recs: map[int64]*User{}, email: map[string]int64{}, orgUser: map[[2]string]int64{}}
}

// clone returns a copy of the state's records, without its log.
func (s *mdlState) clone() *mdlState {
	return &mdlState{recs: maps.Clone(s.recs), email: maps.Clone(s.email), orgUser: maps.Clone(s.orgUser), ids: slices.Clone(s.ids)}
}

func mdlOrgUser(u *User) [2]string { return [2]string{u.Org, u.Username} }

// put replaces old by new, either nil, without logging it.
func (s *mdlState) put(old, new *User) {
	if old != nil {
		delete(s.recs, old.ID)
		if id, ok := s.email[old.Email]; ok && id == old.ID {
			delete(s.email, old.Email)
		}
		if id, ok := s.orgUser[mdlOrgUser(old)]; ok && id == old.ID {
			delete(s.orgUser, mdlOrgUser(old))
		}
		if new == nil || new.ID != old.ID {
			i, _ := slices.BinarySearch(s.ids, old.ID)
			s.ids = slices.Delete(s.ids, i, i+1)
		}
	}
	if new != nil {
		if old == nil || new.ID != old.ID {
			i, _ := slices.BinarySearch(s.ids, new.ID)
			s.ids = slices.Insert(s.ids, i, new.ID)
		}
		s.recs[new.ID] = new
		s.email[new.Email] = new.ID
		s.orgUser[mdlOrgUser(new)] = new.ID
	}
}

// edit applies and logs a change.
func (s *mdlState) edit(old, new *User) {
	s.put(old, new)
	s.log = append(s.log, mdlChange{old, new})
}

// revert undoes the changes logged after the first n by changing back,
// newest first, and logging the inverse changes too: a transaction's
// history keeps what the reads in between saw.
func (s *mdlState) revert(n int) {
	for i := len(s.log) - 1; i >= n; i-- {
		c := s.log[i]
		s.edit(c.new, c.old)
	}
}

// discard undoes the changes logged after the first n and forgets them.
func (s *mdlState) discard(n int) {
	for len(s.log) > n {
		c := s.log[len(s.log)-1]
		s.log = s.log[:len(s.log)-1]
		s.put(c.new, c.old)
	}
}

// all returns the records in primary key order.
func (s *mdlState) all() []User {
	var out []User
	for _, id := range s.ids {
		out = append(out, *s.recs[id])
	}
	return out
}

// selfCheck verifies the model's own maps.
func (s *mdlState) selfCheck() error {
	if len(s.recs) != len(s.ids) || len(s.email) != len(s.recs) || len(s.orgUser) != len(s.recs) {
		return fmt.Errorf("model: %d records, %d ids, %d emails, %d (org, username)s", len(s.recs), len(s.ids), len(s.email), len(s.orgUser))
	}
	for _, id := range s.ids {
		u := s.recs[id]
		if u == nil || u.ID != id || s.email[u.Email] != id || s.orgUser[mdlOrgUser(u)] != id {
			return fmt.Errorf("model: record %d is not indexed", id)
		}
	}
	return nil
}

// holder returns the record holding u's key in unique index constraint
// ("primary", "user_email" or "org_username"), or nil if it is free.
func (s *mdlState) holder(constraint string, u *User) *User {
	switch constraint {
	case "primary":
		return s.recs[u.ID]
	case "user_email":
		if id, ok := s.email[u.Email]; ok {
			return s.recs[id]
		}
	case "org_username":
		if id, ok := s.orgUser[mdlOrgUser(u)]; ok {
			return s.recs[id]
		}
	}
	return nil
}

// conflict returns the unique index that u would share a key in with a
// record other than the one with u's primary key, and that record: the
// first in the table's index order (the primary key, if checkPK, then
// user_email, then org_username), which is the constraint the store's
// *UniqueViolationError names.
func (s *mdlState) conflict(u *User, checkPK bool) (string, *User) {
	for _, c := range []string{"primary", "user_email", "org_username"} {
		if h := s.holder(c, u); h != nil && (c == "primary" && checkPK || c != "primary" && h.ID != u.ID) {
			return c, h
		}
	}
	return "", nil
}

func mdlViolation(constraint string, u, holder *User) error {
	e := &UniqueViolationError{Table: "User", Constraint: constraint, HeldBy: fmt.Sprint(holder.ID), PKField: "id", Existing: *holder}
	switch constraint {
	case "primary":
		e.Fields, e.Values = []string{"id"}, []string{fmt.Sprint(u.ID)}
	case "user_email":
		e.Fields, e.Values = []string{"email"}, []string{u.Email}
	default:
		e.Fields, e.Values = []string{"org", "username"}, []string{u.Org, u.Username}
	}
	return e
}

// one is Get on the state: the one record c matches.
func (s *mdlState) one(c *mdlCond) (*User, error) {
	var hit *User
	n := 0
	for _, id := range s.ids {
		if r := s.recs[id]; c.accepts(r) {
			hit = r
			n++
		}
	}
	switch n {
	case 0:
		return nil, &NotFoundError{Table: "User"}
	case 1:
		return hit, nil
	}
	return nil, &MultipleReturnedError{Table: "User", Count: min(n, mdlMaxCount)}
}

// mdlSameGet reports whether two results of one read the same: the same
// record version, or the same failure (not found; several, as many).
func mdlSameGet(r1 *User, err1 error, r2 *User, err2 error) bool {
	var m1, m2 *MultipleReturnedError
	switch {
	case err1 == nil || err2 == nil:
		return err1 == err2 && r1 == r2
	case errors.As(err1, &m1) && errors.As(err2, &m2):
		return m1.Count == m2.Count
	}
	return errors.Is(err1, ErrNotFound) && errors.Is(err2, ErrNotFound)
}

// mdlEncodedLen is the length the store counts for a string field of a
// composite key (see MaxKeySize): its bytes, each 0x00 counted twice, and
// two more.
func mdlEncodedLen(s string) int { return len(s) + strings.Count(s, "\x00") + 2 }

// mdlKeyError is why u cannot be stored, as the store reports it: a key
// over MaxKeySize, index by index in the table's order (id, user_email,
// org_username, user_age), then a zero primary key.
func mdlKeyError(u *User) error {
	tooLarge := func(field string, n int) error {
		return &KeyError{Table: "User", Field: field, Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", n, MaxKeySize), Err: ErrKeyTooLarge}
	}
	if len(u.Email) > MaxKeySize {
		return tooLarge("email", len(u.Email))
	}
	if n := mdlEncodedLen(u.Org) + mdlEncodedLen(u.Username); n > MaxKeySize {
		return tooLarge("", n)
	}
	if u.ID == 0 {
		return &KeyError{Table: "User", Field: "id", Reason: "the primary key is zero", Err: ErrInvalidKey}
	}
	return nil
}

// The meaning of conditions and queries.

// problem returns why c cannot run: the first problem, depth first.
func (c *mdlCond) problem() error {
	switch c.oper {
	case moAll:
		return nil
	case moAnd, moOr, moNot:
		for i := range c.subs {
			if err := c.subs[i].problem(); err != nil {
				return err
			}
		}
		return nil
	}
	if c.oper == moPrefix && !mdlIsStr(c.f) {
		return &LookupError{Table: "User", Reason: "Prefix on field " + mdlFieldNames[c.f] + ", which is not a string"}
	}
	if c.f == mdlFNick {
		return userFieldError(mdlFieldNames[mdlFNick])
	}
	return nil
}

func (c *mdlCond) accepts(u *User) bool {
	switch c.oper {
	case moAll:
		return true
	case moAnd:
		for i := range c.subs {
			if !c.subs[i].accepts(u) {
				return false
			}
		}
		return true
	case moOr:
		for i := range c.subs {
			if c.subs[i].accepts(u) {
				return true
			}
		}
		return false
	case moNot:
		return !c.subs[0].accepts(u)
	}
	if mdlIsStr(c.f) {
		return mdlCompare(c.oper, mdlStr(u, c.f), c.s, strings.HasPrefix)
	}
	return mdlCompare(c.oper, mdlNum(u, c.f), c.n, func(int64, int64) bool { return false })
}

func mdlCompare[V cmp.Ordered](op mdlOper, x V, vs []V, prefix func(V, V) bool) bool {
	switch op {
	case moEq:
		return x == vs[0]
	case moNe:
		return x != vs[0]
	case moLt:
		return x < vs[0]
	case moLe:
		return x <= vs[0]
	case moGt:
		return x > vs[0]
	case moGe:
		return x >= vs[0]
	case moBetween:
		return vs[0] <= x && x <= vs[1]
	case moIn:
		return slices.Contains(vs, x)
	}
	return prefix(x, vs[0])
}

// problem returns why q cannot run: a negative limit, an order on an
// undeclared field, then its conditions' problems.
func (q *mdlQuery) problem() error {
	if q.hasLimit && q.limit < 0 {
		return &LookupError{Table: "User", Reason: fmt.Sprintf("negative limit %d", q.limit)}
	}
	for _, o := range q.order {
		if o.f == mdlFNick {
			return userFieldError(mdlFieldNames[mdlFNick])
		}
	}
	c := q.cond()
	return c.problem()
}

// results returns the records of s that q yields, in order, after the offset,
// up to the limit.
func (q *mdlQuery) results(s *mdlState) []*User {
	c := q.cond()
	var out []*User
	for _, id := range s.ids {
		if r := s.recs[id]; c.accepts(r) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *User) int {
		for _, o := range q.order {
			var r int
			if mdlIsStr(o.f) {
				r = strings.Compare(mdlStr(a, o.f), mdlStr(b, o.f))
			} else {
				r = cmp.Compare(mdlNum(a, o.f), mdlNum(b, o.f))
			}
			if o.desc {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.ID, b.ID)
	})
	out = out[min(q.offset, len(out)):]
	if q.hasLimit && q.limit >= 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

// The DB and its transactions.

// mdlDB is the model of a DB holding the User table.
type mdlDB struct {
	cur *mdlState // the committed state
	seq int64     // the largest key the auto-key sequence assigned or a write stored
}

func newMdlDB() *mdlDB { return &mdlDB{cur: newMdlState()} }

// stage returns a copy of rec ready to store: a zero id takes the next
// key of the sequence, whatever happens next.
func (db *mdlDB) stage(rec User) (*User, error) {
	u := rec
	if u.ID == 0 {
		db.seq++
		u.ID = db.seq
	}
	if err := mdlKeyError(&u); err != nil {
		return nil, err
	}
	return &u, nil
}

// advance moves the sequence past a stored key.
func (db *mdlDB) advance(id int64) {
	if id > db.seq {
		db.seq = id
	}
}

// errMdlConflict is a commit refused for a stale read or a changed
// record; errMdlStale flags a retry that only a concurrent writer could
// cause, which a sequential run never has.
var (
	errMdlConflict = errors.New("model: transaction conflict")
	errMdlStale    = errors.New("model: a retry went stale without a concurrent writer")
)

// mdlRead is a read of a write transaction, to read again at commit: at is
// its place in the transaction's history (made after its first at
// changes); again reads it on a state and reports whether it read the same.
type mdlRead struct {
	at    int
	again func(s *mdlState) bool
}

type mdlTx struct {
	db       *mdlDB
	snap     *mdlState // the committed state when the transaction began
	over     *mdlState // the snapshot with the transaction's writes, its log the history; nil before the first write
	writable bool
	done     bool
	reads    []mdlRead
}

// usable is the check of every call on the table through the
// transaction: an ended or (for a write) read-only transaction is an
// *AccessError.
func (tx *mdlTx) usable(write bool) error {
	switch {
	case tx.done:
		return &AccessError{Table: "User", Err: ErrTxDone}
	case write && !tx.writable:
		return &AccessError{Table: "User", Err: ErrReadOnly}
	}
	return nil
}

// history returns every change the transaction made, in order.
func (tx *mdlTx) history() []mdlChange {
	if tx.over == nil {
		return nil
	}
	return tx.over.log
}

// tryCommit ends the transaction and, if it may write, makes its history
// again on the latest committed state, reading again each read at its
// place; it commits if every read reads the same and every change finds
// the record version it changed and its keys free.
func (tx *mdlTx) tryCommit() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	hist := tx.history()
	if !tx.writable || len(hist) == 0 && len(tx.reads) == 0 {
		return nil
	}
	reads := slices.Clone(tx.reads) // an All's read comes after the reads of its loop, with an earlier place
	slices.SortStableFunc(reads, func(a, b mdlRead) int { return a.at - b.at })
	w := tx.db.cur.clone()
	r := 0
	for k, c := range hist {
		for ; r < len(reads) && reads[r].at <= k; r++ {
			if !reads[r].again(w) {
				return errMdlConflict
			}
		}
		if !w.redo(c) {
			return errMdlConflict
		}
	}
	for ; r < len(reads); r++ {
		if !reads[r].again(w) {
			return errMdlConflict
		}
	}
	tx.db.cur = w
	return nil
}

// redo makes a change of a transaction again on the state if the record it
// changed is still the version it changed (or still absent, for an
// insert) and its new keys are free.
func (s *mdlState) redo(c mdlChange) bool {
	e := c.new
	if e == nil {
		e = c.old
	}
	have, ok := s.recs[e.ID]
	if ok != (c.old != nil) || ok && have != c.old {
		return false
	}
	if c.new != nil {
		if _, h := s.conflict(c.new, false); h != nil {
			return false
		}
	}
	s.put(c.old, c.new)
	return true
}

// The table.

// mdlModel is a handle on the model's User table, bound to a transaction if
// tx is set: the model's side of mdlAPI.
type mdlModel struct {
	db *mdlDB
	tx *mdlTx
}

// visible returns what reads see, or why the handle cannot read.
func (m *mdlModel) visible() (*mdlState, error) {
	if m.tx == nil {
		return m.db.cur, nil
	}
	if err := m.tx.usable(false); err != nil {
		return nil, err
	}
	if m.tx.over != nil {
		return m.tx.over, nil
	}
	return m.tx.snap, nil
}

// writable returns why the handle cannot write, or nil.
func (m *mdlModel) writable() error {
	if m.tx == nil {
		return nil
	}
	return m.tx.usable(true)
}

// place is the place of a read made now in the transaction's history.
func (m *mdlModel) place() int {
	if m.tx == nil {
		return 0
	}
	return len(m.tx.history())
}

// remember records a read of a write transaction made at place at: again
// reads it on a state and reports whether it read the same. Outside a
// write transaction it records nothing.
func (m *mdlModel) remember(at int, again func(s *mdlState) bool) {
	if m.tx == nil || !m.tx.writable {
		return
	}
	m.tx.reads = append(m.tx.reads, mdlRead{at: at, again: again})
}

// rememberGet records that one(c) read r, err.
func (m *mdlModel) rememberGet(c mdlCond, r *User, err error) {
	m.remember(m.place(), func(s *mdlState) bool {
		r2, err2 := s.one(&c)
		return mdlSameGet(r, err, r2, err2)
	})
}

// rememberList records that q yielded recs; whole says it was read to the
// end, else only recs were read.
func (m *mdlModel) rememberList(at int, q mdlQuery, recs []*User, whole bool) {
	m.remember(at, func(s *mdlState) bool {
		again := q.results(s)
		if whole {
			return slices.Equal(again, recs)
		}
		return len(again) >= len(recs) && slices.Equal(again[:len(recs)], recs)
	})
}

// atomically runs fn on the committed state or on the transaction's overlay,
// undoing all of it if fn fails or panics: in a transaction, by changing
// back, so that its history holds the undone changes and their undoing.
func (m *mdlModel) atomically(fn func(s *mdlState) error) (err error) {
	s := m.db.cur
	if m.tx != nil {
		if err := m.tx.usable(true); err != nil {
			return err
		}
		if m.tx.over == nil {
			m.tx.over = m.tx.snap.clone()
		}
		s = m.tx.over
	}
	mark := len(s.log)
	ok := false
	defer func() {
		switch {
		case ok && m.tx == nil:
			s.log = s.log[:0]
		case m.tx == nil:
			s.discard(mark)
		case !ok:
			s.revert(mark)
		}
	}()
	err = fn(s)
	ok = err == nil
	return err
}

// refused records what a write refused with err read, and returns err: the
// holder of the key a *UniqueViolationError names and the record with u's
// primary key, or that no record has the primary key of an Update that
// found none.
func (m *mdlModel) refused(s *mdlState, u *User, err error) error {
	var uv *UniqueViolationError
	var nf *NotFoundError
	switch {
	case errors.As(err, &uv):
		// The key's holder, and the record with u's primary key: an update
		// that collided found its record, an insert found none.
		c, h, pk := uv.Constraint, s.holder(uv.Constraint, u), s.holder("primary", u)
		m.remember(len(s.log), func(s *mdlState) bool { return s.holder(c, u) == h && s.holder("primary", u) == pk })
	case errors.As(err, &nf):
		m.remember(len(s.log), func(s *mdlState) bool { return s.holder("primary", u) == nil })
	}
	return err
}

// store stores u in s unless a unique key of it is taken.
func (m *mdlModel) store(s *mdlState, u *User) error {
	if c, h := s.conflict(u, true); h != nil {
		return m.refused(s, u, mdlViolation(c, u, h))
	}
	s.edit(nil, u)
	m.db.advance(u.ID)
	return nil
}

// overwrite stores u in place of old, the record with its primary key,
// unless another record holds one of u's unique keys.
func (m *mdlModel) overwrite(s *mdlState, old, u *User) error {
	if c, h := s.conflict(u, false); h != nil {
		return m.refused(s, u, mdlViolation(c, u, h))
	}
	s.edit(old, u)
	return nil
}

// updatedBy calls an update callback on a copy of old and returns the record
// to store in its place, which must keep old's primary key.
func (m *mdlModel) updatedBy(old *User, fn func(User) (User, error)) (*User, error) {
	rec, err := fn(*old)
	if err != nil {
		return nil, &CallbackError{Table: "User", Callback: "update", Err: err}
	}
	if err := mdlKeyError(&rec); err != nil {
		return nil, err
	}
	if rec.ID != old.ID {
		return nil, &KeyError{Table: "User", Field: "id", Reason: "update changed the primary key", Err: ErrInvalidKey}
	}
	return &rec, nil
}

// createdBy calls a create callback and returns the record to store, which
// must match c, with its primary key assigned too.
func (m *mdlModel) createdBy(c *mdlCond, create func() (User, error)) (*User, error) {
	rec, err := create()
	if err != nil {
		return nil, &CallbackError{Table: "User", Callback: "create", Err: err}
	}
	if !c.accepts(&rec) {
		return nil, &LookupError{Table: "User", Reason: mdlMismatch(c, &rec)}
	}
	u, err := m.db.stage(rec)
	if err == nil && !c.accepts(u) {
		return nil, &LookupError{Table: "User", Reason: "the created record does not match the lookup once its primary key is assigned"}
	}
	return u, err
}

func (m *mdlModel) Insert(rec User) (User, error) {
	if err := m.writable(); err != nil {
		return User{}, err
	}
	u, err := m.db.stage(rec)
	if err != nil {
		return User{}, err
	}
	if err := m.atomically(func(s *mdlState) error { return m.store(s, u) }); err != nil {
		return User{}, err
	}
	return *u, nil
}

func (m *mdlModel) Update(rec User) error {
	if err := m.writable(); err != nil {
		return err
	}
	if err := mdlKeyError(&rec); err != nil {
		return err
	}
	u := &rec
	return m.atomically(func(s *mdlState) error {
		old, ok := s.recs[u.ID]
		if !ok {
			return m.refused(s, u, &NotFoundError{Table: "User"})
		}
		return m.overwrite(s, old, u)
	})
}

func (m *mdlModel) Upsert(rec User) (User, bool, error) {
	if err := m.writable(); err != nil {
		return User{}, false, err
	}
	u, err := m.db.stage(rec)
	if err != nil {
		return User{}, false, err
	}
	inserted := false
	err = m.atomically(func(s *mdlState) error {
		old, ok := s.recs[u.ID]
		if !ok {
			inserted = true
			return m.store(s, u)
		}
		inserted = false
		return m.overwrite(s, old, u)
	})
	if err != nil {
		return User{}, false, err
	}
	return *u, inserted, nil
}

func (m *mdlModel) Delete(c mdlCond) (User, error) {
	if err := m.writable(); err != nil {
		return User{}, err
	}
	if err := c.problem(); err != nil {
		return User{}, err
	}
	s, _ := m.visible()
	r, err := s.one(&c) // the lookup is a read of its own
	m.rememberGet(c, r, err)
	if err != nil {
		return User{}, err
	}
	if err := m.atomically(func(s *mdlState) error { s.edit(r, nil); return nil }); err != nil {
		return User{}, err
	}
	return *r, nil
}

func (m *mdlModel) Get(c mdlCond) (User, error) {
	s, err := m.visible()
	if err != nil {
		return User{}, err
	}
	if err := c.problem(); err != nil {
		return User{}, err // a lookup that cannot run reads nothing
	}
	r, err := s.one(&c)
	m.rememberGet(c, r, err)
	if err != nil {
		return User{}, err
	}
	return *r, nil
}

// GetOrCreate: a read-only transaction finds, and no more.
func (m *mdlModel) GetOrCreate(c mdlCond, create func() (User, error)) (User, bool, error) {
	s, err := m.visible()
	if err != nil {
		return User{}, false, err
	}
	if err := c.problem(); err != nil {
		return User{}, false, err
	}
	r, err := s.one(&c)
	m.rememberGet(c, r, err)
	if !errors.Is(err, ErrNotFound) {
		if err != nil {
			return User{}, false, err
		}
		return *r, false, nil
	}
	if err := m.writable(); err != nil {
		return User{}, false, err
	}
	return m.create(c, create)
}

// create is GetOrCreate's and UpdateOrCreate's creation once the lookup
// found nothing: the record create returns, stored.
func (m *mdlModel) create(c mdlCond, create func() (User, error)) (User, bool, error) {
	u, err := m.createdBy(&c, create)
	if err != nil {
		return User{}, false, err
	}
	if err := m.atomically(func(s *mdlState) error { return m.store(s, u) }); err != nil {
		return User{}, false, err
	}
	return *u, true, nil
}

func (m *mdlModel) UpdateOrCreate(c mdlCond, update func(User) (User, error), create func() (User, error)) (User, bool, error) {
	if err := m.writable(); err != nil {
		return User{}, false, err
	}
	if err := c.problem(); err != nil {
		return User{}, false, err
	}
	s, _ := m.visible()
	cur, err := s.one(&c)
	m.rememberGet(c, cur, err)
	switch {
	case errors.Is(err, ErrNotFound):
		return m.create(c, create)
	case err != nil:
		return User{}, false, err
	}
	nu, err := m.updatedBy(cur, update)
	if err != nil {
		return User{}, false, err
	}
	if err := m.atomically(func(s *mdlState) error { return m.overwrite(s, cur, nu) }); err != nil {
		return User{}, false, err
	}
	return *nu, false, nil
}

func (m *mdlModel) InsertMany(recs []User, oc OnConflict[User]) (BulkResult[User], error) {
	if err := m.writable(); err != nil {
		return BulkResult[User]{}, err
	}
	if oc.Ignore && oc.Update != nil {
		return BulkResult[User]{}, &LookupError{Table: "User", Reason: "OnConflict sets both Ignore and Update"}
	}
	us := make([]*User, len(recs))
	for i, r := range recs {
		u, err := m.db.stage(r)
		if err != nil {
			return BulkResult[User]{}, err
		}
		m.db.advance(u.ID) // as if inserted one by one: a later record's key comes after it
		us[i] = u
	}
	var res BulkResult[User]
	err := m.atomically(func(s *mdlState) error {
		for i, u := range us {
			if oc.Update != nil {
				if err := m.merge(s, u, oc.Update, &res); err != nil {
					return err
				}
				continue
			}
			err := m.store(s, u)
			if err != nil && !oc.Ignore {
				return err
			}
			if err != nil {
				res.Skipped = append(res.Skipped, recs[i])
				continue
			}
			res.Inserted = append(res.Inserted, *u)
		}
		return nil
	})
	if err != nil {
		return BulkResult[User]{}, err
	}
	return res, nil
}

// merge is InsertMany's step with an Update: u is inserted or, if a record
// holds one of its unique keys, merged into that record.
func (m *mdlModel) merge(s *mdlState, u *User, merge func(existing, proposed User) (User, error), res *BulkResult[User]) error {
	_, holder := s.conflict(u, true)
	if holder == nil {
		s.edit(nil, u)
		m.db.advance(u.ID)
		res.Inserted = append(res.Inserted, *u)
		return nil
	}
	proposed := *u
	nu, err := m.updatedBy(holder, func(existing User) (User, error) { return merge(existing, proposed) })
	if err != nil {
		return err
	}
	if err := m.overwrite(s, holder, nu); err != nil {
		return err
	}
	res.Updated = append(res.Updated, *nu)
	return nil
}

// read returns the state a query reads, or why it cannot run.
func (m *mdlModel) read(q mdlQuery) (*mdlState, error) {
	s, err := m.visible()
	if err != nil {
		return nil, err
	}
	if err := q.problem(); err != nil {
		return nil, err
	}
	return s, nil
}

func (m *mdlModel) Collect(q mdlQuery) ([]User, error) {
	s, err := m.read(q)
	if err != nil {
		return nil, err
	}
	recs := q.results(s)
	m.rememberList(m.place(), q, recs, true)
	var out []User
	for _, r := range recs {
		out = append(out, *r)
	}
	return out, nil
}

// All yields q's records to yield until it returns false, on the state of
// when it began: yield may write through the handle. Its read is placed
// where it began.
func (m *mdlModel) All(q mdlQuery, yield func(User) bool) error {
	s, err := m.read(q)
	if err != nil {
		return err
	}
	at := m.place()
	recs := q.results(s)
	n, whole := 0, true
	for _, r := range recs {
		n++
		if !yield(*r) {
			whole = false
			break
		}
	}
	m.rememberList(at, q, recs[:n], whole)
	return nil
}

func (m *mdlModel) Count(q mdlQuery) (int, error) {
	s, err := m.read(q)
	if err != nil {
		return 0, err
	}
	n := q.size(s)
	m.remember(m.place(), func(s *mdlState) bool { return q.size(s) == n })
	return n, nil
}

// size is the number of q's records in s.
func (q *mdlQuery) size(s *mdlState) int {
	c := q.cond()
	n := 0
	for _, r := range s.recs {
		if c.accepts(r) {
			n++
		}
	}
	n = max(0, n-q.offset)
	if q.hasLimit {
		n = min(n, q.limit)
	}
	return n
}

func (m *mdlModel) First(q mdlQuery) (User, bool, error) {
	s, err := m.read(q)
	if err != nil {
		return User{}, false, err
	}
	recs := q.results(s)
	if len(recs) == 0 {
		m.rememberList(m.place(), q, nil, true)
		return User{}, false, nil
	}
	m.rememberList(m.place(), q, recs[:1], false) // a later match does not count
	return *recs[0], true, nil
}

// matched returns the records that Query.Delete or Query.Update changes:
// q's records, a read of its own.
func (m *mdlModel) matched(q mdlQuery) ([]*User, error) {
	if err := m.writable(); err != nil {
		return nil, err
	}
	s, err := m.read(q)
	if err != nil {
		return nil, err
	}
	recs := q.results(s)
	m.rememberList(m.place(), q, recs, true)
	return recs, nil
}

func (m *mdlModel) QueryDelete(q mdlQuery) (int, error) {
	recs, err := m.matched(q)
	if err != nil {
		return 0, err
	}
	err = m.atomically(func(s *mdlState) error {
		for _, r := range recs {
			s.edit(r, nil)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(recs), nil
}

func (m *mdlModel) QueryUpdate(q mdlQuery, fn func(User) (User, error)) (int, error) {
	olds, err := m.matched(q)
	if err != nil {
		return 0, err
	}
	news := make([]*User, len(olds))
	for i, old := range olds {
		nu, err := m.updatedBy(old, fn)
		if err != nil {
			return 0, err
		}
		news[i] = nu
	}
	err = m.atomically(func(s *mdlState) error {
		for i, old := range olds {
			if err := m.overwrite(s, old, news[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(olds), nil
}

// Len is 0 through a handle that cannot read.
func (m *mdlModel) Len() int {
	s, err := m.visible()
	if err != nil {
		return 0
	}
	n := len(s.recs)
	m.remember(m.place(), func(s *mdlState) bool { return len(s.recs) == n })
	return n
}

func (m *mdlModel) Begin(writable bool) (mdlAPI, error) {
	return &mdlModel{db: m.db, tx: &mdlTx{db: m.db, snap: m.db.cur.clone(), writable: writable}}, nil
}

// RunUpdate runs fn in a write transaction and commits it, running fn
// again on a new snapshot if the commit conflicts. A sequential run
// conflicts only with what the first run of fn committed outside the
// transaction (mdlOp.outside), which fn does not do again: a second
// conflict is the model's error.
func (m *mdlModel) RunUpdate(fn func(mdlAPI) error) error {
	for range 2 {
		err := m.runOnce(fn)
		if !errors.Is(err, errMdlConflict) {
			return err
		}
	}
	return errMdlStale
}

func (m *mdlModel) runOnce(fn func(mdlAPI) error) error {
	h, _ := m.Begin(true)
	defer h.Rollback()
	if err := fn(h); err != nil {
		return err
	}
	return h.(*mdlModel).tx.tryCommit()
}

func (m *mdlModel) RunView(fn func(mdlAPI) error) error {
	h, _ := m.Begin(false)
	defer h.Rollback()
	return fn(h)
}

// Savepoint runs fn as a nested transaction: if fn fails or panics, its
// changes are undone (and stay in the history, with their undoing).
func (m *mdlModel) Savepoint(fn func(mdlAPI) error) (err error) {
	switch {
	case m.tx.done:
		return ErrTxDone
	case !m.tx.writable:
		return ErrReadOnly
	}
	sp := m.place()
	ok := false
	defer func() {
		if !ok && !m.tx.done && m.tx.over != nil {
			m.tx.over.revert(sp)
		}
	}()
	err = fn(m)
	ok = err == nil
	return err
}

func (m *mdlModel) Commit() error {
	err := m.tx.tryCommit()
	if errors.Is(err, errMdlConflict) {
		return ErrConflict
	}
	return err
}

func (m *mdlModel) Rollback() error {
	if m.tx.done {
		return ErrTxDone
	}
	m.tx.done = true
	m.tx.over, m.tx.reads = nil, nil
	return nil
}

// records returns what reads through the handle see, without noting a read.
func (m *mdlModel) records() ([]User, error) {
	s, err := m.visible()
	if err != nil {
		return nil, err
	}
	return s.all(), nil
}

// mdlMismatch is why a created record u that does not match lookup c is
// refused, by the documented rule: the first condition on a field of the
// conjunction (nested Ands flattened) that u fails, with u's value, or a
// generic reason if that condition is an Or or a Not.
func mdlMismatch(c *mdlCond, u *User) string {
	var flat []*mdlCond
	var walk func(c *mdlCond)
	walk = func(c *mdlCond) {
		if c.oper == moAnd {
			for i := range c.subs {
				walk(&c.subs[i])
			}
			return
		}
		flat = append(flat, c)
	}
	walk(c)
	quote := func(s string) string {
		if len(s) <= 64 {
			return strconv.Quote(s)
		}
		return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:48]), len(s))
	}
	for _, t := range flat {
		if t.accepts(u) {
			continue
		}
		if t.oper == moOr || t.oper == moNot || t.oper == moAll {
			break
		}
		var vals []string
		have := fmt.Sprint(mdlNum(u, t.f))
		if mdlIsStr(t.f) {
			ss := slices.Clone(t.s)
			if t.oper == moIn {
				slices.Sort(ss)
				ss = slices.Compact(ss)
			}
			for _, v := range ss {
				vals = append(vals, quote(v))
			}
			have = quote(mdlStr(u, t.f))
		} else {
			ns := slices.Clone(t.n)
			if t.oper == moIn {
				slices.Sort(ns)
				ns = slices.Compact(ns)
			}
			for _, v := range ns {
				vals = append(vals, fmt.Sprint(v))
			}
		}
		name := mdlFieldNames[t.f]
		var want string
		switch t.oper {
		case moEq:
			want = name + "=" + vals[0]
		case moBetween:
			want = name + " between " + vals[0] + " and " + vals[1]
		case moIn:
			if len(vals) > 10 {
				vals = append(vals[:10], fmt.Sprintf("…(%d values)", len(vals)))
			}
			want = name + " in [" + strings.Join(vals, ", ") + "]"
		case moPrefix:
			want = name + " starts with " + vals[0]
		default:
			want = name + " " + map[mdlOper]string{moNe: "!=", moLt: "<", moLe: "<=", moGt: ">", moGe: ">="}[t.oper] + " " + vals[0]
		}
		return fmt.Sprintf("the created record has %s %s, which does not match %s", name, have, want)
	}
	return "the created record does not match the lookup"
}
