package recstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Panic injection (TESTING.md §7). Every kind of user function the engine
// calls on the pnRec table panics at some point of every kind of write,
// schema change and transaction:
//
//   - callbacks (create, update, merge, keep, transaction and savepoint
//     functions) and Where conditions of queries panic at random while
//     injection is armed (pnInject);
//   - field accessors and the predicate of a partial index panic on
//     poisoned records (pnPoison): they must be pure functions of the
//     record (doc.go), so one that panics does so on every call with that
//     record, which the engine must then refuse to store. A field that a
//     later index adds (pnExtra) panics on records stored before it.
//
// After each operation, with injection off:
//
//   - the invariant checker passes on an idle DB: every lock free, the fast
//     path on, no index build's capture left, every index whole;
//   - an operation that panicked changed nothing;
//   - an operation that returned behaves as on a mirror DB that runs it
//     without injection: the same result and the same records after it.
//
// The panic must reach the caller as the injected value: any other panic
// (a nil dereference inside the engine, say) fails the test.

// pnPanic is the value an injected panic raises.
type pnPanic struct{}

var (
	pnArmed   atomic.Bool
	pnCounter atomic.Uint64
	pnSeedVal atomic.Uint64
	pnOdds    atomic.Uint64 // one call in pnOdds panics while armed
)

// pnInject panics with odds 1/pnOdds while injection is armed. Which calls
// panic follows from the seed and the number of calls made, so a run in
// one goroutine is reproducible.
func pnInject() {
	if !pnArmed.Load() {
		return
	}
	h := pnCounter.Add(1) ^ pnSeedVal.Load()
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	if (h^h>>31)%pnOdds.Load() == 0 {
		panic(pnPanic{})
	}
}

type pnRec struct {
	ID     int64
	Code   string
	Group  string
	Slot   int
	Rank   int
	Note   string
	Poison string // the accessor that panics on this record, if any
}

// pnPoison panics if r is poisoned for the accessor named what.
func pnPoison(r *pnRec, what string) {
	if r.Poison == what {
		panic(pnPanic{})
	}
}

var (
	pnID    = Field("id", func(r *pnRec) int64 { pnPoison(r, "id"); return r.ID })
	pnCode  = Field("code", func(r *pnRec) string { pnPoison(r, "code"); return r.Code })
	pnGroup = Field("group", func(r *pnRec) string { pnPoison(r, "group"); return r.Group })
	pnSlot  = Field("slot", func(r *pnRec) int { pnPoison(r, "slot"); return r.Slot })
	pnRank  = Field("rank", func(r *pnRec) int { pnPoison(r, "rank"); return r.Rank })
	pnNote  = Field("note", func(r *pnRec) string { pnPoison(r, "note"); return r.Note })
	// pnNoted is the predicate of a partial unique index.
	pnNoted = Where(func(r *pnRec) bool { pnPoison(r, "noted"); return r.Note != "" })
	// pnExtra is a field that only an index added later covers: its
	// accessor panics on records with slot 7, which the table may hold
	// when the index is added.
	pnExtra = Field("extra", func(r *pnRec) int {
		if r.Slot == 7 {
			panic(pnPanic{})
		}
		return r.Slot * 10
	})
)

// pnPoisons are the accessors a generated record may poison.
var pnPoisons = []string{"id", "code", "group", "slot", "rank", "note", "noted"}

func newPnTable(t testing.TB, db *DB) *Table[pnRec] {
	t.Helper()
	tbl, err := NewTable(db, "Rec", PrimaryKey(pnID),
		Unique("rec_code", pnCode),
		Unique("rec_group_slot", pnGroup, pnSlot),
		Index("rec_rank", pnRank),
		Unique("rec_note", pnNote).Where(pnNoted))
	require.NoError(t, err)
	return tbl
}

// pnCall runs fn and returns whether it panicked with the injected value;
// any other panic fails the test.
func pnCall(t testing.TB, fn func()) (panicked bool) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(pnPanic); !ok {
			t.Fatalf("a panic that was not injected: %v", r)
		}
		panicked = true
	}()
	fn()
	return false
}

// pnOp is one generated operation: run performs it on a table and returns
// its outcome as a string.
type pnOp struct {
	name string
	run  func(db *DB, tbl *Table[pnRec]) string
}

func pnOut(vals ...any) string { return fmt.Sprint(vals...) }

// pnGen generates operations over a small key space, so that they collide.
type pnGen struct{ rng *rand.Rand }

func (g *pnGen) rec() pnRec {
	r := g.rng
	rec := pnRec{
		ID:    int64(1 + r.IntN(40)),
		Code:  fmt.Sprint("c", r.IntN(40)),
		Group: fmt.Sprint("g", r.IntN(3)),
		Slot:  r.IntN(10),
		Rank:  r.IntN(8),
	}
	if r.IntN(3) == 0 {
		rec.Note = fmt.Sprint("n", r.IntN(10))
	}
	if r.IntN(10) == 0 {
		rec.Poison = pnPoisons[r.IntN(len(pnPoisons))]
	}
	return rec
}

