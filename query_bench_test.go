package recstore

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// fltBenchN is the size of BenchmarkFilter's table. 1,000,000 users build
// in 6 to 15 seconds on a busy 2-core machine (InsertMany in batches; -v
// logs "built … in …"); the invariant checker then takes a few more at
// cleanup.
const fltBenchN = 1_000_000

// fltBenchUsers builds the User table of BenchmarkFilter: user i has email
// user<i>@example.com, org org<i%1000>, age i/100 (so ten consecutive ages
// are 1,000 users) and a name in no relation to its key.
func fltBenchUsers(b *testing.B, n int) *Table[User] {
	b.Helper()
	start := time.Now()
	_, users := newUsers(b)
	const batch = 10_000
	recs := make([]User, 0, batch)
	for i := range n {
		recs = append(recs, User{
			Email:    fltBenchEmail(i),
			Org:      fmt.Sprintf("org%03d", i%1000),
			Username: fmt.Sprint("u", i),
			Name:     fmt.Sprintf("name%07d", (i*7919)%n),
			Age:      i / 100,
		})
		if len(recs) == batch || i == n-1 {
			if _, err := users.InsertMany(recs, OnConflict[User]{}); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	b.Logf("built %d users in %v", n, time.Since(start).Round(time.Millisecond))
	return users
}

func fltBenchEmail(i int) string { return fmt.Sprintf("user%07d@example.com", i) }

// BenchmarkFilter measures Filter's plans on a table of fltBenchN users,
// built once, outside the timed region:
//
//   - point_unique: Get through a unique index (user_email).
//   - range_index_1000 vs range_fullscan_1000: the same 1,000 users, by a
//     range of the user_age index and by a Where that forces a full scan.
//   - first_orderby_index vs first_orderby_sort: First in the order of an
//     indexed field (streams, stops at one) and of an unindexed one (reads
//     and sorts every record).
func BenchmarkFilter(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a table of 1,000,000 records")
	}
	users := fltBenchUsers(b, fltBenchN)
	const lo = fltBenchN / 200 // ages lo to lo+9: 1,000 users
	explain := func(b *testing.B, q *Query[User], want string) {
		b.Helper()
		if got := q.Explain(); got != want {
			b.Fatalf("plan %q, want %q", got, want)
		}
	}
	collect := func(b *testing.B, q *Query[User], want int) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			recs, err := q.Collect()
			if err != nil || len(recs) != want {
				b.Fatalf("%d records, %v; want %d", len(recs), err, want)
			}
		}
	}
	first := func(b *testing.B, q *Query[User], wantID int64) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			u, ok, err := q.First()
			if err != nil || !ok || u.ID != wantID {
				b.Fatalf("First: %v, %v, %v; want id %d", u.ID, ok, err, wantID)
			}
		}
	}

	b.Run("point_unique", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		emails := make([]string, 4096)
		for i := range emails {
			emails[i] = fltBenchEmail(rng.IntN(fltBenchN))
		}
		explain(b, users.Filter(uEmail.Eq(emails[0])), fmt.Sprintf("point user_email %q", emails[0]))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := users.Filter(uEmail.Eq(emails[i%len(emails)])).Get(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("range_index_1000", func(b *testing.B) {
		q := users.Filter(uAge.Between(lo, lo+9))
		explain(b, q, fmt.Sprintf("range user_age [%d, %d], then sort", lo, lo+9))
		collect(b, q, 1000)
	})
	b.Run("range_fullscan_1000", func(b *testing.B) {
		q := users.Filter(Where(func(u *User) bool { return u.Age >= lo && u.Age <= lo+9 }))
		explain(b, q, "full scan primary")
		collect(b, q, 1000)
	})
	b.Run("first_orderby_index", func(b *testing.B) {
		q := users.Filter().OrderBy(uAge.Asc())
		explain(b, q, "range user_age (-inf, +inf)")
		first(b, q, 1)
	})
	b.Run("first_orderby_sort", func(b *testing.B) {
		q := users.Filter().OrderBy(uName.Asc())
		explain(b, q, "full scan primary, then sort")
		first(b, q, 1) // name0000000 is user 0, id 1
	})
}
