package recstore

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// The magic constants vary between runs of the suite: the results must not
// depend on them (metamorphic testing).
var (
	flagStripes = flag.Int("recstore.stripes", 0, "lock stripes per table for tests (0: default)")
	flagDegree  = flag.Int("recstore.degree", 0, "B-tree degree for tests (0: default)")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testOptions are the DB options of this run of the suite.
func testOptions() Options {
	return Options{Stripes: *flagStripes, Degree: *flagDegree}
}

// newTestDB returns an empty DB with this run's options (or opts). When
// the test ends, the invariant checker runs on it, with nothing under way:
// every index holds exactly its records, every lock is free and every mode
// is back to normal.
func newTestDB(t testing.TB, opts ...Options) *DB {
	t.Helper()
	db := newUncheckedDB(opts...)
	t.Cleanup(func() {
		if err := memOf(db).check(true); err != nil {
			t.Errorf("invariant checker: %v", err)
		}
	})
	return db
}

// newUncheckedDB is newTestDB without the invariant checker at cleanup:
// only for the fault tests (faults_test.go), whose faults corrupt a table
// on purpose and which check it themselves. Every other test's DB comes
// from newTestDB.
func newUncheckedDB(opts ...Options) *DB {
	o := testOptions()
	if len(opts) > 0 {
		o = opts[0]
	}
	return New(o)
}

// memOf is db's engine.
func memOf(db *DB) *memEngine { return db.eng.(*memEngine) }

// memTableOf is tbl's table in its engine.
func memTableOf[T any](tbl *Table[T]) *memTable[T] { return tbl.eng.(*memTable[T]) }

// versionOf is tbl in the latest version of its DB.
func versionOf[T any](tbl *Table[T]) *tableVersion[T] { return memTableOf(tbl).latest() }

// checkInvariants runs the invariant checker on tbl's DB, which may have
// calls under way.
func checkInvariants[T any](tbl *Table[T]) error { return memOf(tbl.db).check(false) }

// dump returns every record of tbl in primary key order, as tbl sees
// them: through its transaction, if it is bound to one.
func dump[T any](t testing.TB, tbl *Table[T]) []T {
	t.Helper()
	return tableRecords(tbl)
}

// tableRecords is dump without a test: every record of tbl as it sees
// them, read directly (so that it works on a closed DB, and notes no read
// in tbl's transaction).
func tableRecords[T any](tbl *Table[T]) []T {
	v := versionOf(tbl)
	if tbl.tx != nil {
		v = txViewOf(tbl.tx, tbl)
	}
	var out []T
	v.trees[0].Scan(func(r *T) bool {
		out = append(out, *r)
		return true
	})
	return out
}

// txViewOf is tbl as tx sees it.
func txViewOf[T any](tx *Tx, tbl *Table[T]) *tableVersion[T] {
	return memTableOf(tbl).txTable(tx.eng.(*memTx)).view()
}