func (g *pnGen) lookup() Cond[pnRec] {
	r := g.rng
	switch r.IntN(5) {
	case 0:
		return pnID.Eq(int64(1 + r.IntN(40)))
	case 1:
		return pnCode.Eq(fmt.Sprint("c", r.IntN(40)))
	case 2:
		return And(pnGroup.Eq(fmt.Sprint("g", r.IntN(3))), pnSlot.Eq(r.IntN(10)))
	case 3:
		return pnRank.Eq(r.IntN(8))
	}
	return And(pnRank.Ge(r.IntN(8)), Where(func(x *pnRec) bool { pnInject(); return x.Slot%2 == 0 }))
}

// write returns one write that a transaction or a plain call makes.
func (g *pnGen) write() pnOp {
	r := g.rng
	rec, lookup, rank := g.rec(), g.lookup(), r.IntN(8)
	switch r.IntN(11) {
	case 0, 1:
		return pnOp{"Insert", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Insert(rec)) }}
	case 2:
		return pnOp{"Update", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Update(rec)) }}
	case 3:
		return pnOp{"Upsert", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Upsert(rec)) }}
	case 4:
		return pnOp{"Delete", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Delete(lookup)) }}
	case 5:
		code := fmt.Sprint("c", r.IntN(40))
		return pnOp{"GetOrCreate covered", func(_ *DB, tbl *Table[pnRec]) string {
			return pnOut(tbl.GetOrCreate(pnCode.Eq(code), func() (pnRec, error) {
				pnInject()
				c := rec
				c.Code = code
				return c, nil
			}))
		}}
	case 6:
		return pnOp{"UpdateOrCreate", func(_ *DB, tbl *Table[pnRec]) string {
			return pnOut(tbl.UpdateOrCreate(pnRank.Eq(rank),
				func(old pnRec) (pnRec, error) { pnInject(); old.Slot = rec.Slot; return old, nil },
				func() (pnRec, error) { pnInject(); c := rec; c.Rank = rank; return c, nil }))
		}}
	case 7:
		recs := []pnRec{rec, g.rec(), g.rec()}
		oc := []OnConflict[pnRec]{{}, {Ignore: true}, {Update: func(old, proposed pnRec) (pnRec, error) {
			pnInject()
			old.Rank = proposed.Rank
			return old, nil
		}}}[r.IntN(3)]
		return pnOp{"InsertMany", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.InsertMany(recs, oc)) }}
	case 8:
		return pnOp{"Query.Update", func(_ *DB, tbl *Table[pnRec]) string {
			return pnOut(tbl.Filter(lookup).Update(func(old pnRec) (pnRec, error) { pnInject(); old.Rank = rank; return old, nil }))
		}}
	case 9:
		return pnOp{"Query.Delete", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Filter(lookup).Delete()) }}
	}
	return pnOp{"Dedupe", func(_ *DB, tbl *Table[pnRec]) string {
		return pnOut(tbl.Dedupe(func(group []pnRec) int { pnInject(); return len(group) - 1 }, pnRank))
	}}
}

func (g *pnGen) read() pnOp {
	r := g.rng
	lookup := g.lookup()
	desc := r.IntN(2) == 0
	switch r.IntN(4) {
	case 0:
		return pnOp{"Get", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Get(lookup)) }}
	case 1:
		return pnOp{"Count", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Filter(lookup).Count()) }}
	case 2:
		return pnOp{"Duplicates", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.Duplicates(pnRank)) }}
	}
	order := pnRank.Asc()
	if desc {
		order = pnRank.Desc()
	}
	return pnOp{"Collect", func(_ *DB, tbl *Table[pnRec]) string {
		return pnOut(tbl.Filter(lookup).OrderBy(order, pnCode.Asc()).Collect())
	}}
}

// op returns one operation of any kind.
func (g *pnGen) op() pnOp {
	r := g.rng
	switch n := r.IntN(20); {
	case n < 10:
		return g.write()
	case n < 13:
		return g.read()
	case n == 13:
		name := fmt.Sprint("rec_extra", r.IntN(2))
		spec := []*IndexSpec[pnRec]{Index(name, pnSlot, pnRank), Unique(name, pnRank, pnSlot), Unique(name, pnSlot).Where(pnRank.Lt(3)), Index(name, pnExtra)}[r.IntN(4)]
		return pnOp{"AddIndex", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.AddIndex(spec)) }}
	case n == 14:
		name := fmt.Sprint("rec_extra", r.IntN(2))
		return pnOp{"DropIndex", func(_ *DB, tbl *Table[pnRec]) string { return pnOut(tbl.DropIndex(name)) }}
	case n == 15:
		reads := []pnOp{g.read(), g.read()}
		return pnOp{"View", func(db *DB, tbl *Table[pnRec]) string {
			var out []string
			err := db.View(func(tx *Tx) error {
				pnInject()
				for _, o := range reads {
					out = append(out, o.run(db, tbl.In(tx)))
				}
				return nil
			})
			return pnOut(out, err)
		}}
	}
	// A transaction: reads and writes, some inside a savepoint whose
	// function may fail or panic (recovered inside the transaction).
	var steps []pnOp
	for range 1 + r.IntN(5) {
		if r.IntN(3) == 0 {
			steps = append(steps, g.read())
		} else {
			steps = append(steps, g.write())
		}
	}
	inner := g.write()
	failInner := r.IntN(2) == 0
	return pnOp{"DB.Update", func(db *DB, tbl *Table[pnRec]) string {
		var out []string
		err := db.Update(func(tx *Tx) error {
			out = out[:0]
			in := tbl.In(tx)
			for _, o := range steps {
				out = append(out, o.run(db, in))
			}
			sperr := tx.Savepoint(func(*Tx) error {
				out = append(out, inner.run(db, in))
				pnInject()
				if failInner {
					return errors.New("inner failed")
				}
				return nil
			})
			out = append(out, pnOut(sperr))
			pnInject()
			return nil
		})
		return pnOut(out, err)
	}}
}

