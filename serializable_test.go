package recstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Serializability, checked (TESTING.md item 6). Each round of
// TestTx_Serializable, and each input of FuzzSerializable, begins two or
// three write transactions (db.Begin(true)) on one small table of 5 to 20
// users whose keys take few distinct values, so that what they do
// collides. Each transaction runs a random program of reads (Get by every
// kind of lookup, Filter with conditions, Exclude, OrderBy in both
// directions, Limit and Offset, and the verbs Collect, Count, First, Last,
// Exists, Earliest, Latest, Query.Get, All stopped early; Len,
// Duplicates) and writes (Insert, Update blind or after a Get, Upsert,
// Delete, Query.Update, Query.Delete, GetOrCreate and Query.GetOrCreate,
// UpdateOrCreate, InsertMany aborting or ignoring conflicts, Dedupe,
// updates made inside an All loop, savepoints that commit or roll back;
// InsertMany with OnConflict.Update is left out). Every
// value a program writes (the Age and Name of what it stores) is derived
// from a hash of everything the program read so far, so that a stale read
// that commits leaves a state that no serial order produces.
//
// The programs' steps run interleaved in a random order, driven by one
// goroutine; between them run plain (non-transactional) writes, one call
// each, and managed db.Update blocks, each committed at once; sometimes a
// read-only transaction begins and reads in between. Each write
// transaction ends in a commit (possibly ErrConflict) or a rollback,
// interleaved with the others' steps or all at the end in a random order.
//
// Then the check: the committed units (the write transactions whose
// Commit returned nil, the plain writes and the db.Update blocks) must be
// equivalent to some serial order of them. For every order, the commit
// order first, each unit's program runs again from scratch, alone, on a
// fresh DB holding the same initial users; every read must return exactly
// what it returned in the concurrent run (the same records, the same
// error, down to the record a unique violation names), and the final
// state must be the concurrent run's. One order must match, else the test
// fails with the seed, the programs and both histories. The read-only
// transaction's reads must equal the same reads, alone, on the state it
// began on.
//
// Half the keys that programs look up and write are those of two or three
// "hot" records of the round, so that the programs meet on them.
//
// Which constraint a unique violation names, when a write breaks several,
// is the store's choice (the first in index order), and may differ in a
// serial run: there, a violation that names another constraint is
// accepted if the key the concurrent run's names is still held by the
// same record (serialExec.note).
//
// Auto-assigned keys: the table's key sequence is consumed when a record
// is prepared, even by a write that fails or a transaction that rolls back,
// so a serial run would assign other keys. Most inserts choose their keys
// (from the same small domain as every lookup); the few that ask for an
// auto-assigned key record the key they got, and the serial run inserts
// that key explicitly. An insert that failed in the concurrent run asks
// the serial run's sequence: its key shows in no result, as a unique
// violation names the held key and the offending values of a field other
// than the fresh primary key; but a failed InsertMany may name a record of
// its own batch as the holder, and the check reads its key as "auto". An
// InsertMany's keys are all chosen or all assigned (see writeOp).
//
// A failure prints the seed and the round: -recstore.seed replays it (a
// round is deterministic given the seed: one goroutine drives it, and with
// a seed given the test runs every round up to serialMaxRounds, whatever
// the time). FuzzSerializable decodes its input into one round.

// The test runs rounds until serialBudget has passed (at least
// serialMinRounds, at most serialMaxRounds): a few thousand rounds without
// -race, several hundred with it. It runs them serialBatch to a subtest,
// whose end runs the invariant checker on each round's DB.
const (
	serialBudget    = 3 * time.Second
	serialMinRounds = 100
	serialMaxRounds = 20000
	serialBatch     = 50
)

func TestTx_Serializable(t *testing.T) {
	seed := testSeed(t)
	replay := *flagSeed != 0
	var st serialStats
	start := time.Now()
	round := 0
	for round < serialMaxRounds && (replay || round < serialMinRounds || time.Since(start) < serialBudget) {
		first := round
		ok := t.Run(fmt.Sprintf("rounds=%d-%d", first, first+serialBatch-1), func(t *testing.T) {
			for ; round < first+serialBatch; round++ {
				r := rand.New(rand.NewPCG(seed, uint64(round)))
				origin := fmt.Sprintf("round %d of -recstore.seed=%d", round, seed)
				serialRound(t, r, &st, origin)
			}
		})
		if !ok {
			break
		}
	}
	t.Logf("%d rounds in %v: %+v", st.Rounds, time.Since(start).Round(time.Millisecond), st)
	if t.Failed() {
		return
	}
	// The rounds did what the check needs: transactions begun on one
	// state that both commit, commits refused, rollbacks, readers.
	require.Positive(t, st.Commits)
	require.Positive(t, st.Conflicts, "no commit conflicted: the programs do not collide")
	require.Positive(t, st.Rollbacks)
	require.Greater(t, st.SeveralCommitted, st.Rounds/10, "rounds in which two write transactions begun on one state both committed")
	require.Positive(t, st.ReadOnly)
}

// TestTx_Serializable_CheckerRejectsWriteSkew shows that the checker of
// TestTx_Serializable can fail: a history with write skew (two
// transactions that each read both records and each change one, both
// committed on the state they began on) matches no serial order.
func TestTx_Serializable_CheckerRejectsWriteSkew(t *testing.T) {
	init := []User{
		{ID: 1, Email: "e1", Org: "a", Username: "u1", Name: "n0", Age: 1},
		{ID: 2, Email: "e2", Org: "a", Username: "u2", Name: "n0", Age: 2},
	}
	readBoth := serialOp{desc: "Get(id=1), Get(id=2)", run: func(x *serialExec) {
		for _, id := range []int64{1, 2} {
			u, err := x.users.Get(uID.Eq(id))
			x.note(serialRes(u, err))
		}
	}}
	write := func(id int64) serialOp {
		return serialOp{desc: fmt.Sprintf("modify id=%d", id), run: func(x *serialExec) {
			u, err := x.users.Get(uID.Eq(id))
			x.note(serialRes(u, err))
			u.Name = x.name(0)
			x.note(serialErr(x.users.Update(u)))
		}}
	}
	t1 := &serialUnit{name: "T1", kind: serialTx, prog: []serialOp{readBoth, write(1)}}
	t2 := &serialUnit{name: "T2", kind: serialTx, prog: []serialOp{readBoth, write(2)}}

	// The skewed history: each read the initial state, and the final
	// state has T1's record 1 and T2's record 2.
	var after1, after2 []User
	t1.res, after1 = serialAlone(t, init, t1.prog)
	t2.res, after2 = serialAlone(t, init, t2.prog)
	require.NotEqual(t, init[0], after1[0])
	require.NotEqual(t, init[1], after2[1])
	h := &serialHistory{init: init, units: []*serialUnit{t1, t2}, final: []User{after1[0], after2[1]}}
	order, diag := h.check(t)
	require.Nil(t, order, "the checker accepted write skew")
	require.Contains(t, diag, "T2 result 0: read \"#0 {1 e1 a/u1 n0 1}\" concurrently")

	// Without the skew (T2 read what T1 wrote) the order T1, T2 matches.
	t2.res, h.final = serialAlone(t, after1, t2.prog)
	order, diag = h.check(t)
	require.Equal(t, []*serialUnit{t1, t2}, order, diag)
}

