package recstore

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The planner's ordered access: scans in both directions over composite
// keys whose bytes are the escapes of the encoding (0x00, 0xff), optional
// fields and their nulls, partial and nulls-distinct unique indexes, and
// slices read inside transactions. query_model_test.go compares random
// queries with a reference; these tests pin the cases that a random
// query meets rarely, each against a sort of a plain slice.

// ordRec is a record of the ordering tests: A and B are the fields of a
// composite plain index, B optional; C is unindexed.
type ordRec struct {
	ID int64
	A  string
	B  *int64
	C  int
}

var (
	ordID = Field("id", func(r *ordRec) int64 { return r.ID })
	ordA  = Field("a", func(r *ordRec) string { return r.A })
	ordB  = OptionalField("b", func(r *ordRec) *int64 { return r.B })
	ordC  = Field("c", func(r *ordRec) int { return r.C })
)

// ordStrings are values of A whose encodings hold the escape bytes: each
// 0x00 is written 0x00 0xff and a string ends with 0x00 0x01, so that
// "a\x00" and "a\xff" and "a" order as strings do.
var ordStrings = []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00\x01", "a\x00b", "a\x01", "a\xff", "a\xff\xff", "ab", "\xff", "\xff\x00", "\xff\xff"}

var ordInts = []int64{math.MinInt64, -1, 0, 1, 2, math.MaxInt64}

// newOrdTable returns a table of ordRec with a plain index on (a, b),
// holding every combination of ordStrings and of ordInts and null, three
// times over (ties for every key), inserted in a scrambled order.
func newOrdTable(t *testing.T) (*Table[ordRec], []ordRec) {
	t.Helper()
	db := newTestDB(t)
	tbl, err := NewTable(db, "Ord", PrimaryKey(ordID), Index("a_b", ordA, ordB), Fields(ordC))
	require.NoError(t, err)
	var recs []ordRec
	id := int64(0)
	for range 3 {
		for _, a := range ordStrings {
			for j := -1; j < len(ordInts); j++ {
				id++
				r := ordRec{ID: id*7919%100003 + 1, A: a, C: int(id % 5)}
				if j >= 0 {
					r.B = &ordInts[j]
				}
				recs = append(recs, r)
			}
		}
	}
	_, err = tbl.InsertMany(recs, OnConflict[ordRec]{})
	require.NoError(t, err)
	return tbl, recs
}

// ordTerm is one term of the reference's order: by A, by B (nulls first
// ascending, last descending) or by ID.
type ordTerm struct {
	field string
	desc  bool
}

