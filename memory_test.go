package recstore

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Costs that must follow what a call touches and what the store holds,
// not the size of the DB or of an earlier write (doc.go, Costs).

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTable_DeleteAll_GivesMemoryBack: a table emptied by one Query.Delete
// holds about what an empty table holds: its hash indexes shrink, and the
// committer keeps no scratch sized for the huge batch (213 MB stayed
// held after deleting 1,000,000 records before).
func TestTable_DeleteAll_GivesMemoryBack(t *testing.T) {
	n := 200_000
	if raceEnabled {
		n = 50_000
	}
	db, users := newUsers(t)
	before := heapInUse()
	recs := make([]User, n)
	for i := range recs {
		recs[i] = User{Email: fmt.Sprint("e", i), Org: "o", Username: fmt.Sprint(i), Age: i % 100}
	}
	_, err := users.InsertMany(recs, OnConflict[User]{})
	require.NoError(t, err)
	recs = nil
	full := heapInUse()
	k, err := users.Filter().Delete()
	require.NoError(t, err)
	require.Equal(t, n, k)
	_ = users.Len() // a version holding the delete
	after := heapInUse()
	held := int64(after) - int64(before)
	t.Logf("%d records: %d B held full, %d B after deleting them all", n, full-before, held)
	require.Less(t, held, int64(512<<10), "memory held after deleting every record (%d B per deleted record)", held/int64(n))
	runtime.KeepAlive(db)
}

// TestTable_Empty_HoldsLittle: an empty table of the User shape (a
// primary key, two unique indexes, a plain one) holds a few kilobytes, not
// a hash partition per stripe and index (about 17 KB before).
func TestTable_Empty_HoldsLittle(t *testing.T) {
	db := newTestDB(t)
	const n = 200
	before := heapInUse()
	tables := make([]*Table[User], n)
	for i := range tables {
		tbl, err := NewTable(db, fmt.Sprint("T", i), userTable(uName)...)
		require.NoError(t, err)
		tables[i] = tbl
	}
	per := (int64(heapInUse()) - int64(before)) / n
	t.Logf("%d B per empty table", per)
	require.Less(t, per, int64(8<<10))
	runtime.KeepAlive(tables)
}

// BenchmarkTable_Update_ManyTables is a one-record Update in a DB of 1,
// 1,000 and 5,000 tables: its cost must not grow with the number of
// tables (it took 35 µs with 1,000 tables and 141 µs with 5,000, against
// 1.7 µs with one, before).
func BenchmarkTable_Update_ManyTables(b *testing.B) {
	for _, tables := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("tables=%d", tables), func(b *testing.B) {
			db := newTestDB(b)
			all := make([]*Table[User], tables)
			for i := range all {
				tbl, err := NewTable(db, fmt.Sprint("T", i), userTable(uName)...)
				require.NoError(b, err)
				all[i] = tbl
			}
			u, err := all[0].Insert(User{Email: "a", Org: "o", Username: "u"})
			require.NoError(b, err)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				u.Age = i
				if err := all[0].Update(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
