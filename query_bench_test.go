package recstore

import (
	"fmt"
	"math/rand/v2"
	"strings"
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
		explain(b, users.Filter(uEmail.Eq(emails[0])), fmt.Sprintf("point user_email (email=%q)", emails[0]))
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
		explain(b, q, fmt.Sprintf("range user_age (age >= %d, age <= %d), then sort", lo, lo+9))
		collect(b, q, 1000)
	})
	b.Run("range_fullscan_1000", func(b *testing.B) {
		q := users.Filter(Where(func(u *User) bool { return u.Age >= lo && u.Age <= lo+9 }))
		explain(b, q, "full scan primary")
		collect(b, q, 1000)
	})
	b.Run("first_orderby_index", func(b *testing.B) {
		q := users.Filter().OrderBy(uAge.Asc())
		explain(b, q, "full scan user_age")
		first(b, q, 1)
	})
	b.Run("first_orderby_sort", func(b *testing.B) {
		q := users.Filter().OrderBy(uName.Asc())
		explain(b, q, "full scan primary, then sort")
		first(b, q, 1) // name0000000 is user 0, id 1
	})
}

// ordBenchN is the size of BenchmarkOrderedLimit's table, and ordBenchOrgs
// its number of orgs.
const (
	ordBenchN    = 1_000_000
	ordBenchOrgs = 1000
)

// ordBenchMembers builds the member table of BenchmarkOrderedLimit:
// member i is in org i%1000 and joined at t0 plus i%1000 + 1000*(i/2000)
// seconds, so that an org's members join in pairs (runs of two ties, in
// the org and in the table); indexes on (org, joined) and joined.
func ordBenchMembers(b *testing.B) (*Table[member], time.Time) {
	b.Helper()
	start := time.Now()
	members, err := NewTable(newTestDB(b), "Member",
		AutoPrimaryKey(memID, func(m *member, id int64) { m.ID = id }),
		Index("org_joined", memOrg, memJoined),
		Index("member_joined", memJoined),
		Fields(memName))
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 10_000
	recs := make([]member, 0, batch)
	for i := range ordBenchN {
		recs = append(recs, member{
			Org:    ordBenchOrg(i % ordBenchOrgs),
			Joined: t0.Add(time.Duration(i/(2*ordBenchOrgs)*ordBenchOrgs+i%ordBenchOrgs) * time.Second),
			Name:   fmt.Sprint("m", i),
		})
		if len(recs) == batch || i == ordBenchN-1 {
			if _, err := members.InsertMany(recs, OnConflict[member]{}); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	b.Logf("built %d members in %v", ordBenchN, time.Since(start).Round(time.Millisecond))
	return members, t0
}

func ordBenchOrg(i int) string { return fmt.Sprintf("org%03d", i) }

// BenchmarkOrderedLimit measures queries that read an index in order and
// stop at a limit, on a table of ordBenchN members, built once:
//
//   - newest10_of_org: Filter(org).OrderBy(joined desc).Limit(10), through
//     the (org, joined) index read backwards from the org's end, each run
//     of ties sorted by primary key; the most common list query.
//   - oldest10_of_org: the same, ascending.
//   - asc_one_field_10: Filter(joined >= t).OrderBy(joined asc).Limit(10)
//     through the one-field joined index: the case that streamed before.
//   - btree_descend_10: the (org, joined) tree's Descend from an org's
//     end, with a probe that compares the field itself, copying out the
//     org's first 10 records: the least work that answers newest10_of_org
//     from the same tree (without the ties' order), its floor.
//   - desc_full_scan_10: Filter().OrderBy(joined desc).Limit(10), the whole
//     table's newest.
//   - latest_of_org: Filter(org).Latest(joined).
//
// Each query rotates over the orgs (or start times).
func BenchmarkOrderedLimit(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a table of 1,000,000 records")
	}
	members, t0 := ordBenchMembers(b)
	collect := func(b *testing.B, q func(i int) *Query[member], want int) {
		b.Helper()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			recs, err := q(i).Collect()
			if err != nil || len(recs) != want {
				b.Fatalf("%d records, %v; want %d", len(recs), err, want)
			}
			i++
		}
	}
	newest := func(i int) *Query[member] {
		return members.Filter(memOrg.Eq(ordBenchOrg(i % ordBenchOrgs))).OrderBy(memJoined.Desc()).Limit(10)
	}
	if got, want := newest(7).Explain(), `prefix org_joined (org="org007") descending, then sort ties`; got != want {
		b.Fatalf("plan %q, want %q", got, want)
	}
	b.Run("newest10_of_org", func(b *testing.B) { collect(b, newest, 10) })
	b.Run("oldest10_of_org", func(b *testing.B) {
		collect(b, func(i int) *Query[member] {
			return members.Filter(memOrg.Eq(ordBenchOrg(i % ordBenchOrgs))).OrderBy(memJoined.Asc()).Limit(10)
		}, 10)
	})
	b.Run("asc_one_field_10", func(b *testing.B) {
		q := func(i int) *Query[member] {
			since := t0.Add(time.Duration(i*7919%(ordBenchN/2)) * time.Second)
			return members.Filter(memJoined.Ge(since)).OrderBy(memJoined.Asc()).Limit(10)
		}
		if got := q(0).Explain(); !strings.HasPrefix(got, "range member_joined (joined >= ") || strings.Contains(got, "sort") {
			b.Fatalf("plan %q", got)
		}
		collect(b, q, 10)
	})
	b.Run("btree_descend_10", func(b *testing.B) {
		v := versionOf(members)
		var tr *tree[member]
		for i, d := range v.sch.indexes {
			if d.name == "org_joined" {
				tr = v.trees[i]
			}
		}
		out := make([]member, 0, 10)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			org := ordBenchOrg(i % ordBenchOrgs)
			out = out[:0]
			tr.Descend(func(m *member) int {
				if c := strings.Compare(org, m.Org); c != 0 {
					return c
				}
				return 1 // after every member of org
			}, func(m *member) bool {
				return m.Org < org // before every member of org
			}, func(m *member) bool {
				out = append(out, *m)
				return len(out) < cap(out)
			})
			if len(out) != cap(out) || out[0].Org != org {
				b.Fatalf("%d members, the first of %s", len(out), out[0].Org)
			}
			i++
		}
	})
	b.Run("desc_full_scan_10", func(b *testing.B) {
		q := func(int) *Query[member] { return members.Filter().OrderBy(memJoined.Desc()).Limit(10) }
		if got, want := q(0).Explain(), "full scan member_joined descending, then sort ties"; got != want {
			b.Fatalf("plan %q, want %q", got, want)
		}
		collect(b, q, 10)
	})
	b.Run("latest_of_org", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := members.Filter(memOrg.Eq(ordBenchOrg(i % ordBenchOrgs))).Latest(memJoined); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