// serialAlone runs prog in a write transaction alone on a fresh DB holding
// init, and returns what it read and the state it committed.
func serialAlone(t *testing.T, init []User, prog []serialOp) ([]string, []User) {
	db := newTestDB(t)
	users := newUsersIn(t, db)
	serialLoad(t, users, init)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	x := &serialExec{users: users.In(tx), tx: tx}
	x.runAll(prog)
	require.NoError(t, tx.Commit())
	return x.results, dump(t, users)
}

// TestTx_Serializable_RefusedUpdateReadsItsRecord pins a violation that
// TestTx_Serializable found: an Update refused for a unique key read that
// its record exists (it would otherwise have returned a *NotFoundError),
// but the commit checks only the key that refused it, so a transaction
// commits although its record was deleted since.
func TestTx_Serializable_RefusedUpdateReadsItsRecord(t *testing.T) {
	init := []User{
		{ID: 1, Email: "e1", Org: "a", Username: "u1", Age: 5},
		{ID: 2, Email: "e2", Org: "a", Username: "u2", Age: 1},
	}
	moved := User{ID: 1, Email: "e2", Org: "a", Username: "u1", Age: 5} // takes record 2's email

	// The contract: at commit, every read must read the same; the Update
	// would now return a *NotFoundError.
	t.Run("the refusal reads differently at commit", func(t *testing.T) {
		db, users := newUsers(t)
		serialLoad(t, users, init)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		err = users.In(tx).Update(moved)
		require.ErrorIs(t, err, ErrUniqueViolation)
		_, err = users.Delete(uID.Eq(1))
		require.NoError(t, err)
		later, err := db.Begin(true)
		require.NoError(t, err)
		require.ErrorIs(t, users.In(later).Update(moved), ErrNotFound, "the same Update, now")
		require.NoError(t, later.Rollback())
		require.ErrorIs(t, tx.Commit(), ErrConflict)
	})

	// Serializability: T's refused Update puts T before the delete, its
	// other write puts it after (before, the delete would have removed
	// record 2 too): no serial order has both.
	t.Run("no serial order", func(t *testing.T) {
		db, users := newUsers(t)
		serialLoad(t, users, init)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		in := users.In(tx)
		require.ErrorIs(t, in.Update(moved), ErrUniqueViolation)
		require.NoError(t, in.Update(User{ID: 2, Email: "e2", Org: "a", Username: "u2", Age: 5}))
		n, err := users.Filter(uAge.Eq(5)).Delete()
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		require.Equal(t, init[1:], dump(t, users))
	})
}

// FuzzSerializable decodes its input into one round of TestTx_Serializable:
// the initial users, the programs, the schedule, how each transaction ends.
// The bytes are read one at a time as the generator's random numbers (each
// byte spread over a uint64, so that IntN(n) maps it evenly onto 0..n-1),
// then a PCG seeded with a hash of the input. Plain go test replays the
// seeds and testdata/fuzz/FuzzSerializable. Fuzz with:
//
//	go test -run '^$' -fuzz FuzzSerializable -fuzztime 2m -fuzzminimizetime 5s .
func FuzzSerializable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("write skew"))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0, 128, 128, 128, 128})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := fnv.New64a()
		h.Write(data)
		r := rand.New(&fuzzSource{b: data, pcg: rand.NewPCG(h.Sum64(), uint64(len(data)))})
		serialRound(t, r, nil, fmt.Sprintf("fuzz input %q", data))
	})
}

// serialStats counts what the rounds did.
type serialStats struct {
	Rounds, Commits, Conflicts, Rollbacks int
	// SeveralCommitted counts the rounds in which two or more write
	// transactions, begun on one state, committed.
	SeveralCommitted int
	ReadOnly         int // rounds with a read-only transaction
	Plain            int // plain writes and db.Update blocks
}

// The kinds of unit.
const (
	serialTx       = iota // a write transaction, begun with the others
	serialPlain           // one non-transactional write call
	serialManaged         // a db.Update block, run at one point
	serialReadOnly        // a read-only transaction
)

// serialUnit is a program and what became of it: a committed unit of the
// history, once it ran.
type serialUnit struct {
	name string
	kind int
	prog []serialOp
	// rollback: the write transaction ends in Rollback, not Commit.
	rollback bool
	// Filled in by the run.
	x       *serialExec
	tx      *Tx
	res     []string                      // every result, in order
	uvs     map[int]*UniqueViolationError // the results that are unique violations
	keys    map[int]int64                 // the keys the auto-assigned sequence gave
	outcome string                        // committed, conflict, rolled back
	at      []User                        // a read-only transaction's snapshot
}

// serialOp is one step of a program: what it does, and doing it through
// x, noting every result.
type serialOp struct {
	desc string
	run  func(x *serialExec)
}

// serialExec runs a program: through users (bound to tx, if a
// transaction), folding every result into h, from which every value it
// writes is derived.
type serialExec struct {
	users   *Table[User]
	tx      *Tx
	h       uint64
	step    int
	results []string
	// autos counts the auto-assigned keys asked for; forced are, in a
	// serial run, the keys the concurrent run got for them, got the keys
	// this run got.
	autos  int
	forced map[int]int64
	got    map[int]int64
	// uvs are the results that are unique violations, by index; want and
	// wantUVs, in a serial run, the concurrent run's results and theirs.
	uvs     map[int]*UniqueViolationError
	want    []string
	wantUVs map[int]*UniqueViolationError
}