// TestPanicInjection_Sequential runs seeded operations on a DB whose user
// functions panic at random, and on a mirror DB that runs every operation
// that did not panic, without injection: see the top of this file.
func TestPanicInjection_Sequential(t *testing.T) {
	seed := testSeed(t)
	g := &pnGen{rng: rand.New(rand.NewPCG(seed, 0x70616e6963))}
	pnSeedVal.Store(seed)
	pnCounter.Store(0)
	pnOdds.Store(40)

	db, mirrorDB := newTestDB(t), newTestDB(t)
	tbl, mirror := newPnTable(t, db), newPnTable(t, mirrorDB)
	const n = 3000
	panics := map[string]int{}
	for i := range n {
		op := g.op()
		before := dump(t, tbl)
		var got string
		pnArmed.Store(g.rng.IntN(4) != 0)
		panicked := pnCall(t, func() { got = op.run(db, tbl) })
		pnArmed.Store(false)
		require.NoError(t, memOf(db).check(true), "op %d (%s, panicked %v, seed %d): the DB is not back to normal", i, op.name, panicked, seed)
		if panicked {
			panics[op.name]++
			require.Equal(t, before, dump(t, tbl), "op %d (%s, seed %d) panicked and changed records", i, op.name, seed)
			continue
		}
		var want string
		require.False(t, pnCall(t, func() { want = op.run(mirrorDB, mirror) }), "op %d (%s, seed %d): the mirror panicked", i, op.name, seed)
		require.Equal(t, want, got, "op %d (%s, seed %d): the result differs from the mirror's", i, op.name, seed)
		require.Equal(t, dump(t, mirror), dump(t, tbl), "op %d (%s, seed %d): the records differ from the mirror's", i, op.name, seed)
	}
	for _, r := range dump(t, tbl) {
		called := r.Poison != "note" || r.Note != "" // the note index holds only noted records
		require.False(t, r.Poison != "" && called, "a poisoned record was stored: %+v", r)
	}
	t.Logf("%d operations; injected panics reached the caller of: %v", n, panics)
	total := 0
	for _, k := range panics {
		total += k
	}
	require.Greater(t, total, n/20, "injection must make a fair share of operations panic")

	// The fast path serves inserts again, and reads see them at once.
	for _, name := range []string{"rec_extra0", "rec_extra1"} {
		_ = tbl.DropIndex(name) // whichever the operations left
	}
	for i := range 100 {
		_, err := tbl.Insert(pnRec{ID: int64(1000 + i), Code: fmt.Sprint("after", i), Group: "after", Slot: i})
		require.NoError(t, err)
	}
	got, err := tbl.Get(pnCode.Eq("after99"))
	require.NoError(t, err)
	require.Equal(t, int64(1099), got.ID)
}

// TestPanicInjection_Concurrent runs operations from several goroutines
// while user functions panic at random; afterwards, with injection off,
// the DB passes the invariant checker as idle, and serves every kind of
// call.
func TestPanicInjection_Concurrent(t *testing.T) {
	seed := testSeed(t)
	pnSeedVal.Store(seed)
	pnOdds.Store(60)
	db := newTestDB(t)
	tbl := newPnTable(t, db)
	var wg sync.WaitGroup
	var panicked atomic.Int64
	pnArmed.Store(true)
	for w := range 4 {
		g := &pnGen{rng: rand.New(rand.NewPCG(seed, uint64(w)))}
		wg.Go(func() {
			for range 400 {
				op := g.op()
				if pnCall(t, func() { op.run(db, tbl) }) {
					panicked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	pnArmed.Store(false)
	t.Logf("%d operations panicked", panicked.Load())
	require.Positive(t, panicked.Load())
	require.NoError(t, memOf(db).check(true))

	g := &pnGen{rng: rand.New(rand.NewPCG(seed, 99))}
	for range 200 {
		op := g.op()
		pnCall(t, func() { op.run(db, tbl) }) // poisoned records still panic
	}
	require.NoError(t, memOf(db).check(true))
}