func ordCompare(terms []ordTerm, x, y *ordRec) int {
	for _, o := range terms {
		var c int
		switch o.field {
		case "a":
			c = strings.Compare(x.A, y.A)
		case "b":
			switch {
			case x.B == nil && y.B == nil:
			case x.B == nil:
				c = -1
			case y.B == nil:
				c = 1
			default:
				c = cmp.Compare(*x.B, *y.B)
			}
		case "id":
			c = cmp.Compare(x.ID, y.ID)
		}
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(x.ID, y.ID)
}

func (o ordTerm) order() Order[ordRec] {
	switch {
	case o.field == "a" && o.desc:
		return ordA.Desc()
	case o.field == "a":
		return ordA.Asc()
	case o.field == "b" && o.desc:
		return ordB.Desc()
	case o.field == "b":
		return ordB.Asc()
	case o.desc:
		return ordID.Desc()
	}
	return ordID.Asc()
}

// TestQuery_OrderedScans_CompositeBytes compares every verb of queries on
// the (a, b) index, in every direction and mix of directions, with a sort
// of the matching records: equalities on a, ranges on b after them,
// prefixes and ranges on a, whose edges fall among keys that differ only
// in escape bytes or nulls.
func TestQuery_OrderedScans_CompositeBytes(t *testing.T) {
	tbl, recs := newOrdTable(t)
	type tcase struct {
		name string
		cond []Cond[ordRec]
		pred func(*ordRec) bool
	}
	var cases []tcase
	probes := append(slices.Clone(ordStrings), "a\x00a", "\x00\xfe", "b", "\xff\xff\xff")
	for _, a := range probes {
		cases = append(cases,
			tcase{fmt.Sprintf("a=%q", a), []Cond[ordRec]{ordA.Eq(a)}, func(r *ordRec) bool { return r.A == a }},
			tcase{fmt.Sprintf("a starts with %q", a), []Cond[ordRec]{ordA.Prefix(a)}, func(r *ordRec) bool { return strings.HasPrefix(r.A, a) }},
			tcase{fmt.Sprintf("a > %q", a), []Cond[ordRec]{ordA.Gt(a)}, func(r *ordRec) bool { return r.A > a }},
			tcase{fmt.Sprintf("a <= %q", a), []Cond[ordRec]{ordA.Le(a)}, func(r *ordRec) bool { return r.A <= a }},
		)
	}
	for _, a := range []string{"", "\x00", "a\x00", "\xff"} {
		for _, v := range []int64{math.MinInt64, 0, 1, math.MaxInt64} {
			cases = append(cases,
				tcase{fmt.Sprintf("a=%q, b > %d", a, v), []Cond[ordRec]{ordA.Eq(a), ordB.Gt(v)}, func(r *ordRec) bool { return r.A == a && r.B != nil && *r.B > v }},
				tcase{fmt.Sprintf("a=%q, b <= %d", a, v), []Cond[ordRec]{ordA.Eq(a), ordB.Le(v)}, func(r *ordRec) bool { return r.A == a && r.B != nil && *r.B <= v }},
				tcase{fmt.Sprintf("a=%q, b >= %d, b < 2", a, v), []Cond[ordRec]{ordA.Eq(a), ordB.Ge(v), ordB.Lt(2)}, func(r *ordRec) bool { return r.A == a && r.B != nil && *r.B >= v && *r.B < 2 }},
			)
		}
		cases = append(cases,
			tcase{fmt.Sprintf("a=%q, b null", a), []Cond[ordRec]{ordA.Eq(a), ordB.IsNull()}, func(r *ordRec) bool { return r.A == a && r.B == nil }},
			tcase{fmt.Sprintf("a=%q, b=0", a), []Cond[ordRec]{ordA.Eq(a), ordB.Eq(0)}, func(r *ordRec) bool { return r.A == a && r.B != nil && *r.B == 0 }},
		)
	}
	orders := [][]ordTerm{
		nil,
		{{"b", false}}, {{"b", true}},
		{{"b", true}, {"id", true}}, {{"b", false}, {"id", true}},
		{{"a", false}}, {{"a", true}},
		{{"a", true}, {"b", true}}, {{"a", true}, {"b", true}, {"id", true}},
		{{"a", false}, {"b", true}}, {{"a", true}, {"b", false}, {"id", true}},
		{{"id", true}},
	}
	for _, c := range cases {
		var match []ordRec
		for _, r := range recs {
			if c.pred(&r) {
				match = append(match, r)
			}
		}
		for _, order := range orders {
			want := slices.Clone(match)
			slices.SortFunc(want, func(x, y ordRec) int { return ordCompare(order, &x, &y) })
			terms := make([]Order[ordRec], len(order))
			for i, o := range order {
				terms[i] = o.order()
			}
			q := tbl.Filter(c.cond...).OrderBy(terms...)
			where := fmt.Sprintf("%s order %v: %s", c.name, order, q.Explain())
			if !strings.HasPrefix(q.Explain(), "key scan") && strings.Contains(c.name, "b null") {
				assert.Contains(t, q.Explain(), "a_b", where)
			}
			got, err := q.Collect()
			require.NoError(t, err, where)
			require.Equal(t, ordIDs(want), ordIDs(got), where)
			first, ok, err := q.First()
			require.NoError(t, err)
			last, ok2, err := q.Last()
			require.NoError(t, err)
			require.Equal(t, len(want) > 0, ok, where)
			require.Equal(t, ok, ok2, where)
			if ok {
				assert.Equal(t, want[0], first, "First %s", where)
				assert.Equal(t, want[len(want)-1], last, "Last %s", where)
			}
			page, err := q.Offset(2).Limit(3).Collect()
			require.NoError(t, err)
			assert.Equal(t, ordIDs(want[min(2, len(want)):min(5, len(want))]), ordIDs(page), "page %s", where)
		}
	}
}

func ordIDs(recs []ordRec) []int64 {
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// The equalities of a composite index's leading fields make its next
// field's order stream, in both directions; Explain says how.
func TestQuery_OrderedScans_Explain(t *testing.T) {
	tbl, _ := newOrdTable(t)
	tests := []struct {
		q    *Query[ordRec]
		want string
	}{
		{tbl.Filter(ordA.Eq("a\x00")).OrderBy(ordB.Desc()), `prefix a_b (a="a\x00") descending, then sort ties`},
		{tbl.Filter(ordA.Eq("a\x00")).OrderBy(ordB.Desc(), ordID.Desc()), `prefix a_b (a="a\x00") descending`},
		{tbl.Filter(ordA.Eq("")).OrderBy(ordB.Asc()), `prefix a_b (a="")`},
		{tbl.Filter(ordA.Eq("\xff"), ordB.Gt(0)).OrderBy(ordB.Desc(), ordID.Desc()), `range a_b (a="\xff", b > 0) descending`},
		{tbl.Filter(ordA.Eq("\xff"), ordB.Lt(0)), `range a_b (a="\xff", b is not null, b < 0), then sort`},
		// IsNull fixes no key, but makes b constant: the order is the
		// primary key's.
		{tbl.Filter(ordA.Eq("x"), ordB.IsNull()).OrderBy(ordB.Asc(), ordID.Desc()), `prefix a_b (a="x") descending`},
		{tbl.Filter(ordA.Prefix("a\x00")).OrderBy(ordA.Desc(), ordB.Desc(), ordID.Desc()), `prefix a_b (a starts with "a\x00") descending`},
		{tbl.Filter(ordA.Le("a")).OrderBy(ordA.Asc(), ordB.Desc()), `range a_b (a <= "a"), then sort ties`},
		{tbl.Filter().OrderBy(ordA.Desc()), "full scan a_b descending, then sort ties"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.q.Explain())
	}
}

// The newest members of an org, through an index on (org, joined): the
// query reads the records it returns, and the one after them that ends a
// run of ties, whatever the size of the org; ties on joined come in
// primary key order.
func TestQuery_NewestOfOrg(t *testing.T) {
	db := newTestDB(t)
	members, err := NewTable(db, "Member", AutoPrimaryKey(memID, func(m *member, id int64) { m.ID = id }),
		Index("org_joined", memOrg, memJoined), Fields(memName))
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []member
	for i := range 600 {
		all = append(all, member{Org: fmt.Sprint("org", i%3), Joined: t0.Add(time.Duration(i/2) * time.Hour), Name: fmt.Sprint("m", i)})
	}
	stored, err := members.InsertMany(all, OnConflict[member]{})
	require.NoError(t, err)
	var org1 []member
	for _, m := range stored.Inserted {
		if m.Org == "org1" {
			org1 = append(org1, m)
		}
	}
	slices.SortFunc(org1, func(a, b member) int {
		return cmp.Or(b.Joined.Compare(a.Joined), cmp.Compare(a.ID, b.ID))
	})

	var reads atomic.Int64
	counted := Where(func(*member) bool { reads.Add(1); return true })
	newest := members.Filter(memOrg.Eq("org1"), counted).OrderBy(memJoined.Desc()).Limit(10)
	assert.Equal(t, `prefix org_joined (org="org1") descending, then sort ties`, newest.Explain())
	got, err := newest.Collect()
	require.NoError(t, err)
	assert.Equal(t, org1[:10], got)
	assert.EqualValues(t, 11, reads.Load(), "the ten, and the one that ends the tenth's run")

	reads.Store(0)
	latest, err := members.Filter(memOrg.Eq("org1"), counted).Latest(memJoined)
	require.NoError(t, err)
	assert.Equal(t, org1[0], latest)
	assert.EqualValues(t, 2, reads.Load())

	reads.Store(0)
	last, ok, err := members.Filter(memOrg.Eq("org1"), counted).OrderBy(memJoined.Asc()).Last()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, org1[0], last, "Last of ascending is the newest, the largest key of its tie")
	assert.EqualValues(t, 1, reads.Load())

	// Since a date, newest first: a range after the equality.
	since := members.Filter(memOrg.Eq("org1"), memJoined.Ge(t0.Add(250*time.Hour))).OrderBy(memJoined.Desc(), memID.Desc())
	assert.Equal(t, `range org_joined (org="org1", joined >= 2026-01-11T10:00:00Z) descending`, since.Explain())
	n, err := since.Count()
	require.NoError(t, err)
	want := 0
	for _, m := range org1 {
		if !m.Joined.Before(t0.Add(250 * time.Hour)) {
			want++
		}
	}
	assert.Equal(t, want, n)
}

// member is the record of the newest-N test and benchmark.
type member struct {
	ID     int64
	Org    string
	Joined time.Time
	Name   string
}

var (
	memID     = Field("id", func(m *member) int64 { return m.ID })
	memOrg    = Field("org", func(m *member) string { return m.Org })
	memJoined = Field("joined", func(m *member) time.Time { return m.Joined })
	memName   = Field("name", func(m *member) string { return m.Name })
)

// acct is the record of the partial and nulls-distinct index tests.
type acct struct {
	ID     int64
	Email  string
	Active bool
	Plan   string
	Score  int
	Org    string
	Nick   *string
}

var (
	acID     = Field("id", func(a *acct) int64 { return a.ID })
	acEmail  = Field("email", func(a *acct) string { return a.Email })
	acActive = Field("active", func(a *acct) bool { return a.Active })
	acPlan   = Field("plan", func(a *acct) string { return a.Plan })
	acScore  = Field("score", func(a *acct) int { return a.Score })
	acOrg    = Field("org", func(a *acct) string { return a.Org })
	acNick   = OptionalField("nick", func(a *acct) *string { return a.Nick })
	// acLive is a Where predicate: a partial index names it, and a query
	// that holds this very Cond implies it.
	acLive = Where(func(a *acct) bool { return a.Active })
)

func newAccts(t *testing.T) (*Table[acct], []acct) {
	t.Helper()
	accts, err := NewTable(newTestDB(t), "Acct", PrimaryKey(acID),
		Unique("live_email", acEmail).Where(acLive),
		Index("paid_score", acScore).Where(And(acPlan.Eq("paid"), acLive)),
		Unique("org_nick", acOrg, acNick),
		Fields(acActive))
	require.NoError(t, err)
	var recs []acct
	for i := range 60 {
		a := acct{ID: int64(i + 1), Email: fmt.Sprint("e", i), Active: i < 20 || i%3 == 0, Plan: []string{"free", "paid"}[i%2],
			Score: i % 7, Org: fmt.Sprint("o", i%4)}
		if !a.Active {
			a.Email = fmt.Sprint("e", i%20) // the inactive share emails with the active
		}
		if i%5 != 0 {
			a.Nick = fltPtr(fmt.Sprint("n", i/4))
		}
		recs = append(recs, a)
	}
	for _, r := range recs {
		_, err := accts.Insert(r)
		require.NoError(t, err, "%+v", r)
	}
	return accts, recs
}

// A partial index serves a query that holds each conjunct of its Where
// (the same condition, a Where predicate the same Cond); a nulls-distinct
// unique index serves one that keeps its optional fields off null. The
// records are those of a full scan.
func TestQuery_PartialAndNullsDistinctIndexes(t *testing.T) {
	accts, recs := newAccts(t)
	otherLive := Where(func(a *acct) bool { return a.Active }) // the same predicate, another Cond
	paid := acPlan.Eq("paid")
	tests := []struct {
		name    string
		q       *Query[acct]
		explain string
		pred    func(a *acct) bool
	}{
		{"partial unique: its Where held", accts.Filter(acEmail.Eq("e3"), acLive), `point live_email (email="e3")`,
			func(a *acct) bool { return a.Email == "e3" && a.Active }},
		{"partial unique: another Cond of the same predicate", accts.Filter(acEmail.Eq("e3"), otherLive), "full scan primary",
			func(a *acct) bool { return a.Email == "e3" && a.Active }},
		{"partial unique: its Where not held", accts.Filter(acEmail.Eq("e3")), "full scan primary",
			func(a *acct) bool { return a.Email == "e3" }},
		{"partial plain with an And Where, ordered by its field", accts.Filter(acLive, paid).OrderBy(acScore.Desc()), "full scan paid_score descending, then sort ties",
			func(a *acct) bool { return a.Active && a.Plan == "paid" }},
		{"partial plain: a range", accts.Filter(paid, acScore.Gt(4), acLive), "range paid_score (score > 4), then sort",
			func(a *acct) bool { return a.Active && a.Plan == "paid" && a.Score > 4 }},
		{"partial plain: half its Where", accts.Filter(paid, acScore.Gt(4)), "full scan primary",
			func(a *acct) bool { return a.Plan == "paid" && a.Score > 4 }},
		{"nulls-distinct: leading field alone", accts.Filter(acOrg.Eq("o1")), "full scan primary",
			func(a *acct) bool { return a.Org == "o1" }},
		{"nulls-distinct: leading field and a range on the optional one", accts.Filter(acOrg.Eq("o1"), acNick.Gt("n3")), `range org_nick (org="o1", nick > "n3"), then sort`,
			func(a *acct) bool { return a.Org == "o1" && a.Nick != nil && *a.Nick > "n3" }},
		{"nulls-distinct: a Prefix, ordered", accts.Filter(acOrg.Eq("o2"), acNick.Prefix("n1")).OrderBy(acNick.Desc()), `prefix org_nick (org="o2", nick starts with "n1") descending`,
			func(a *acct) bool { return a.Org == "o2" && a.Nick != nil && strings.HasPrefix(*a.Nick, "n1") }},
		{"nulls-distinct: In on the optional field", accts.Filter(acNick.In("n2", "n9")), "full scan primary",
			func(a *acct) bool { return a.Nick != nil && (*a.Nick == "n2" || *a.Nick == "n9") }},
		{"nulls-distinct: Not IsNull does not count", accts.Filter(acOrg.Eq("o1"), Not(acNick.IsNull())), "full scan primary",
			func(a *acct) bool { return a.Org == "o1" && a.Nick != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.explain, tt.q.Explain())
			var want []acct
			for _, a := range recs {
				if tt.pred(&a) {
					want = append(want, a)
				}
			}
			got, err := tt.q.OrderBy(acID.Asc()).Collect()
			require.NoError(t, err)
			assert.Equal(t, want, got)
			n, err := tt.q.Count()
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
		})
	}
}