// runAll runs prog from its first step.
func (x *serialExec) runAll(prog []serialOp) {
	for i, op := range prog {
		x.do(i, op)
	}
}

func (x *serialExec) do(step int, op serialOp) {
	x.step = step
	op.run(x)
}

// note records a result of the step under way and folds it into h; err
// is the error the result shows, if any.
//
// Which constraint a unique violation names, when a write breaks several,
// is the store's choice (the first in index order): a serial run (want
// set) accepts a violation that names another constraint than the
// concurrent run's did, provided the key the concurrent run's names is
// still held by the same record, so that that refusal holds in the serial
// run too.
func (x *serialExec) note(res string, err ...error) {
	res = fmt.Sprintf("#%d %s", x.step, res)
	i := len(x.results)
	var uv *UniqueViolationError
	if len(err) > 0 && errors.As(err[0], &uv) {
		if x.uvs == nil {
			x.uvs = map[int]*UniqueViolationError{}
		}
		x.uvs[i] = uv
	}
	if x.want != nil && i < len(x.want) && res != x.want[i] && uv != nil {
		if w := x.wantUVs[i]; w != nil && strings.Replace(x.want[i], serialErr(w), serialErr(uv), 1) == res && x.held(w) {
			res = x.want[i]
		}
	}
	x.results = append(x.results, res)
	f := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x.h)
	f.Write(b[:])
	f.Write([]byte(res))
	x.h = f.Sum64()
}

// held reports whether the key that uv names is held by the record it
// names, as x sees the table.
func (x *serialExec) held(uv *UniqueViolationError) bool {
	ex, _ := uv.Existing.(User)
	var got User
	var err error
	switch uv.Constraint {
	case "primary":
		got, err = x.users.Get(uID.Eq(ex.ID))
	case "user_email":
		got, err = x.users.Get(uEmail.Eq(ex.Email))
	case "org_username":
		got, err = x.users.Get(uOrg.Eq(ex.Org), uUsername.Eq(ex.Username))
	default:
		return false
	}
	return err == nil && got == ex
}

// age and name are values to write, derived from everything read so far;
// salt tells apart several values written by one step.
func (x *serialExec) age(salt int64) int {
	return int((x.h>>7 + uint64(salt)*0x9e3779b97f4a7c15>>60) % 6)
}

func (x *serialExec) name(salt int64) string {
	v := x.h ^ uint64(salt)*0x9e3779b97f4a7c15
	return fmt.Sprintf("n%d.%04x", v%3, v>>48)
}

// serialNew is a new record's keys, drawn by the generator; its Age and
// Name come from the hash when it is made.
type serialNew struct {
	id         int64
	auto       bool
	email      string
	org, uname string
}

func (n serialNew) String() string {
	id := fmt.Sprint(n.id)
	if n.auto {
		id = "auto"
	}
	return fmt.Sprintf("id=%s %s %s/%s", id, n.email, n.org, n.uname)
}

// make returns the record n describes and the number of its auto-assigned
// key (-1 if it chose its key).
func (x *serialExec) make(n serialNew, salt int64) (User, int) {
	u := User{ID: n.id, Email: n.email, Org: n.org, Username: n.uname, Age: x.age(salt), Name: x.name(salt)}
	if !n.auto {
		return u, -1
	}
	slot := x.autos
	x.autos++
	u.ID = x.forced[slot] // 0, to be assigned, unless replaying
	return u, slot
}

// assigned records the key that auto-assigned key slot got.
func (x *serialExec) assigned(slot int, id int64) {
	if slot >= 0 {
		if x.got == nil {
			x.got = map[int]int64{}
		}
		x.got[slot] = id
	}
}

// Results, as text: records in full, errors by class with what they name.

func serialUser(u User) string {
	return fmt.Sprintf("{%d %s %s/%s %s %d}", u.ID, u.Email, u.Org, u.Username, u.Name, u.Age)
}

func serialUsers(us []User) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = serialUser(u)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func serialErr(err error) string {
	var mr *MultipleReturnedError
	var uv *UniqueViolationError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not found"
	case errors.As(err, &mr):
		return fmt.Sprintf("multiple (%d)", mr.Count)
	case errors.As(err, &uv):
		ex, _ := uv.Existing.(User)
		return fmt.Sprintf("unique %s %v held by %s", uv.Constraint, uv.Values, serialUser(ex))
	case errors.Is(err, errSerialRollback):
		return "rolled back"
	case errors.Is(err, ErrSliced): // GetOrCreate on a slice: refused whatever the state
		return "sliced"
	}
	return "UNEXPECTED " + err.Error()
}

func serialRes(u User, err error) string {
	if err != nil {
		return serialErr(err)
	}
	return serialUser(u)
}

// errSerialRollback is what a savepoint that rolls back returns.
var errSerialRollback = errors.New("savepoint rolls back")

// The generator.

type serialGen struct {
	r      *rand.Rand
	hot    []User // a few of the initial records
	ids    int64  // primary keys 1..ids
	emails int    // e0..
	orgs   []string
	unames int // u0..
}

func newSerialGen(r *rand.Rand) (*serialGen, []User) {
	n := 5 + r.IntN(16)
	g := &serialGen{r: r, ids: int64(n + 3), emails: n + 3, orgs: []string{"a", "b", "c"}, unames: (n + 5) / 3}
	ids := r.Perm(int(g.ids))[:n]
	slices.Sort(ids)
	emails := r.Perm(g.emails)
	pairs := r.Perm(len(g.orgs) * g.unames)
	init := make([]User, n)
	for i := range init {
		init[i] = User{
			ID:       int64(ids[i] + 1),
			Email:    fmt.Sprintf("e%d", emails[i]),
			Org:      g.orgs[pairs[i]%len(g.orgs)],
			Username: fmt.Sprintf("u%d", pairs[i]/len(g.orgs)),
			Name:     fmt.Sprintf("n%d", r.IntN(3)),
			Age:      r.IntN(6),
		}
	}
	for _, i := range r.Perm(n)[:2+r.IntN(2)] {
		g.hot = append(g.hot, init[i])
	}
	return g, init
}

