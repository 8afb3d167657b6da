package recstore

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Model-based randomized testing (TESTING.md §2).
//
// mdlModel is a trivially correct reference for the User table of newUsers:
// a map by primary key, a map per unique index (user_email, org_username)
// and linear scans for everything else (Get, Filter, ordering). It knows
// transactions: a snapshot, a private overlay whose change log doubles as
// the list the commit replays, the reads to validate at commit, savepoints.
//
// One interpreter, mdlRun, drives both the model (mdlModel) and the store
// (mdlStore) through the same interface, mdlAPI, so that callbacks (create,
// update, merge) behave identically on both sides and every result can be
// compared as a string: records, flags, counts, and errors by sentinel
// (errors.Is), dynamic type and message.
//
// Auto-assigned keys. The store takes an auto-assigned key from the table's
// sequence when it prepares a record, before any other check, so a failed
// insert, a rolled-back transaction, an InsertMany that aborts or a write in
// an ended transaction leaves a gap; and every key a caller chooses moves
// the sequence past it as soon as it is stored, inside a transaction too,
// even one that then rolls back (the sequence is the table's, not the
// transaction's). The model mirrors the sequence exactly (mdlDB.prepare and
// mdlDB.note) instead of comparing records modulo their id: every result is
// compared whole, ids included, so the sequence's rules are under test too.
//
// Record identity. The store validates a transaction at commit by pointer
// identity: a record it read or changed must still be the same stored
// version. The model stores immutable *User values and gives every write a
// new one, so its pointer identity mirrors the store's.

var (
	flagModelOps  = flag.Int("model.ops", 0, "operations of TestModel_Randomized (0: 100,000)")
	flagModelSeed = flag.Uint64("model.seed", 0, "seed of the model-based tests and of the concurrent model test (0: random)")
)

// mdlSeed returns the seed of a model-based test and logs how to run it
// again.
func mdlSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *flagModelSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed: -model.seed=%d", seed)
	return seed
}

// mdlNick is a field of User that no table declares: conditions on it must
// fail with ErrUnknownField.
var mdlNick = Field("nick", func(u *User) string { return u.Name })

// ---------------------------------------------------------------------------
// The reference store.

// mdlChange is one change of a model state: old replaced by new, either nil
// for an insert or a delete.
type mdlChange struct{ old, new *User }

// mdlState is one state of the table: records by primary key, a map per
// unique index, the primary keys in order, and a log of changes for rollback
// (and, in a transaction's overlay, for the commit to replay).
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

func (s *mdlState) clone() *mdlState {
	return &mdlState{recs: maps.Clone(s.recs), email: maps.Clone(s.email), orgUser: maps.Clone(s.orgUser), ids: slices.Clone(s.ids)}
}

func mdlOrgUser(u *User) [2]string { return [2]string{u.Org, u.Username} }