// Inside a write transaction, a verb on a slice reads exactly the slice,
// and the commit reads it again: a concurrent write that changes which
// records the slice holds makes the transaction conflict; one that does
// not, does not.
func TestQuery_Slice_InTransaction(t *testing.T) {
	oldest := func(in *Table[User]) *Query[User] { return in.Filter().OrderBy(uAge.Desc()).Limit(2) } // Max (52), then Bob (41, id 3)
	t.Run("Delete and Update act on the slice", func(t *testing.T) {
		db, users, stored := newFixtureUsersN(t, 8)
		require.NoError(t, db.Update(func(tx *Tx) error {
			n, err := oldest(users.In(tx)).Offset(1).Update(func(u User) (User, error) { u.Name += "!"; return u, nil })
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			n, err = oldest(users.In(tx)).Delete()
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			return nil
		}))
		want := slices.Clone(stored)
		want = slices.DeleteFunc(want, func(u User) bool { return u.ID == 6 || u.ID == 3 })
		assert.Equal(t, want, dump(t, users))
	})
	for _, tc := range []struct {
		name     string
		age      int
		conflict bool
	}{
		{"an insert into the slice conflicts", 60, true},
		{"an insert outside the slice does not", 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, users, _ := newFixtureUsersN(t, 8)
			for _, verb := range []struct {
				name string
				run  func(q *Query[User]) error
			}{
				{"Last", func(q *Query[User]) error { _, _, err := q.Last(); return err }},
				{"Get", func(q *Query[User]) error { _, err := q.Offset(1).Get(); return err }},
				{"Collect", func(q *Query[User]) error { _, err := q.Collect(); return err }},
				{"Update", func(q *Query[User]) error {
					_, err := q.Update(func(u User) (User, error) { u.Name += "?"; return u, nil })
					return err
				}},
			} {
				tx, err := db.Begin(true)
				require.NoError(t, err)
				require.NoError(t, verb.run(oldest(users.In(tx))), verb.name)
				_, err = users.Insert(userTagged(fmt.Sprint(tc.name, verb.name), tc.age))
				require.NoError(t, err)
				err = tx.Commit()
				if tc.conflict {
					assert.ErrorIs(t, err, ErrConflict, verb.name)
					// Make room for the next verb: the inserted record
					// leaves the slice.
					_, err = users.Filter(uAge.Eq(tc.age)).Update(func(u User) (User, error) { u.Age = 1; return u, nil })
					require.NoError(t, err)
				} else {
					assert.NoError(t, err, verb.name)
				}
			}
		})
	}
}