// The keys of lookups and new records: half the time those of a few hot
// records of the initial state, so that the programs meet on them.
func (g *serialGen) id() int64 {
	if g.chance(2) {
		return g.hotOne().ID
	}
	return 1 + g.r.Int64N(g.ids)
}

func (g *serialGen) email() string {
	if g.chance(2) {
		return g.hotOne().Email
	}
	return fmt.Sprintf("e%d", g.r.IntN(g.emails))
}

func (g *serialGen) org() string { return g.orgs[g.r.IntN(len(g.orgs))] }

func (g *serialGen) uname() string { return fmt.Sprintf("u%d", g.r.IntN(g.unames)) }

// orgUname is an (org, username) pair.
func (g *serialGen) orgUname() (string, string) {
	if g.chance(2) {
		h := g.hotOne()
		return h.Org, h.Username
	}
	return g.org(), g.uname()
}

func (g *serialGen) hotOne() User      { return g.hot[g.r.IntN(len(g.hot))] }
func (g *serialGen) ageV() int         { return g.r.IntN(6) }
func (g *serialGen) initName() string  { return fmt.Sprintf("n%d", g.r.IntN(3)) }
func (g *serialGen) chance(n int) bool { return g.r.IntN(n) == 0 }

func (g *serialGen) newRec() serialNew {
	o, n := g.orgUname()
	return serialNew{id: g.id(), auto: g.chance(5), email: g.email(), org: o, uname: n}
}

// serialLookup is a lookup of Get, Delete, GetOrCreate and UpdateOrCreate,
// and how to make a record match it.
type serialLookup struct {
	desc  string
	conds []Cond[User]
	fill  func(u *User)
}

func (l serialLookup) cond() Cond[User] {
	if len(l.conds) == 1 {
		return l.conds[0]
	}
	return And(l.conds...)
}

func (g *serialGen) lookup() serialLookup {
	switch g.r.IntN(9) {
	case 0, 1:
		id := g.id()
		return serialLookup{fmt.Sprintf("id=%d", id), []Cond[User]{uID.Eq(id)}, func(u *User) { u.ID = id }}
	case 2, 3:
		e := g.email()
		return serialLookup{"email=" + e, []Cond[User]{uEmail.Eq(e)}, func(u *User) { u.Email = e }}
	case 4:
		o, n := g.orgUname()
		return serialLookup{fmt.Sprintf("org=%s,username=%s", o, n), []Cond[User]{uOrg.Eq(o), uUsername.Eq(n)},
			func(u *User) { u.Org, u.Username = o, n }}
	case 5:
		o, n := g.orgUname()
		return serialLookup{fmt.Sprintf("And(org=%s,username=%s)", o, n), []Cond[User]{And(uOrg.Eq(o), uUsername.Eq(n))},
			func(u *User) { u.Org, u.Username = o, n }}
	case 6:
		a := g.ageV()
		return serialLookup{fmt.Sprintf("age=%d", a), []Cond[User]{uAge.Eq(a)}, func(u *User) { u.Age = a }}
	case 7:
		n := g.initName()
		return serialLookup{"name=" + n, []Cond[User]{uName.Eq(n)}, func(u *User) { u.Name = n }}
	}
	e, a := g.email(), g.ageV()
	return serialLookup{fmt.Sprintf("email=%s,age=%d", e, a), []Cond[User]{uEmail.Eq(e), uAge.Eq(a)},
		func(u *User) { u.Email, u.Age = e, a }}
}

func (g *serialGen) cond() (string, Cond[User]) {
	a, b := g.ageV(), g.ageV()
	switch g.r.IntN(14) {
	case 0:
		return fmt.Sprintf("age=%d", a), uAge.Eq(a)
	case 1:
		return fmt.Sprintf("age<%d", a), uAge.Lt(a)
	case 2:
		return fmt.Sprintf("age>=%d", a), uAge.Ge(a)
	case 3:
		return fmt.Sprintf("age in %d..%d", a, a+2), uAge.Between(a, a+2)
	case 4:
		return fmt.Sprintf("age in {%d,%d}", a, b), uAge.In(a, b)
	case 5:
		o := g.org()
		return "org=" + o, uOrg.Eq(o)
	case 6:
		o, n := g.orgUname()
		return fmt.Sprintf("org=%s,username>=%s", o, n), And(uOrg.Eq(o), uUsername.Ge(n))
	case 7:
		e1, e2, e3 := g.email(), g.email(), g.email()
		return fmt.Sprintf("email in {%s,%s,%s}", e1, e2, e3), uEmail.In(e1, e2, e3)
	case 8:
		e := g.email()
		return "email>" + e, uEmail.Gt(e)
	case 9:
		id := g.id()
		return fmt.Sprintf("id in %d..%d", id, id+3), uID.Between(id, id+3)
	case 10:
		p := g.initName()
		return "name^=" + p, uName.Prefix(p)
	case 11:
		o := g.org()
		return fmt.Sprintf("age=%d|org=%s", a, o), Or(uAge.Eq(a), uOrg.Eq(o))
	case 12:
		return fmt.Sprintf("!(age>=%d)", a), Not(uAge.Ge(a))
	}
	m := 2 + g.r.IntN(2)
	return fmt.Sprintf("age%%%d=0", m), Where(func(u *User) bool { return u.Age%m == 0 })
}

// serialQuery is a query to build on a table handle.
type serialQuery struct {
	desc  string
	build func(t *Table[User]) *Query[User]
}