func (s *mdlState) apply(old, new *User) {
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

func (s *mdlState) change(old, new *User) {
	s.apply(old, new)
	s.log = append(s.log, mdlChange{old, new})
}

func (s *mdlState) rollbackTo(n int) {
	for len(s.log) > n {
		c := s.log[len(s.log)-1]
		s.log = s.log[:len(s.log)-1]
		s.apply(c.new, c.old)
	}
}

// sorted returns the records in primary key order.
func (s *mdlState) sorted() []User {
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

// conflict mirrors tableWork.conflict: the unique index (primary key only
// if checkPK, then user_email, then org_username) and the record that u
// would share a key with, other than the record with u's primary key.
func (s *mdlState) conflict(u *User, checkPK bool) (string, *User) {
	if h, ok := s.recs[u.ID]; ok && checkPK {
		return "primary", h
	}
	if id, ok := s.email[u.Email]; ok && id != u.ID {
		return "user_email", s.recs[id]
	}
	if id, ok := s.orgUser[mdlOrgUser(u)]; ok && id != u.ID {
		return "org_username", s.recs[id]
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

// getOne is Get on the state: the one record c matches.
func (s *mdlState) getOne(c *mdlCond) (*User, error) {
	var found *User
	n := 0
	for _, id := range s.ids {
		if r := s.recs[id]; c.match(r) {
			found = r
			n++
		}
	}
	switch n {
	case 0:
		return nil, &NotFoundError{Table: "User"}
	case 1:
		return found, nil
	}
	return nil, &MultipleReturnedError{Table: "User", Count: min(n, maxGetResults)}
}

// mdlEncodedLen is the length of a string's component in a composite key:
// every 0x00 escaped, then a two-byte terminator.
func mdlEncodedLen(s string) int { return len(s) + strings.Count(s, "\x00") + 2 }

// mdlKeyError mirrors tableSchema.entryOf: each index's key in index order
// (id, user_email, org_username, user_age) against MaxKeySize, then the
// zero primary key.
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

// mdlDB is the model of a DB holding the User table.
type mdlDB struct {
	cur *mdlState
	seq int64 // the largest key the auto-key sequence assigned or a write stored
}

func newMdlDB() *mdlDB { return &mdlDB{cur: newMdlState()} }

// prepare mirrors tableSchema.prepare: a zero id takes the next key of the
// sequence, whatever happens next.
func (db *mdlDB) prepare(rec User) (*User, error) {
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

// note mirrors tableWork.notePK: a stored key moves the sequence past it.
func (db *mdlDB) note(id int64) {
	if id > db.seq {
		db.seq = id
	}
}

// errMdlConflict is the model's errTxConflict; errMdlStale flags a retry
// that a single goroutine can never cause.
var (
	errMdlConflict = errors.New("model: transaction conflict")
	errMdlStale    = errors.New("model: read went stale without a concurrent writer")
)

// mdlRead is a read of a write transaction, validated at commit: the records
// q matched in the transaction's snapshot.
type mdlRead struct {
	q    mdlQuery
	want []*User
}

type mdlTx struct {
	db       *mdlDB
	snap     *mdlState // the committed state when the transaction began
	over     *mdlState // the snapshot with the transaction's writes; nil before the first
	writable bool
	done     bool
	reads    []mdlRead
}

// usable mirrors Table.access: a call on a table through an ended or
// read-only transaction is an *AccessError.
func (tx *mdlTx) usable(write bool) error {
	switch {
	case tx.done:
		return &AccessError{Table: "User", Err: ErrTxDone}
	case write && !tx.writable:
		return &AccessError{Table: "User", Err: ErrReadOnly}
	}
	return nil
}

func (tx *mdlTx) rollbackTo(sp int) {
	if tx.over != nil {
		tx.over.rollbackTo(sp)
	}
}

// commit mirrors Tx.commit and tableWork.replayInto.
func (tx *mdlTx) commit() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	if !tx.writable || (tx.over == nil || len(tx.over.log) == 0) && len(tx.reads) == 0 {
		return nil
	}
	cur := tx.db.cur
	for _, r := range tx.reads {
		if !slices.Equal(r.q.eval(cur), r.want) {
			return errMdlConflict
		}
	}
	if tx.over == nil {
		return nil
	}
	for _, c := range tx.over.log {
		e := c.new
		if e == nil {
			e = c.old
		}
		have, ok := cur.recs[e.ID]
		if ok != (c.old != nil) || ok && have != c.old {
			cur.rollbackTo(0)
			return errMdlConflict
		}
		if c.new != nil {
			if _, h := cur.conflict(c.new, !ok); h != nil {
				cur.rollbackTo(0)
				return errMdlConflict
			}
			tx.db.note(c.new.ID)
		}
		cur.change(have, c.new)
	}
	cur.log = cur.log[:0]
	return nil
}

// mdlModel is a handle on the model's User table, bound to a transaction if
// tx is set: the model's side of mdlAPI.
type mdlModel struct {
	db *mdlDB
	tx *mdlTx
}

// state returns what reads see.
func (m *mdlModel) state() (*mdlState, error) {
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

// write applies fn atomically, to the committed state or to the
// transaction's overlay, undoing all of it if fn fails.
func (m *mdlModel) write(fn func(s *mdlState) error) error {
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
	err := fn(s)
	if err != nil {
		s.rollbackTo(mark)
	}
	if m.tx == nil {
		s.log = s.log[:0]
	}
	return err
}

// noteRead mirrors noteRead: a write transaction remembers what q matched
// in its snapshot. A query that cannot run reads nothing and is not noted
// (see the row "unknown field in Get inside a write transaction" of
// TestBadInput).
func (m *mdlModel) noteRead(q mdlQuery) {
	tx := m.tx
	if tx == nil || !tx.writable || tx.done || q.check() != nil {
		return
	}
	tx.reads = append(tx.reads, mdlRead{q: q, want: q.eval(tx.snap)})
}

func (m *mdlModel) insert(s *mdlState, u *User) error {
	if c, h := s.conflict(u, true); h != nil {
		return mdlViolation(c, u, h)
	}
	s.change(nil, u)
	m.db.note(u.ID)
	return nil
}

func (m *mdlModel) replace(s *mdlState, old, u *User) error {
	if c, h := s.conflict(u, false); h != nil {
		return mdlViolation(c, u, h)
	}
	s.change(old, u)
	return nil
}

// updated mirrors tableSchema.updated.
func (m *mdlModel) updated(old *User, fn func(User) (User, error)) (*User, error) {
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

// created mirrors Table.created.
func (m *mdlModel) created(c *mdlCond, create func() (User, error)) (*User, error) {
	rec, err := create()
	if err != nil {
		return nil, &CallbackError{Table: "User", Callback: "create", Err: err}
	}
	if !c.match(&rec) {
		return nil, &LookupError{Table: "User", Reason: "the created record does not match the lookup"}
	}
	u, err := m.db.prepare(rec)
	if err == nil && !c.match(u) {
		return nil, &LookupError{Table: "User", Reason: "the created record does not match the lookup once its primary key is assigned"}
	}
	return u, err
}

// insertUnlessFound mirrors Table.insertUnlessFound.
func (m *mdlModel) insertUnlessFound(c *mdlCond, u *User) (*User, bool, error) {
	var got *User
	created := false
	err := m.write(func(s *mdlState) error {
		r, err := s.getOne(c)
		if !errors.Is(err, ErrNotFound) {
			got = r
			return err
		}
		if err := m.insert(s, u); err != nil {
			return err
		}
		got, created = u, true
		return nil
	})
	return got, created, err
}

func (m *mdlModel) Insert(rec User) (User, error) {
	if err := m.writable(); err != nil {
		return User{}, err
	}
	u, err := m.db.prepare(rec)
	if err != nil {
		return User{}, err
	}
	if err := m.write(func(s *mdlState) error { return m.insert(s, u) }); err != nil {
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
	return m.write(func(s *mdlState) error {
		old, ok := s.recs[u.ID]
		if !ok {
			return &NotFoundError{Table: "User"}
		}
		return m.replace(s, old, u)
	})
}

func (m *mdlModel) Upsert(rec User) (User, bool, error) {
	if err := m.writable(); err != nil {
		return User{}, false, err
	}
	u, err := m.db.prepare(rec)
	if err != nil {
		return User{}, false, err
	}
	inserted := false
	err = m.write(func(s *mdlState) error {
		old, ok := s.recs[u.ID]
		if !ok {
			inserted = true
			return m.insert(s, u)
		}
		inserted = false
		return m.replace(s, old, u)
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
	if err := c.check(); err != nil {
		return User{}, err
	}
	var removed *User
	err := m.write(func(s *mdlState) error {
		r, err := s.getOne(&c)
		if err != nil {
			return err
		}
		s.change(r, nil)
		removed = r
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return *removed, nil
}

func (m *mdlModel) Get(c mdlCond) (User, error) {
	s, err := m.state()
	if err != nil {
		return User{}, err
	}
	m.noteRead(mdlQuery{conds: []mdlCond{c}})
	if err := c.check(); err != nil {
		return User{}, err
	}
	r, err := s.getOne(&c)
	if err != nil {
		return User{}, err
	}
	return *r, nil
}

func (m *mdlModel) GetOrCreate(c mdlCond, create func() (User, error)) (User, bool, error) {
	s, err := m.state()
	if err != nil {
		return User{}, false, err
	}
	if err := c.check(); err != nil {
		return User{}, false, err
	}
	m.noteRead(mdlQuery{conds: []mdlCond{c}})
	if r, err := s.getOne(&c); !errors.Is(err, ErrNotFound) {
		if err != nil {
			return User{}, false, err
		}
		return *r, false, nil
	}
	if m.tx != nil {
		if err := m.tx.usable(true); err != nil {
			return User{}, false, err
		}
	}
	u, err := m.created(&c, create)
	if err != nil {
		return User{}, false, err
	}
	r, created, err := m.insertUnlessFound(&c, u)
	if err != nil {
		return User{}, false, err
	}
	return *r, created, nil
}

func (m *mdlModel) UpdateOrCreate(c mdlCond, update func(User) (User, error), create func() (User, error)) (User, bool, error) {
	if err := m.writable(); err != nil {
		return User{}, false, err
	}
	if err := c.check(); err != nil {
		return User{}, false, err
	}
	m.noteRead(mdlQuery{conds: []mdlCond{c}})
	s, _ := m.state()
	cur, err := s.getOne(&c)
	switch {
	case errors.Is(err, ErrNotFound):
		u, err := m.created(&c, create)
		if err != nil {
			return User{}, false, err
		}
		r, created, err := m.insertUnlessFound(&c, u)
		if err == nil && !created {
			return User{}, false, errMdlStale
		}
		if err != nil {
			return User{}, false, err
		}
		return *r, created, nil
	case err != nil:
		return User{}, false, err
	}
	nu, err := m.updated(cur, update)
	if err != nil {
		return User{}, false, err
	}
	err = m.write(func(s *mdlState) error {
		if now, err := s.getOne(&c); err != nil || now != cur {
			return errMdlStale
		}
		return m.replace(s, s.recs[nu.ID], nu)
	})
	if err != nil {
		return User{}, false, err
	}
	return *nu, false, nil
}

func (m *mdlModel) prepareAll(recs []User) ([]*User, error) {
	out := make([]*User, len(recs))
	for i, r := range recs {
		u, err := m.db.prepare(r)
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// writable mirrors Table.writable: a read-only or ended transaction, which
// writes that run callbacks check before calling them.
func (m *mdlModel) writable() error {
	if m.tx == nil {
		return nil
	}
	return m.tx.usable(true)
}

func (m *mdlModel) InsertMany(recs []User, oc OnConflict[User]) (BulkResult[User], error) {
	if err := m.writable(); err != nil {
		return BulkResult[User]{}, err
	}
	if oc.Ignore && oc.Update != nil {
		return BulkResult[User]{}, &LookupError{Table: "User", Reason: "OnConflict sets both Ignore and Update"}
	}
	if oc.Update != nil {
		return m.insertManyMerging(recs, oc.Update)
	}
	us, err := m.prepareAll(recs)
	if err != nil {
		return BulkResult[User]{}, err
	}
	var res BulkResult[User]
	err = m.write(func(s *mdlState) error {
		res = BulkResult[User]{}
		for i, u := range us {
			if c, h := s.conflict(u, true); h != nil {
				if !oc.Ignore {
					return mdlViolation(c, u, h)
				}
				// Skipping read the record in the way.
				m.noteRead(mdlQuery{conds: []mdlCond{{op: opEq, f: mdlFID, n: []int64{h.ID}}}})
				res.Skipped = append(res.Skipped, recs[i])
				continue
			}
			if err := m.insert(s, u); err != nil {
				return err
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

// insertManyMerging mirrors Table.insertManyMerging: plan on a copy,
// calling merge, then replay the plan.
func (m *mdlModel) insertManyMerging(recs []User, merge func(existing, proposed User) (User, error)) (BulkResult[User], error) {
	us, err := m.prepareAll(recs)
	if err != nil {
		return BulkResult[User]{}, err
	}
	s, err := m.state()
	if err != nil {
		return BulkResult[User]{}, err
	}
	sim := s.clone()
	var steps []mdlChange
	for _, u := range us {
		_, holder := sim.conflict(u, true)
		if holder == nil {
			sim.change(nil, u)
			m.db.note(u.ID)
			steps = append(steps, mdlChange{new: u})
			continue
		}
		proposed := *u
		nu, err := m.updated(holder, func(existing User) (User, error) { return merge(existing, proposed) })
		if err != nil {
			return BulkResult[User]{}, err
		}
		if err := m.replace(sim, holder, nu); err != nil {
			return BulkResult[User]{}, err
		}
		steps = append(steps, mdlChange{old: holder, new: nu})
	}
	var res BulkResult[User]
	err = m.write(func(s *mdlState) error {
		res = BulkResult[User]{}
		for _, st := range steps {
			if st.old == nil {
				if m.insert(s, st.new) != nil {
					return errMdlStale
				}
				res.Inserted = append(res.Inserted, *st.new)
				continue
			}
			cur, ok := s.recs[st.new.ID]
			if !ok || cur != st.old || m.replace(s, cur, st.new) != nil {
				return errMdlStale
			}
			res.Updated = append(res.Updated, *st.new)
		}
		return nil
	})
	if err != nil {
		return BulkResult[User]{}, err
	}
	return res, nil
}

// prepareQ mirrors Query.prepare.
func (m *mdlModel) prepareQ(q mdlQuery) (*mdlState, error) {
	s, err := m.state()
	if err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	m.noteRead(q)
	return s, nil
}

func (m *mdlModel) Collect(q mdlQuery) ([]User, error) {
	s, err := m.prepareQ(q)
	if err != nil {
		return nil, err
	}
	var out []User
	for _, r := range q.eval(s) {
		out = append(out, *r)
	}
	return out, nil
}

func (m *mdlModel) Count(q mdlQuery) (int, error) {
	s, err := m.prepareQ(q)
	if err != nil {
		return 0, err
	}
	c := q.cond()
	n := 0
	for _, r := range s.recs {
		if c.match(r) {
			n++
		}
	}
	n = max(0, n-q.offset)
	if q.hasLimit {
		n = min(n, q.limit)
	}
	return n, nil
}

func (m *mdlModel) First(q mdlQuery) (User, bool, error) {
	s, err := m.prepareQ(q)
	if err != nil {
		return User{}, false, err
	}
	recs := q.eval(s)
	if len(recs) == 0 {
		return User{}, false, nil
	}
	return *recs[0], true, nil
}

func (m *mdlModel) QueryDelete(q mdlQuery) (int, error) {
	if err := m.writable(); err != nil {
		return 0, err
	}
	if _, err := m.prepareQ(q); err != nil {
		return 0, err
	}
	n := 0
	err := m.write(func(s *mdlState) error {
		recs := q.eval(s)
		for _, r := range recs {
			s.change(r, nil)
		}
		n = len(recs)
		return nil
	})
	return n, err
}

func (m *mdlModel) QueryUpdate(q mdlQuery, fn func(User) (User, error)) (int, error) {
	if err := m.writable(); err != nil {
		return 0, err
	}
	s, err := m.prepareQ(q)
	if err != nil {
		return 0, err
	}
	olds := q.eval(s)
	news := make([]*User, len(olds))
	for i, old := range olds {
		nu, err := m.updated(old, fn)
		if err != nil {
			return 0, err
		}
		news[i] = nu
	}
	err = m.write(func(w *mdlState) error {
		if !slices.Equal(q.eval(w), olds) {
			return errMdlStale
		}
		for i, old := range olds {
			if err := m.replace(w, old, news[i]); err != nil {
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

func (m *mdlModel) Len() int {
	s, err := m.state()
	if err != nil {
		return 0
	}
	m.noteRead(mdlQuery{})
	return len(s.recs)
}

func (m *mdlModel) Begin(writable bool) (mdlAPI, error) {
	return &mdlModel{db: m.db, tx: &mdlTx{db: m.db, snap: m.db.cur.clone(), writable: writable}}, nil
}

func (m *mdlModel) RunUpdate(fn func(mdlAPI) error) error {
	for range maxAttempts {
		err := m.attempt(fn)
		if !errors.Is(err, errMdlConflict) {
			return err
		}
	}
	return ErrConflict
}

func (m *mdlModel) attempt(fn func(mdlAPI) error) error {
	h, _ := m.Begin(true)
	defer h.Rollback()
	if err := fn(h); err != nil {
		return err
	}
	return h.(*mdlModel).tx.commit()
}

func (m *mdlModel) RunView(fn func(mdlAPI) error) error {
	h, _ := m.Begin(false)
	defer h.Rollback()
	return fn(h)
}

func (m *mdlModel) Savepoint(fn func(mdlAPI) error) (err error) {
	switch {
	case m.tx.done:
		return ErrTxDone
	case !m.tx.writable:
		return ErrReadOnly
	}
	sp := 0
	if m.tx.over != nil {
		sp = len(m.tx.over.log)
	}
	defer func() {
		if r := recover(); r != nil {
			m.tx.rollbackTo(sp)
			panic(r)
		}
		if err != nil && !m.tx.done {
			m.tx.rollbackTo(sp)
		}
	}()
	return fn(m)
}

func (m *mdlModel) Commit() error {
	err := m.tx.commit()
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
	m.tx.over = nil
	return nil
}

// records returns what reads through the handle see, without noting a read.
func (m *mdlModel) records() ([]User, error) {
	s, err := m.state()
	if err != nil {
		return nil, err
	}
	return s.sorted(), nil
}

// ---------------------------------------------------------------------------
// The store's side.

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
	st := versionOf(s.t)
	if s.tx != nil {
		st = txViewOf(s.tx, s.t)
	}
	var out []User
	st.trees[0].Scan(func(r *User) bool {
		out = append(out, *r)
		return true
	})
	return out, nil
}

// ---------------------------------------------------------------------------
// Conditions and queries, for the store and for the model.

// The fields of User that conditions and orderings use; mdlFNick is not
// declared in the table.
const (
	mdlFID = iota
	mdlFEmail
	mdlFOrg
	mdlFUsername
	mdlFName
	mdlFAge
	mdlFNick
)

var mdlFieldNames = []string{"id", "email", "org", "username", "name", "age", "nick"}

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
	return u.Name // name, and nick (whose accessor reads Name)
}

func mdlNum(u *User, f int) int64 {
	if f == mdlFID {
		return u.ID
	}
	return int64(u.Age)
}

// mdlCond is a generated condition: Build makes the store's Cond, match and
// check are the model's meaning of it.
type mdlCond struct {
	op   condOp
	f    int
	s    []string // the values of a condition on a string field
	n    []int64  // the values of a condition on a numeric field
	subs []mdlCond
}

func mdlAnd(subs ...mdlCond) mdlCond { return mdlCond{op: opAnd, subs: subs} }

func (c *mdlCond) build() Cond[User] {
	switch c.op {
	case opAll:
		return Cond[User]{}
	case opAnd, opOr, opNot:
		subs := make([]Cond[User], len(c.subs))
		for i := range c.subs {
			subs[i] = c.subs[i].build()
		}
		switch c.op {
		case opAnd:
			return And(subs...)
		case opOr:
			return Or(subs...)
		}
		return Not(subs[0])
	}
	switch c.f {
	case mdlFID:
		return mdlLeaf(uID, c.op, c.n)
	case mdlFAge:
		ages := make([]int, len(c.n))
		for i, n := range c.n {
			ages[i] = int(n)
		}
		return mdlLeaf(uAge, c.op, ages)
	case mdlFEmail:
		return mdlLeaf(uEmail, c.op, c.s)
	case mdlFOrg:
		return mdlLeaf(uOrg, c.op, c.s)
	case mdlFUsername:
		return mdlLeaf(uUsername, c.op, c.s)
	case mdlFName:
		return mdlLeaf(uName, c.op, c.s)
	}
	return mdlLeaf(mdlNick, c.op, c.s)
}

func mdlLeaf[V Key](col *Column[User, V], op condOp, vs []V) Cond[User] {
	switch op {
	case opEq:
		return col.Eq(vs[0])
	case opNe:
		return col.Ne(vs[0])
	case opLt:
		return col.Lt(vs[0])
	case opLe:
		return col.Le(vs[0])
	case opGt:
		return col.Gt(vs[0])
	case opGe:
		return col.Ge(vs[0])
	case opBetween:
		return col.Between(vs[0], vs[1])
	case opIn:
		return col.In(vs...)
	}
	return col.Prefix(vs[0])
}

// check mirrors Cond.check: the first problem, depth first.
func (c *mdlCond) check() error {
	switch c.op {
	case opAll:
		return nil
	case opAnd, opOr, opNot:
		for i := range c.subs {
			if err := c.subs[i].check(); err != nil {
				return err
			}
		}
		return nil
	}
	if c.op == opPrefix && !mdlIsStr(c.f) {
		return &LookupError{Table: "User", Reason: "Prefix on field " + mdlFieldNames[c.f] + ", which is not a string"}
	}
	if c.f == mdlFNick {
		return &FieldError{Table: "User", Field: "nick"}
	}
	return nil
}

func (c *mdlCond) match(u *User) bool {
	switch c.op {
	case opAll:
		return true
	case opAnd:
		for i := range c.subs {
			if !c.subs[i].match(u) {
				return false
			}
		}
		return true
	case opOr:
		for i := range c.subs {
			if c.subs[i].match(u) {
				return true
			}
		}
		return false
	case opNot:
		return !c.subs[0].match(u)
	}
	if mdlIsStr(c.f) {
		return mdlCompareOp(c.op, mdlStr(u, c.f), c.s, strings.HasPrefix)
	}
	return mdlCompareOp(c.op, mdlNum(u, c.f), c.n, func(int64, int64) bool { return false })
}

func mdlCompareOp[V cmp.Ordered](op condOp, x V, vs []V, prefix func(V, V) bool) bool {
	switch op {
	case opEq:
		return x == vs[0]
	case opNe:
		return x != vs[0]
	case opLt:
		return x < vs[0]
	case opLe:
		return x <= vs[0]
	case opGt:
		return x > vs[0]
	case opGe:
		return x >= vs[0]
	case opBetween:
		return vs[0] <= x && x <= vs[1]
	case opIn:
		return slices.Contains(vs, x)
	}
	return prefix(x, vs[0])
}

// fit returns u changed to satisfy the equalities of c (through And), as a
// create callback would build a record for a lookup.
func (c *mdlCond) fit(u User) User {
	switch c.op {
	case opAnd:
		for i := range c.subs {
			u = c.subs[i].fit(u)
		}
	case opEq:
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
	switch c.op {
	case opAll:
		return "all"
	case opAnd:
		return "(" + strings.Join(parts, " && ") + ")"
	case opOr:
		return "(" + strings.Join(parts, " || ") + ")"
	case opNot:
		return "!" + parts[0]
	}
	var vals []string
	for _, s := range c.s {
		vals = append(vals, mdlQuote(s))
	}
	for _, n := range c.n {
		vals = append(vals, fmt.Sprint(n))
	}
	names := map[condOp]string{opEq: "=", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">=", opBetween: " between ", opIn: " in ", opPrefix: " prefix "}
	return mdlFieldNames[c.f] + names[c.op] + strings.Join(vals, ",")
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
	return asc(mdlNick.Asc(), mdlNick.Desc())
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

// check mirrors Query.prepareOn's checks.
func (q *mdlQuery) check() error {
	if q.hasLimit && q.limit < 0 {
		return &LookupError{Table: "User", Reason: fmt.Sprintf("negative limit %d", q.limit)}
	}
	for _, o := range q.order {
		if o.f == mdlFNick {
			return &FieldError{Table: "User", Field: "nick"}
		}
	}
	c := q.cond()
	return c.check()
}

// eval returns the records of s that q yields, in order, after the offset,
// up to the limit.
func (q *mdlQuery) eval(s *mdlState) []*User {
	c := q.cond()
	var out []*User
	for _, id := range s.ids {
		if r := s.recs[id]; c.match(r) {
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
	"InsertMany", "Collect", "Count", "First", "Query.Delete", "Query.Update", "Len", "db.Update", "db.View", "Savepoint"}

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

func (s mdlSet) apply(u User) User {
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
	subs     []*mdlOp // a transaction's or savepoint's operations
	end      mdlEnd   // how a transaction, view or savepoint ends
	escape   bool     // a panic of a callback inside the transaction escapes it
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
	return op.cond.fit(op.rec), nil
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
	return op.set.apply(u), nil
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
	return mdlSet{mask: op.set.mask, u: proposed}.apply(existing), nil
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
func mdlCatch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(mdlPanic)
			if !ok {
				panic(r)
			}
			err = mdlPanicErr{p}
		}
	}()
	return fn()
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
		// nothing (the store returned len(matched) with a unique
		// violation before the revision that made it 0).
		n, err := api.QueryUpdate(op.query, op.update)
		return fmt.Sprintf("ok %d", n), err
	case mkLen:
		return fmt.Sprintf("ok %d", api.Len()), nil
	}
	// Transactions, views and savepoints: the results of their operations,
	// then how they ended.
	var subs []string
	body := func(tx mdlAPI) error {
		subs = subs[:0] // a retried transaction starts again
		for _, s := range op.subs {
			subs = append(subs, mdlRun(tx, s, !op.escape))
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
	return "ok", mdlSubs(err, subs)
}

// mdlSubsErr carries a transaction's operations' results with its error.
type mdlSubsErr struct {
	err  error
	subs []string
}

func (e *mdlSubsErr) Error() string { return e.err.Error() }
func (e *mdlSubsErr) Unwrap() error { return e.err }

func mdlSubs(err error, subs []string) error {
	return &mdlSubsErr{err: err, subs: slices.Clone(subs)}
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
		subs := "{" + strings.Join(se.subs, "; ") + "}"
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

// ---------------------------------------------------------------------------
// The generator.

// mdlDomain is the value space of generated operations. Small sets make
// keys collide often.
type mdlDomain struct {
	prefix    string // of every email and org: the concurrent test's writers keep to their own
	idLo      int64  // explicit ids are idLo+1 … idLo+ids
	ids       int
	emails    int
	usernames int
	auto      bool     // zero ids (auto-assigned) and negative ids may be generated
	scope     *mdlCond // if set, ANDed into every lookup and query
	noLen     bool     // Len reads outside the scope
	big       bool     // keys at and over MaxKeySize
	maxLen    int      // the table grows to a random size up to maxLen, then shrinks
}

var mdlSingleDomain = mdlDomain{ids: 150, emails: 40, usernames: 20, auto: true, big: true, maxLen: 400}

type mdlGen struct {
	rng  *rand.Rand
	dom  mdlDomain
	db   *mdlDB // the model, whose records the generator picks from
	size int    // the table size past which the generator deletes
	n    int    // operations generated
}

func (g *mdlGen) pct(p int) bool { return g.rng.IntN(100) < p }

// pick returns a stored record of the committed state.
func (g *mdlGen) pick() (User, bool) {
	s := g.db.cur
	if len(s.ids) == 0 {
		return User{}, false
	}
	return *s.recs[s.ids[g.rng.IntN(len(s.ids))]], true
}

// Keys at and just over MaxKeySize.
var (
	mdlEmailMax      = strings.Repeat("y", MaxKeySize)
	mdlEmailOver     = strings.Repeat("x", MaxKeySize+1)
	mdlUsernameLarge = strings.Repeat("u", MaxKeySize-4) // with the empty org, exactly MaxKeySize; with any other, over
)

func (g *mdlGen) email() string {
	switch r := g.rng.IntN(400); {
	case r < 8:
		return g.dom.prefix
	case r < 9 && g.dom.big:
		return mdlEmailOver
	case r < 10 && g.dom.big:
		return mdlEmailMax
	}
	if g.pct(70) {
		return fmt.Sprintf("%se%02d", g.dom.prefix, g.rng.IntN(g.dom.emails))
	}
	return fmt.Sprintf("%sf%03d", g.dom.prefix, g.rng.IntN(1000))
}

var mdlOrgs = []string{"", "a", "a\x00", "ab"}

func (g *mdlGen) org() string { return g.dom.prefix + mdlOrgs[g.rng.IntN(len(mdlOrgs))] }

func (g *mdlGen) username() string {
	switch r := g.rng.IntN(400); {
	case r < 12:
		return ""
	case r < 14 && g.dom.big:
		return mdlUsernameLarge
	}
	if g.pct(70) {
		return fmt.Sprintf("u%d", g.rng.IntN(g.dom.usernames))
	}
	return fmt.Sprintf("v%d", g.rng.IntN(500))
}

var mdlNames = []string{"", "Ann", "Bob", "Al"}

func (g *mdlGen) name() string { return mdlNames[g.rng.IntN(len(mdlNames))] }
func (g *mdlGen) age() int     { return -1 + g.rng.IntN(8) }

func (g *mdlGen) id() int64 {
	if g.dom.auto && g.pct(2) {
		return -1 - int64(g.rng.IntN(2))
	}
	return g.dom.idLo + 1 + int64(g.rng.IntN(g.dom.ids))
}

// newID is the id of a record to insert: mostly auto-assigned where the
// domain allows it.
func (g *mdlGen) newID() int64 {
	if g.dom.auto && g.pct(75) {
		return 0
	}
	return g.id()
}

func (g *mdlGen) rec(id int64) User {
	return User{ID: id, Email: g.email(), Org: g.org(), Username: g.username(), Name: g.name(), Age: g.age()}
}

// strValue and numValue return a value of field f, half the time one a
// stored record holds.
func (g *mdlGen) strValue(f int) string {
	if u, ok := g.pick(); ok && g.pct(50) {
		return mdlStr(&u, f)
	}
	switch f {
	case mdlFEmail:
		return g.email()
	case mdlFOrg:
		return g.org()
	case mdlFUsername:
		return g.username()
	}
	return g.name()
}

func (g *mdlGen) numValue(f int) int64 {
	if u, ok := g.pick(); ok && g.pct(50) {
		return mdlNum(&u, f)
	}
	if f == mdlFID {
		return g.id()
	}
	return int64(g.age())
}

func (g *mdlGen) eq(f int) mdlCond {
	if mdlIsStr(f) {
		return mdlCond{op: opEq, f: f, s: []string{g.strValue(f)}}
	}
	return mdlCond{op: opEq, f: f, n: []int64{g.numValue(f)}}
}

// leaf returns a condition on one field; with bad, sometimes one that
// cannot run.
func (g *mdlGen) leaf(bad bool) mdlCond {
	f := g.rng.IntN(mdlFNick)
	if bad && g.pct(2) {
		f = mdlFNick
	}
	ops := []condOp{opEq, opNe, opLt, opLe, opGt, opGe, opBetween, opIn, opPrefix}
	op := ops[g.rng.IntN(len(ops))]
	if op == opPrefix && !mdlIsStr(f) && !(bad && g.pct(20)) {
		op = opEq
	}
	c := mdlCond{op: op, f: f}
	n := 1
	switch op {
	case opBetween:
		n = 2
	case opIn:
		n = g.rng.IntN(4)
	}
	for range n {
		if mdlIsStr(f) {
			c.s = append(c.s, g.strValue(f))
		} else {
			c.n = append(c.n, g.numValue(f))
		}
	}
	if op == opPrefix && mdlIsStr(f) {
		c.s[0] = c.s[0][:g.rng.IntN(len(c.s[0])+1)]
	}
	if op == opPrefix && !mdlIsStr(f) {
		c.s, c.n = nil, []int64{c.n[0]}
	}
	return c
}

// cond returns a random condition tree.
func (g *mdlGen) cond(depth int, bad bool) mdlCond {
	if depth == 0 || g.pct(45) {
		return g.leaf(bad)
	}
	switch r := g.rng.IntN(100); {
	case r < 40:
		return mdlAnd(g.cond(depth-1, bad), g.cond(depth-1, bad))
	case r < 75:
		return mdlCond{op: opOr, subs: []mdlCond{g.cond(depth-1, bad), g.cond(depth-1, bad)}}
	case r < 95:
		return mdlCond{op: opNot, subs: []mdlCond{g.cond(depth-1, bad)}}
	case r < 97:
		return mdlCond{op: opAnd}
	case r < 99:
		return mdlCond{op: opOr}
	}
	return mdlCond{op: opAll}
}

func (g *mdlGen) scoped(c mdlCond) mdlCond {
	if g.dom.scope == nil {
		return c
	}
	return mdlAnd(*g.dom.scope, c)
}

// lookup returns a lookup for Get, Delete, GetOrCreate or UpdateOrCreate:
// mostly equalities, often on a stored record's values; with bad,
// sometimes one that cannot run.
func (g *mdlGen) lookup(bad bool) mdlCond {
	var c mdlCond
	switch g.rng.IntN(11) {
	case 0:
		c = g.eq(mdlFID)
	case 1, 2:
		c = g.eq(mdlFEmail)
	case 3:
		c = mdlAnd(g.eq(mdlFOrg), g.eq(mdlFUsername))
	case 4:
		c = g.eq(mdlFAge)
	case 5:
		c = g.eq(mdlFName)
	case 6:
		c = mdlAnd(g.eq(mdlFOrg), g.eq(mdlFAge))
	case 7:
		c = g.eq(mdlFUsername)
	case 8:
		c = mdlAnd(g.eq(mdlFEmail), g.eq(mdlFName))
	case 9:
		c = g.cond(2, false)
	default:
		if g.pct(50) {
			c = mdlCond{op: opIn, f: mdlFEmail, s: []string{g.strValue(mdlFEmail), g.strValue(mdlFEmail)}}
		} else {
			c = mdlCond{op: opIn, f: mdlFAge, n: []int64{g.numValue(mdlFAge), g.numValue(mdlFAge)}}
		}
	}
	if bad && g.pct(3) {
		c = mdlAnd(c, g.leaf(true))
		if c.check() == nil {
			c.subs[1] = mdlCond{op: opEq, f: mdlFNick, s: []string{"x"}}
		}
	}
	return g.scoped(c)
}

// query returns a Filter query; sometimes one that cannot run.
func (g *mdlGen) query() mdlQuery {
	var q mdlQuery
	for range g.rng.IntN(3) {
		q.conds = append(q.conds, g.cond(2, true))
	}
	if g.dom.scope != nil {
		q.conds = append(q.conds, *g.dom.scope)
	}
	for range g.rng.IntN(3) {
		f := g.rng.IntN(mdlFNick)
		if g.pct(1) {
			f = mdlFNick
		}
		q.order = append(q.order, mdlOrder{f: f, desc: g.pct(50)})
	}
	if g.pct(25) {
		q.offset = 1 + g.rng.IntN(3)
	}
	if g.pct(60) {
		q.hasLimit, q.limit = true, g.rng.IntN(8)
		if g.pct(2) {
			q.limit = -1 - g.rng.IntN(2)
		}
	}
	return q
}

func (g *mdlGen) set() mdlSet {
	s := mdlSet{mask: uint8(1 + g.rng.IntN(31)), u: g.rec(0)}
	if g.pct(30) {
		s.mask = 16 // the unindexed name only
	}
	return s
}

func (g *mdlGen) callback(fail, panics, stray int) mdlCB {
	switch r := g.rng.IntN(100); {
	case r < fail:
		return cbFail
	case r < fail+panics:
		return cbPanic
	case r < fail+panics+stray:
		if g.pct(30) {
			return cbZeroPK
		}
		return cbStray
	}
	return cbOK
}

// Where an operation is generated.
const (
	ctxTop = iota
	ctxTx
	ctxView
	ctxSavepoint
)

// op returns the next operation for context ctx.
func (g *mdlGen) op(ctx int) *mdlOp {
	if ctx == ctxTop && g.dom.maxLen > 0 {
		// Grow the table to a random size, then cut it back, so that the
		// trees split and merge at every degree.
		if g.n%2000 == 0 {
			g.size = 10 + g.rng.IntN(g.dom.maxLen)
		}
		g.n++
		if len(g.db.cur.ids) > g.size && g.pct(20) {
			q := g.query()
			q.conds = []mdlCond{g.scoped(g.cond(1, false))}
			q.hasLimit, q.limit = true, 5+g.rng.IntN(40)
			return &mdlOp{kind: mkQueryDelete, query: q}
		}
	}
	r := g.rng.IntN(100)
	if ctx == ctxTop && g.dom.maxLen > 0 && len(g.db.cur.ids) < g.size && (33 <= r && r < 40 || 78 <= r && r < 81) && g.pct(70) {
		r = g.rng.IntN(33) // growing: fewer deletes
	}
	switch ctx {
	case ctxView:
		// Reads, and now and then a write that must fail.
		if r < 85 {
			r = []int{40, 44, 47, 65, 70, 74, 76, 85}[g.rng.IntN(8)]
		} else {
			r = g.rng.IntN(86)
		}
	case ctxTx: // no nested transactions, but savepoints
		if r >= 89 {
			r = g.rng.IntN(89)
		}
	case ctxSavepoint:
		if r >= 86 {
			r = g.rng.IntN(86)
		}
	}
	if g.dom.noLen && r == 85 {
		r = g.rng.IntN(85)
	}
	return g.build(r, ctx)
}

// The ranges of rolls that build gives each kind of operation.
var (
	mdlRollInsert         = [2]int{0, 16}
	mdlRollUpdate         = [2]int{16, 28}
	mdlRollUpsert         = [2]int{28, 33}
	mdlRollDelete         = [2]int{33, 40}
	mdlRollGet            = [2]int{40, 47}
	mdlRollGetOrCreate    = [2]int{47, 55}
	mdlRollUpdateOrCreate = [2]int{55, 60}
	mdlRollInsertMany     = [2]int{60, 65}
	mdlRollQuery          = [2]int{65, 86} // Collect, Count, First, Query.Delete, Query.Update, Len
)

// roll returns a roll in r's range.
func (g *mdlGen) roll(r [2]int) int { return r[0] + g.rng.IntN(r[1]-r[0]) }

// build returns an operation of the kind that roll r (0..99) selects, for
// context ctx.
func (g *mdlGen) build(r, ctx int) *mdlOp {
	switch {
	case r < 12:
		return &mdlOp{kind: mkInsert, rec: g.rec(g.newID())}
	case r < 16:
		return &mdlOp{kind: mkInsert, rec: g.rec(g.id())}
	case r < 26:
		// An update of a stored record that moves some of its keys.
		u, ok := g.pick()
		if !ok {
			u = g.rec(g.id())
		}
		return &mdlOp{kind: mkUpdate, rec: g.set().apply(u)}
	case r < 28:
		id := g.id()
		if g.pct(15) {
			id = 0
		}
		return &mdlOp{kind: mkUpdate, rec: g.rec(id)}
	case r < 33:
		if u, ok := g.pick(); ok && g.pct(50) {
			return &mdlOp{kind: mkUpsert, rec: g.set().apply(u)}
		}
		return &mdlOp{kind: mkUpsert, rec: g.rec(g.newID())}
	case r < 37:
		return &mdlOp{kind: mkDelete, cond: g.scoped(g.eq(mdlFID))}
	case r < 40:
		return &mdlOp{kind: mkDelete, cond: g.lookup(true)}
	case r < 47:
		return &mdlOp{kind: mkGet, cond: g.lookup(true)}
	case r < 55:
		return &mdlOp{kind: mkGetOrCreate, cond: g.lookup(true), rec: g.rec(g.newID()), onCreate: g.callback(4, 3, 4)}
	case r < 60:
		return &mdlOp{kind: mkUpdateOrCreate, cond: g.lookup(true), rec: g.rec(g.newID()), set: g.set(),
			onCreate: g.callback(3, 2, 3), onUpdate: g.callback(3, 2, 3)}
	case r < 65:
		op := &mdlOp{kind: mkInsertMany, mode: g.rng.IntN(3), set: g.set(), onUpdate: g.callback(3, 2, 2)}
		if g.pct(2) {
			op.mode = imBoth
		}
		for range 1 + g.rng.IntN(5) {
			u := g.rec(g.newID())
			if len(op.recs) > 0 && g.pct(25) { // collide inside the batch
				u.Email = op.recs[g.rng.IntN(len(op.recs))].Email
			}
			op.recs = append(op.recs, u)
		}
		return op
	case r < 74:
		return &mdlOp{kind: mkCollect, query: g.query()}
	case r < 76:
		return &mdlOp{kind: mkCount, query: g.query()}
	case r < 78:
		return &mdlOp{kind: mkFirst, query: g.query()}
	case r < 81:
		q := g.query()
		if g.pct(80) {
			q.hasLimit, q.limit = true, g.rng.IntN(3)
		}
		return &mdlOp{kind: mkQueryDelete, query: q}
	case r < 85:
		return &mdlOp{kind: mkQueryUpdate, query: g.query(), set: g.set(), onUpdate: g.callback(3, 2, 2)}
	case r < 86:
		return &mdlOp{kind: mkLen}
	case r < 89 && ctx == ctxTx:
		return g.block(mkSavepoint, ctxSavepoint, 1+g.rng.IntN(3))
	case r < 97:
		return g.block(mkTx, ctxTx, 1+g.rng.IntN(6))
	}
	return g.block(mkView, ctxView, 1+g.rng.IntN(4))
}

// block returns a transaction, view or savepoint of n operations.
func (g *mdlGen) block(kind mdlKind, ctx, n int) *mdlOp {
	op := &mdlOp{kind: kind, escape: kind == mkTx && g.pct(20)}
	switch r := g.rng.IntN(100); {
	case r < 60:
		op.end = endCommit
	case r < 80:
		op.end = endError
	default:
		op.end = endPanic
	}
	for range n {
		op.subs = append(op.subs, g.op(ctx))
	}
	return op
}

// ---------------------------------------------------------------------------
// The test.

// mdlRecording is a generated sequence with what the model says of it.
type mdlRecording struct {
	ops     []*mdlOp
	want    []string
	seed    uint64
	dumps   map[int][]User // the model's records after op i, every mdlDumpEvery ops
	seq     int64
	sizes   int // the sum of the table's sizes before each op
	maxSize int
}

const mdlDumpEvery = 200

// mdlRecord generates n operations from seed and runs them on the model.
func mdlRecord(t testing.TB, seed uint64, n int) *mdlRecording {
	g := &mdlGen{rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c)), dom: mdlSingleDomain, db: newMdlDB()}
	m := &mdlModel{db: g.db}
	r := &mdlRecording{seed: seed, dumps: map[int][]User{}}
	for i := range n {
		r.sizes += len(g.db.cur.ids)
		r.maxSize = max(r.maxSize, len(g.db.cur.ids))
		op := g.op(ctxTop)
		r.ops = append(r.ops, op)
		r.want = append(r.want, mdlRun(m, op, true))
		if (i+1)%mdlDumpEvery == 0 || i == n-1 {
			require.NoError(t, g.db.cur.selfCheck(), "after op %d", i)
			r.dumps[i] = g.db.cur.sorted()
		}
	}
	r.seq = g.db.seq
	return r
}

// mdlConfigs are the stripe counts and B-tree degrees every sequence runs
// at: the results must not depend on them.
var mdlConfigs = []struct {
	name string
	opts Options
}{
	{"stripes=1 degree=2", Options{Stripes: 1, Degree: 2}},
	{"stripes=4 degree=16", Options{Stripes: 4, Degree: 16}},
	{"stripes=64 degree=2", Options{Stripes: 64, Degree: 2}},
	{"stripes=64 degree=16", Options{Stripes: 64, Degree: 16}},
}

// mdlReplay runs the recorded operations on a fresh store and returns the
// digest of its results; it stops the test at the first result that differs
// from the model's.
func mdlReplay(t *testing.T, r *mdlRecording, opts Options) []byte {
	db, users := newUsers(t, opts)
	api := &mdlStore{db: db, t: users}
	h := sha256.New()
	for i, op := range r.ops {
		got := mdlRun(api, op, true)
		if got != r.want[i] {
			t.Fatalf("op %d (reproduce with -model.seed=%d -model.ops=%d): %s\n got: %s\nmodel: %s", i, r.seed, i+1, op, got, r.want[i])
		}
		h.Write([]byte(got))
		h.Write([]byte{0})
		if want, ok := r.dumps[i]; ok {
			require.Equal(t, want, dump(t, users), "records after op %d", i)
			require.NoError(t, checkInvariants(users), "after op %d", i)
		}
	}
	return h.Sum(nil)
}

// TestModel_Randomized runs one seeded sequence of operations biased toward
// collisions on the model and at several stripe counts and B-tree degrees:
// every result, records and error classes and messages included, must be
// the model's, the records equal the model's every mdlDumpEvery operations,
// the invariant checker must pass, and the results of every configuration
// must be identical.
//
// It runs 100,000 operations; more with -model.ops=N, a given sequence with
// -model.seed=N.
func TestModel_Randomized(t *testing.T) {
	n := 100_000 // about 10 s on two cores, 45 s with -race
	if *flagModelOps > 0 {
		n = *flagModelOps
	}
	seed := mdlSeed(t)
	r := mdlRecord(t, seed, n)

	outcomes := map[string]int{}
	subOps := 0
	for i, op := range r.ops {
		outcome, w := "ok", r.want[i]
		switch {
		case strings.HasPrefix(w, "error "):
			outcome = strings.Fields(w)[1]
		case strings.HasPrefix(w, "panic"):
			outcome = "panic"
		}
		outcomes[op.kind.String()+" "+outcome]++
		subOps += mdlCountSubs(op)
	}
	keys := slices.Sorted(maps.Keys(outcomes))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %d", k, outcomes[k])
	}
	t.Logf("%d operations (and %d inside transactions, views and savepoints); %d records on average, %d at most, %d at the end; auto-key sequence at %d; outcomes:%s",
		n, subOps, r.sizes/n, r.maxSize, len(r.dumps[n-1]), r.seq, b.String())

	digests := make([][]byte, len(mdlConfigs))
	t.Run("configs", func(t *testing.T) {
		for i, c := range mdlConfigs {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				digests[i] = mdlReplay(t, r, c.opts)
			})
		}
	})
	if t.Failed() {
		return
	}
	for i := range digests {
		require.Equal(t, digests[0], digests[i], "results of %s and %s differ", mdlConfigs[0].name, mdlConfigs[i].name)
	}
}

func mdlCountSubs(op *mdlOp) int {
	n := len(op.subs)
	for _, s := range op.subs {
		n += mdlCountSubs(s)
	}
	return n
}