// Count of a slice reads the slice's size again at commit: an insert that
// changes the records a slice holds but not their number does not
// conflict.
func TestQuery_Slice_CountInTransaction(t *testing.T) {
	db, users, _ := newFixtureUsersN(t, 8)
	for _, tc := range []struct {
		q        func(in *Table[User]) *Query[User]
		conflict bool
	}{
		{func(in *Table[User]) *Query[User] { return in.Filter().OrderBy(uAge.Desc()).Limit(2) }, false},
		{func(in *Table[User]) *Query[User] { return in.Filter().Offset(7) }, true},
	} {
		tx, err := db.Begin(true)
		require.NoError(t, err)
		n, err := tc.q(users.In(tx)).Count()
		require.NoError(t, err)
		_, err = users.Insert(userTagged(fmt.Sprint("count", n, tc.conflict), 99))
		require.NoError(t, err)
		if err := tx.Commit(); tc.conflict {
			assert.ErrorIs(t, err, ErrConflict)
		} else {
			assert.NoError(t, err)
		}
	}
}

// A query that cannot run yields its error from the range loop, once;
// a loop that stops early gets nothing more.
func TestQuery_All_YieldsItsError(t *testing.T) {
	db, users, stored := newFixtureUsersN(t, 8)
	for _, tc := range []struct {
		name string
		q    *Query[User]
		is   error
	}{
		{"unknown field", users.Filter(uNickname.Eq("x")), ErrUnknownField},
		{"negative limit", users.Filter().Limit(-1), ErrInvalidLookup},
		{"Filter after a slice", users.Filter().Limit(3).Filter(uAge.Eq(30)), ErrSliced},
	} {
		n := 0
		for rec, err := range tc.q.All() {
			n++
			assert.ErrorIs(t, err, tc.is, tc.name)
			assert.Zero(t, rec, tc.name)
		}
		assert.Equal(t, 1, n, tc.name)
	}
	var got []User
	for u, err := range users.Filter().OrderBy(uID.Desc()).All() {
		require.NoError(t, err)
		if got = append(got, u); len(got) == 2 {
			break
		}
	}
	assert.Equal(t, []User{stored[7], stored[6]}, got)

	require.NoError(t, db.Close())
	n := 0
	for _, err := range users.Filter().All() {
		n++
		assert.ErrorIs(t, err, ErrClosed)
		break // a caller that stops at the error
	}
	assert.Equal(t, 1, n)
	for _, err := range users.Filter().All() {
		if err != nil {
			assert.True(t, errors.Is(err, ErrClosed))
		}
	}
}