func (g *serialGen) query() serialQuery {
	var descs []string
	var conds []Cond[User]
	for range g.r.IntN(3) {
		d, c := g.cond()
		descs = append(descs, d)
		conds = append(conds, c)
	}
	desc := "Filter(" + strings.Join(descs, ", ") + ")"
	var exclude *Cond[User]
	if g.chance(6) {
		d, c := g.cond()
		desc += ".Exclude(" + d + ")"
		exclude = &c
	}
	var order []Order[User]
	switch g.r.IntN(9) {
	case 0:
		order = []Order[User]{uAge.Asc()}
	case 1:
		order = []Order[User]{uAge.Desc()}
	case 2:
		order = []Order[User]{uName.Desc()}
	case 3:
		order = []Order[User]{uEmail.Asc()}
	case 4:
		order = []Order[User]{uOrg.Asc(), uAge.Desc()}
	case 5:
		order = []Order[User]{uID.Desc()}
	case 6:
		order = []Order[User]{uUsername.Desc(), uEmail.Desc()}
	}
	if order != nil {
		names := make([]string, len(order))
		for i, o := range order {
			names[i] = o.col.name
			if o.desc {
				names[i] = "-" + names[i]
			}
		}
		desc += ".OrderBy(" + strings.Join(names, ",") + ")"
	}
	limit, offset := -1, 0
	if g.chance(3) {
		limit = g.r.IntN(5)
		desc += fmt.Sprintf(".Limit(%d)", limit)
	}
	if g.chance(4) {
		offset = 1 + g.r.IntN(3)
		desc += fmt.Sprintf(".Offset(%d)", offset)
	}
	return serialQuery{desc: desc, build: func(t *Table[User]) *Query[User] {
		q := t.Filter(conds...)
		if exclude != nil {
			q = q.Exclude(*exclude)
		}
		if order != nil {
			q = q.OrderBy(order...)
		}
		if limit >= 0 {
			q = q.Limit(limit)
		}
		if offset > 0 {
			q = q.Offset(offset)
		}
		return q
	}}
}

// readOp is a random read.
func (g *serialGen) readOp() serialOp {
	switch g.r.IntN(14) {
	case 0, 1, 2:
		l := g.lookup()
		return serialOp{"Get(" + l.desc + ")", func(x *serialExec) {
			u, err := x.users.Get(l.conds...)
			x.note(serialRes(u, err))
		}}
	case 3:
		return serialOp{"Len()", func(x *serialExec) { x.note(fmt.Sprint(x.users.Len())) }}
	case 4:
		fields, desc := []ColumnOf[User]{uAge}, "age"
		if g.chance(2) {
			fields, desc = []ColumnOf[User]{uOrg, uName}, "org, name"
		}
		return serialOp{"Duplicates(" + desc + ")", func(x *serialExec) {
			groups, err := x.users.Duplicates(fields...)
			s := make([]string, len(groups))
			for i, gr := range groups {
				s[i] = fmt.Sprintf("%v: %s", gr.Values, serialUsers(gr.Records))
			}
			x.note(fmt.Sprintf("%s %s", strings.Join(s, "; "), serialErr(err)))
		}}
	}
	q := g.query()
	switch g.r.IntN(10) {
	case 0, 1:
		return serialOp{q.desc + ".Collect()", func(x *serialExec) {
			us, err := q.build(x.users).Collect()
			x.note(serialUsers(us) + " " + serialErr(err))
		}}
	case 2:
		return serialOp{q.desc + ".Count()", func(x *serialExec) {
			n, err := q.build(x.users).Count()
			x.note(fmt.Sprint(n, " ", serialErr(err)))
		}}
	case 3:
		return serialOp{q.desc + ".First()", func(x *serialExec) {
			u, ok, err := q.build(x.users).First()
			x.note(fmt.Sprintf("%s %v %s", serialUser(u), ok, serialErr(err)))
		}}
	case 4:
		return serialOp{q.desc + ".Last()", func(x *serialExec) {
			u, ok, err := q.build(x.users).Last()
			x.note(fmt.Sprintf("%s %v %s", serialUser(u), ok, serialErr(err)))
		}}
	case 5:
		return serialOp{q.desc + ".Exists()", func(x *serialExec) {
			ok, err := q.build(x.users).Exists()
			x.note(fmt.Sprintf("%v %s", ok, serialErr(err)))
		}}
	case 6:
		return serialOp{q.desc + ".Earliest(age)", func(x *serialExec) {
			u, err := q.build(x.users).Earliest(uAge)
			x.note(serialRes(u, err))
		}}
	case 7:
		return serialOp{q.desc + ".Latest()", func(x *serialExec) {
			u, err := q.build(x.users).Latest()
			x.note(serialRes(u, err))
		}}
	case 8:
		return serialOp{q.desc + ".Get()", func(x *serialExec) {
			u, err := q.build(x.users).Get()
			x.note(serialRes(u, err))
		}}
	}
	m := 1 + g.r.IntN(3)
	return serialOp{fmt.Sprintf("%s.All() (first %d)", q.desc, m), func(x *serialExec) {
		var got []User
		var err error
		for u, e := range q.build(x.users).All() {
			if err = e; err != nil {
				break
			}
			got = append(got, u)
			if len(got) == m {
				break
			}
		}
		x.note(serialUsers(got) + " " + serialErr(err))
	}}
}

// writeOp is a random write; inTx allows what only a transaction does
// (savepoints, writes inside an All loop), depth bounds their nesting.
func (g *serialGen) writeOp(inTx bool, depth int) serialOp {
	n := 15
	if inTx && depth == 0 {
		n = 17
	}
	switch g.r.IntN(n) {
	case 0, 1:
		nr := g.newRec()
		return serialOp{"Insert(" + nr.String() + ")", func(x *serialExec) {
			u, slot := x.make(nr, 0)
			got, err := x.users.Insert(u)
			if err == nil {
				x.assigned(slot, got.ID)
			}
			x.note(serialRes(got, err), err)
		}}
	case 2:
		nr := g.newRec()
		nr.auto = false
		return serialOp{"Update(" + nr.String() + ")", func(x *serialExec) {
			u, _ := x.make(nr, 0)
			err := x.users.Update(u)
			x.note(serialErr(err), err)
		}}
	case 3, 4:
		l := g.lookup()
		email := ""
		if g.chance(3) {
			email = g.email()
		}
		return serialOp{fmt.Sprintf("modify(Get(%s), email %q)", l.desc, email), func(x *serialExec) {
			u, err := x.users.Get(l.conds...)
			x.note(serialRes(u, err))
			if err != nil {
				return
			}
			u.Age, u.Name = x.age(0), x.name(0)
			if email != "" {
				u.Email = email
			}
			err = x.users.Update(u)
			x.note(serialErr(err), err)
		}}
	case 5:
		nr := g.newRec()
		return serialOp{"Upsert(" + nr.String() + ")", func(x *serialExec) {
			u, slot := x.make(nr, 0)
			got, inserted, err := x.users.Upsert(u)
			if err == nil && inserted {
				x.assigned(slot, got.ID)
			}
			x.note(fmt.Sprint(serialRes(got, err), " inserted=", inserted), err)
		}}
	case 6:
		l := g.lookup()
		return serialOp{"Delete(" + l.desc + ")", func(x *serialExec) {
			u, err := x.users.Delete(l.conds...)
			x.note(serialRes(u, err))
		}}
	case 7, 8:
		q := g.query()
		email := ""
		if g.chance(4) {
			email = g.email()
		}
		return serialOp{fmt.Sprintf("%s.Update(email %q)", q.desc, email), func(x *serialExec) {
			n, err := q.build(x.users).Update(func(u User) (User, error) {
				u.Age = (u.Age + x.age(u.ID)) % 6
				u.Name = x.name(u.ID)
				if email != "" {
					u.Email = email
				}
				return u, nil
			})
			x.note(fmt.Sprint(n, " ", serialErr(err)), err)
		}}
	case 9:
		q := g.query()
		return serialOp{q.desc + ".Delete()", func(x *serialExec) {
			n, err := q.build(x.users).Delete()
			x.note(fmt.Sprint(n, " ", serialErr(err)))
		}}
	case 10, 11:
		l, nr := g.lookup(), g.newRec()
		var scope *serialQuery
		desc := fmt.Sprintf("GetOrCreate(%s, %s)", l.desc, nr)
		if g.chance(3) {
			q := g.query()
			scope = &q
			desc = q.desc + "." + desc
		}
		return serialOp{desc, func(x *serialExec) {
			u, slot := x.make(nr, 0)
			l.fill(&u)
			create := func() (User, error) { return u, nil }
			var got User
			var created bool
			var err error
			if scope != nil {
				got, created, err = scope.build(x.users).GetOrCreate(l.cond(), create)
			} else {
				got, created, err = x.users.GetOrCreate(l.cond(), create)
			}
			if err == nil && created {
				x.assigned(slot, got.ID)
			}
			x.note(fmt.Sprint(serialRes(got, err), " created=", created), err)
		}}
	case 12:
		l, nr := g.lookup(), g.newRec()
		email := ""
		if g.chance(4) {
			email = g.email()
		}
		return serialOp{fmt.Sprintf("UpdateOrCreate(%s, email %q, %s)", l.desc, email, nr), func(x *serialExec) {
			u, slot := x.make(nr, 0)
			l.fill(&u)
			got, created, err := x.users.UpdateOrCreate(l.cond(), func(old User) (User, error) {
				old.Age, old.Name = x.age(1), x.name(1)
				if email != "" {
					old.Email = email
				}
				return old, nil
			}, func() (User, error) { return u, nil })
			if err == nil && created {
				x.assigned(slot, got.ID)
			}
			x.note(fmt.Sprint(serialRes(got, err), " created=", created), err)
		}}
	case 13:
		// A batch's keys are all chosen or all assigned: the sequence
		// assigns keys to a whole batch before it stores any of it, so it
		// may assign a key that an earlier record of the batch chose
		// (InsertMany([{ID: 1}, {ID: 0}]) on an empty table fails with a
		// violation of the primary key, held by its own first record),
		// and which key depends on what other writers took.
		news := make([]serialNew, 1+g.r.IntN(3))
		descs := make([]string, len(news))
		auto := g.chance(4)
		for i := range news {
			news[i] = g.newRec()
			news[i].auto = auto
			descs[i] = news[i].String()
		}
		ignore := g.chance(2)
		return serialOp{fmt.Sprintf("InsertMany(%s; ignore=%v)", strings.Join(descs, "; "), ignore), func(x *serialExec) {
			recs := make([]User, len(news))
			slots := make([]int, len(news))
			for i, nr := range news {
				recs[i], slots[i] = x.make(nr, int64(i))
			}
			res, err := x.users.InsertMany(recs, OnConflict[User]{Ignore: ignore})
			// An input is the record of Inserted with its Name (derived
			// from the hash with the input's place as salt): its key.
			own := func(u User) int {
				for j, in := range recs {
					if in.Name == u.Name && in.Email == u.Email && in.Org == u.Org && in.Username == u.Username {
						return j
					}
				}
				return -1
			}
			for _, u := range res.Inserted {
				if j := own(u); j >= 0 {
					x.assigned(slots[j], u.ID)
				}
			}
			res1 := fmt.Sprintf("inserted %s skipped %s %s", serialUsers(res.Inserted), serialUsers(res.Skipped), serialErr(err))
			// A record of the batch that refused another holds a key the
			// sequence gave it, and nothing of the batch is stored: the
			// serial run's sequence gives it another.
			var uv *UniqueViolationError
			if errors.As(err, &uv) {
				if ex, _ := uv.Existing.(User); own(ex) >= 0 && slots[own(ex)] >= 0 {
					s := serialUser(ex)
					ex.ID = 0
					res1 = strings.Replace(res1, s, "(earlier in the batch, key auto) "+serialUser(ex), 1)
					err = nil // no other constraint may name it
				}
			}
			x.note(res1, err)
		}}
	case 14:
		return serialOp{"Dedupe(org, name)", func(x *serialExec) {
			gone, err := x.users.Dedupe(func(group []User) int { return int(x.h % uint64(len(group))) }, uOrg, uName)
			x.note(fmt.Sprintf("%s %s", serialUsers(gone), serialErr(err)))
		}}
	case 15:
		subs := g.program(1+g.r.IntN(3), inTx, depth+1)
		fail := g.chance(2)
		descs := make([]string, len(subs))
		for i, s := range subs {
			descs[i] = s.desc
		}
		return serialOp{fmt.Sprintf("Savepoint(%s; fail=%v)", strings.Join(descs, "; "), fail), func(x *serialExec) {
			err := x.tx.Savepoint(func(*Tx) error {
				for _, s := range subs {
					s.run(x)
				}
				if fail {
					return errSerialRollback
				}
				return nil
			})
			x.note("savepoint " + serialErr(err))
		}}
	}
	q := g.query()
	m := 1 + g.r.IntN(3)
	return serialOp{fmt.Sprintf("%s.All() updating every other (first %d)", q.desc, m), func(x *serialExec) {
		k := 0
		for u, err := range q.build(x.users).All() {
			if err != nil {
				x.note("All " + serialErr(err))
				break
			}
			x.note("yield " + serialUser(u))
			if k%2 == 0 {
				u.Age, u.Name = x.age(u.ID), x.name(u.ID)
				err := x.users.Update(u)
				x.note(serialErr(err), err)
			}
			if k++; k == m {
				break
			}
		}
	}}
}

// program is n random steps, about half reads.
func (g *serialGen) program(n int, inTx bool, depth int) []serialOp {
	ops := make([]serialOp, n)
	for i := range ops {
		if g.chance(2) {
			ops[i] = g.readOp()
		} else {
			ops[i] = g.writeOp(inTx, depth)
		}
	}
	return ops
}

func (g *serialGen) readProgram(n int) []serialOp {
	ops := make([]serialOp, n)
	for i := range ops {
		ops[i] = g.readOp()
	}
	return ops
}

// serialEvent is one step of the schedule: step i of u's program; for a
// write transaction, step len(prog) ends it; for a read-only one, step -1
// begins it and step len(prog) ends it.
type serialEvent struct {
	u    *serialUnit
	step int
}

// schedule interleaves the units' steps at random.
func (g *serialGen) schedule(txs []*serialUnit, ro *serialUnit, others []*serialUnit) []serialEvent {
	commitsLast := g.chance(2)
	next := make([]int, len(txs))
	var ev []serialEvent
	for {
		var ready []int
		for i, u := range txs {
			if next[i] < len(u.prog) || !commitsLast && next[i] == len(u.prog) {
				ready = append(ready, i)
			}
		}
		if len(ready) == 0 {
			break
		}
		i := ready[g.r.IntN(len(ready))]
		ev = append(ev, serialEvent{txs[i], next[i]})
		next[i]++
	}
	if commitsLast {
		for _, i := range g.r.Perm(len(txs)) {
			ev = append(ev, serialEvent{txs[i], len(txs[i].prog)})
		}
	}
	if ro != nil {
		pos := g.r.IntN(len(ev) + 1)
		for step := -1; step <= len(ro.prog); step++ {
			ev = slices.Insert(ev, pos, serialEvent{ro, step})
			pos += 1 + g.r.IntN(len(ev)-pos)
		}
	}
	for _, u := range others {
		ev = slices.Insert(ev, g.r.IntN(len(ev)+1), serialEvent{u, 0})
	}
	return ev
}

// serialRound runs one round: generates it from r, runs it, checks it.
// st, if not nil, counts what it did.
func serialRound(t *testing.T, r *rand.Rand, st *serialStats, origin string) {
	g, init := newSerialGen(r)
	var txs, others []*serialUnit
	for i := range 2 + r.IntN(2) {
		txs = append(txs, &serialUnit{name: fmt.Sprintf("T%d", i+1), kind: serialTx,
			prog: g.program(2+r.IntN(6), true, 0), rollback: g.chance(8)})
	}
	var ro *serialUnit
	if g.chance(3) {
		ro = &serialUnit{name: "R", kind: serialReadOnly, prog: g.readProgram(1 + r.IntN(4))}
	}
	for i := range r.IntN(4) {
		u := &serialUnit{name: fmt.Sprintf("P%d", i+1), kind: serialPlain, prog: []serialOp{g.writeOp(false, 0)}}
		if g.chance(4) {
			u.kind, u.prog = serialManaged, g.program(1+r.IntN(4), true, 0)
		}
		others = append(others, u)
	}
	sched := g.schedule(txs, ro, others)

	// The concurrent run.
	db, users := newUsers(t)
	serialLoad(t, users, init)
	for _, u := range txs {
		tx, err := db.Begin(true)
		require.NoError(t, err)
		u.tx, u.x = tx, &serialExec{users: users.In(tx), tx: tx}
	}
	var committed []*serialUnit // in commit order
	var trace []string
	for _, e := range sched {
		u := e.u
		before := 0
		if u.x != nil {
			before = len(u.x.results)
		}
		what := ""
		switch {
		case u.kind == serialTx && e.step < len(u.prog), u.kind == serialReadOnly && e.step >= 0 && e.step < len(u.prog):
			what = u.prog[e.step].desc
			u.x.do(e.step, u.prog[e.step])
		case u.kind == serialTx && u.rollback:
			what = "Rollback"
			require.NoError(t, u.tx.Rollback())
			u.outcome = "rolled back"
		case u.kind == serialTx:
			what = "Commit"
			switch err := u.tx.Commit(); {
			case err == nil:
				u.outcome = "committed"
				committed = append(committed, u)
			case errors.Is(err, ErrConflict):
				u.outcome = "conflict"
			default:
				t.Fatalf("%s: Commit: %v", origin, err)
			}
		case u.kind == serialReadOnly && e.step < 0:
			what = "Begin(false)"
			tx, err := db.Begin(false)
			require.NoError(t, err)
			u.tx, u.x = tx, &serialExec{users: users.In(tx), tx: tx}
			u.at = dump(t, users)
		case u.kind == serialReadOnly:
			what = "Commit"
			require.NoError(t, u.tx.Commit())
			u.outcome = "read-only"
		case u.kind == serialPlain:
			what = u.prog[0].desc
			u.x = &serialExec{users: users}
			u.x.do(0, u.prog[0])
			u.outcome = "committed"
			committed = append(committed, u)
		case u.kind == serialManaged:
			what = "db.Update"
			u.x = &serialExec{}
			require.NoError(t, db.Update(func(tx *Tx) error {
				*u.x = serialExec{users: users.In(tx), tx: tx}
				u.x.runAll(u.prog)
				return nil
			}))
			before = 0
			u.outcome = "committed"
			committed = append(committed, u)
		}
		line := fmt.Sprintf("%s.%d %s", u.name, e.step, what)
		if u.x != nil && len(u.x.results) > before {
			line += " -> " + strings.Join(u.x.results[before:], " | ")
		}
		if u.outcome != "" && (e.step == len(u.prog) || u.kind != serialTx) {
			line += " => " + u.outcome
		}
		trace = append(trace, line)
	}
	final := dump(t, users)
	all := append(append(slices.Clone(txs), others...), ro)
	for _, u := range all {
		if u == nil || u.x == nil {
			continue
		}
		u.res, u.keys, u.uvs = u.x.results, u.x.got, u.x.uvs
		for _, res := range u.res {
			if strings.Contains(res, "UNEXPECTED") {
				t.Fatalf("%s: %s: unexpected error: %s\n%s", origin, u.name, res, serialDescribe(init, all, trace, final))
			}
		}
	}

	if st != nil {
		st.Rounds++
		n := 0
		for _, u := range txs {
			switch u.outcome {
			case "committed":
				st.Commits++
				n++
			case "conflict":
				st.Conflicts++
			case "rolled back":
				st.Rollbacks++
			}
		}
		if n >= 2 {
			st.SeveralCommitted++
		}
		if ro != nil {
			st.ReadOnly++
		}
		st.Plain += len(others)
	}

	// The checks.
	h := &serialHistory{init: init, units: committed, final: final}
	if order, diag := h.check(t); order == nil {
		t.Fatalf("%s: the committed transactions match no serial order\n%s\n%s", origin, serialDescribe(init, all, trace, final), diag)
	}
	if ro != nil {
		if d := serialCheckReadOnly(t, ro); d != "" {
			t.Fatalf("%s: the read-only transaction did not read the state it began on: %s\n%s", origin, d, serialDescribe(init, all, trace, final))
		}
	}
}

// serialLoad stores the users of a round's initial state.
func serialLoad(t testing.TB, users *Table[User], init []User) {
	t.Helper()
	for _, u := range init {
		_, err := users.Insert(u)
		require.NoError(t, err)
	}
}

// serialHistory is what the concurrent run committed: the units, in commit
// order, and the state it began on and ended in.
type serialHistory struct {
	init  []User
	units []*serialUnit
	final []User
}

// check returns the first serial order of h's units (the commit order
// first, then every other) in which each unit, run alone from scratch,
// reads what it read in h and which ends in h's final state; nil if none
// does, and a description of why the commit order did not.
func (h *serialHistory) check(t testing.TB) ([]*serialUnit, string) {
	idx := make([]int, len(h.units))
	for i := range idx {
		idx[i] = i
	}
	diag := ""
	for {
		order := make([]*serialUnit, len(idx))
		for i, j := range idx {
			order[i] = h.units[j]
		}
		mismatch, final := serialReplay(t, h.init, order)
		if mismatch == "" && !slices.Equal(final, h.final) {
			mismatch = "final state " + serialUsers(final)
		}
		if mismatch == "" {
			return order, ""
		}
		if diag == "" {
			names := make([]string, len(order))
			for i, u := range order {
				names[i] = u.name
			}
			diag = fmt.Sprintf("in the commit order %v, run serially: %s", names, mismatch)
		}
		if !serialNextPerm(idx) {
			return nil, diag
		}
	}
}

// serialNextPerm advances p to the next permutation in lexicographic
// order, and reports false after the last.
func serialNextPerm(p []int) bool {
	i := len(p) - 2
	for i >= 0 && p[i] >= p[i+1] {
		i--
	}
	if i < 0 {
		return false
	}
	j := len(p) - 1
	for p[j] <= p[i] {
		j--
	}
	p[i], p[j] = p[j], p[i]
	slices.Reverse(p[i+1:])
	return true
}

// serialReplay runs the units in order, alone, on a fresh DB holding init,
// each with the auto-assigned keys it got in the concurrent run, and
// returns the first difference from what each read there ("" if none) and
// the final state.
func serialReplay(t testing.TB, init []User, order []*serialUnit) (string, []User) {
	db := newTestDB(t)
	users := newUsersIn(t, db)
	serialLoad(t, users, init)
	for _, u := range order {
		x := &serialExec{forced: u.keys, want: u.res, wantUVs: u.uvs}
		switch u.kind {
		case serialTx:
			tx, err := db.Begin(true)
			require.NoError(t, err)
			x.users, x.tx = users.In(tx), tx
			x.runAll(u.prog)
			if err := tx.Commit(); err != nil {
				return fmt.Sprintf("%s, alone, did not commit: %v", u.name, err), nil
			}
		case serialPlain:
			x.users = users
			x.runAll(u.prog)
		case serialManaged:
			err := db.Update(func(tx *Tx) error {
				*x = serialExec{users: users.In(tx), tx: tx, forced: u.keys, want: u.res, wantUVs: u.uvs}
				x.runAll(u.prog)
				return nil
			})
			if err != nil {
				return fmt.Sprintf("%s, alone, did not commit: %v", u.name, err), nil
			}
		}
		if d := serialDiff(u, x.results); d != "" {
			return d, nil
		}
	}
	return "", dump(t, users)
}

// serialDiff describes the first result of u that differs from got.
func serialDiff(u *serialUnit, got []string) string {
	for i := range max(len(u.res), len(got)) {
		want, have := "(nothing)", "(nothing)"
		if i < len(u.res) {
			want = u.res[i]
		}
		if i < len(got) {
			have = got[i]
		}
		if want != have {
			return fmt.Sprintf("%s result %d: read %q concurrently, %q serially", u.name, i, want, have)
		}
	}
	return ""
}

// serialCheckReadOnly runs ro's reads alone on the state it began on and
// describes the first difference.
func serialCheckReadOnly(t testing.TB, ro *serialUnit) string {
	db := newTestDB(t)
	users := newUsersIn(t, db)
	serialLoad(t, users, ro.at)
	x := &serialExec{}
	require.NoError(t, db.View(func(tx *Tx) error {
		x.users, x.tx = users.In(tx), tx
		x.runAll(ro.prog)
		return nil
	}))
	return serialDiff(ro, x.results)
}

// serialDescribe lays out a round: the initial state, each unit's program
// and outcome, the schedule with what each step read, the final state.
func serialDescribe(init []User, units []*serialUnit, trace []string, final []User) string {
	var b strings.Builder
	fmt.Fprintf(&b, "initial: %s\n", serialUsers(init))
	for _, u := range units {
		if u == nil {
			continue
		}
		fmt.Fprintf(&b, "%s (%s):\n", u.name, u.outcome)
		for i, op := range u.prog {
			fmt.Fprintf(&b, "  %d: %s\n", i, op.desc)
		}
		if len(u.keys) > 0 {
			fmt.Fprintf(&b, "  auto-assigned keys: %v\n", u.keys)
		}
	}
	b.WriteString("schedule:\n")
	for _, l := range trace {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "final: %s", serialUsers(final))
	return b.String()
}
