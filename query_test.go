package recstore

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of Table.Filter and the verbs of Query. Everything here is named
// flt… so that it cannot collide with the other test files of the package.

// fltItem is the second record type of the Filter tests: optional fields
// (Nick, Score, Tag), a time, a bool and a composite index.
type fltItem struct {
	ID    int64
	Name  string
	Group string
	Rank  int
	Nick  *string  // unique, nulls distinct
	Score *float64 // plain index
	At    time.Time
	Done  bool
	Size  int     // declared, unindexed
	Tag   *string // declared, unindexed, optional
}

func (r fltItem) id() int64 { return r.ID }

var (
	fltID    = Field("id", func(r *fltItem) int64 { return r.ID })
	fltName  = Field("name", func(r *fltItem) string { return r.Name })
	fltGroup = Field("group", func(r *fltItem) string { return r.Group })
	fltRank  = Field("rank", func(r *fltItem) int { return r.Rank })
	fltNick  = OptionalField("nick", func(r *fltItem) *string { return r.Nick })
	fltScore = OptionalField("score", func(r *fltItem) *float64 { return r.Score })
	fltAt    = Field("at", func(r *fltItem) time.Time { return r.At })
	fltDone  = Field("done", func(r *fltItem) bool { return r.Done })
	fltSize  = Field("size", func(r *fltItem) int { return r.Size })
	fltTag   = OptionalField("tag", func(r *fltItem) *string { return r.Tag })
	// fltGhost is a field of fltItem that the Item table does not declare.
	fltGhost = Field("ghost", func(r *fltItem) int { return r.Size })
)

// fltNewItems returns a DB with the Item table: primary key id, unique
// name, unique optional nick (nulls distinct), plain indexes on rank,
// optional score, at, done and (group, rank), a partial plain index on
// size for the records whose done is true, and tag declared unindexed.
// The invariant checker runs when the test ends.
func fltNewItems(t testing.TB, opts Options) (*DB, *Table[fltItem]) {
	t.Helper()
	db := newTestDB(t, opts)
	items, err := NewTable(db, "Item",
		PrimaryKey(fltID),
		Unique("item_name", fltName),
		Unique("item_nick", fltNick),
		Index("item_rank", fltRank),
		Index("item_score", fltScore),
		Index("item_at", fltAt),
		Index("item_done", fltDone),
		Index("item_group_rank", fltGroup, fltRank),
		Index("item_done_size", fltSize).Where(fltDone.Eq(true)),
		Fields(fltSize, fltTag))
	require.NoError(t, err)
	return db, items
}

func fltPtr[V any](v V) *V { return &v }

var (
	fltT0   = time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	fltT1   = fltT0.Add(time.Hour)
	fltT2   = fltT0.Add(48 * time.Hour)
	fltZone = time.FixedZone("UTC+5", 5*3600)
	fltNeg0 = math.Copysign(0, -1)
)

// fltItemFixture is stored by fltItems in a shuffled order (40, 10, 60, 20,
// 50, 30) so that insertion order is not primary key order. Nick is null
// in 20 and 50, Score in 20 and 60, Tag in 10 and 30; 30's score is -0 and
// 40's +0; 30's time is 10's instant in another zone.
func fltItemFixture() []fltItem {
	return []fltItem{
		{ID: 40, Name: "delta", Group: "g2", Rank: 2, Nick: fltPtr(""), Score: fltPtr(0.0), At: fltT2, Size: 2, Tag: fltPtr("y")},
		{ID: 10, Name: "alpha", Group: "g1", Rank: 3, Nick: fltPtr("al"), Score: fltPtr(1.5), At: fltT0, Done: true, Size: 2},
		{ID: 60, Name: "zeta", Group: "g1", Rank: 3, Nick: fltPtr("alx"), At: time.Time{}, Size: 3, Tag: fltPtr("")},
		{ID: 20, Name: "beta", Group: "g1", Rank: 1, At: fltT1, Size: 1, Tag: fltPtr("x")},
		{ID: 50, Name: "eps", Group: "", Rank: 5, Score: fltPtr(2.5), At: fltT1, Done: true, Size: 1, Tag: fltPtr("x")},
		{ID: 30, Name: "gamma", Group: "g2", Rank: 3, Nick: fltPtr("ga"), Score: fltPtr(fltNeg0), At: fltT0.In(fltZone), Done: true, Size: 3},
	}
}

// fltItems returns the Item table holding fltItemFixture, and the records
// by id.
func fltItems(t testing.TB) (*DB, *Table[fltItem], map[int64]fltItem) {
	t.Helper()
	db, items := fltNewItems(t, testOptions())
	byID := map[int64]fltItem{}
	for _, it := range fltItemFixture() {
		got, err := items.Insert(it)
		require.NoError(t, err)
		require.Equal(t, it, got)
		byID[it.ID] = it
	}
	return db, items, byID
}

// allOf ranges over q.All() and returns the records it yielded and its
// error, which must come once, alone (with a zero record), and last.
func allOf[T any](t testing.TB, q *Query[T]) ([]T, error) {
	t.Helper()
	var recs []T
	var err error
	afterErr := 0
	var zero T
	nonZero := false
	for rec, e := range q.All() {
		switch {
		case err != nil:
			afterErr++
		case e != nil:
			err = e
			nonZero = any(rec) != any(zero)
		default:
			recs = append(recs, rec)
		}
	}
	require.Zero(t, afterErr, "All yielded after its error")
	require.False(t, nonZero, "All yielded a record with its error")
	if err != nil {
		require.Empty(t, recs, "All yielded records and an error")
	}
	return recs, err
}

// fltRequireQuery checks every read verb of q against want, the ids of
// q's records in order: Collect, All, Count, Exists, First, Last and
// Explain.
func fltRequireQuery[T any](t *testing.T, q *Query[T], ids func([]T) []int64, want []int64) {
	t.Helper()
	assert.NotContains(t, q.Explain(), "invalid")
	got, err := q.Collect()
	require.NoError(t, err)
	require.Equal(t, want, ids(got), "Collect (%s)", q.Explain())
	all, err := allOf(t, q)
	require.NoError(t, err, "All")
	assert.Equal(t, want, ids(all), "All")
	n, err := q.Count()
	require.NoError(t, err)
	assert.Equal(t, len(want), n, "Count")
	ok, err := q.Exists()
	require.NoError(t, err)
	assert.Equal(t, len(want) > 0, ok, "Exists")
	first, ok, err := q.First()
	require.NoError(t, err)
	require.Equal(t, len(want) > 0, ok, "First")
	last, ok2, err := q.Last()
	require.NoError(t, err)
	require.Equal(t, ok, ok2, "Last")
	if ok {
		assert.Equal(t, got[0], first, "First")
		assert.Equal(t, got[len(got)-1], last, "Last")
	} else {
		var zero T
		assert.Equal(t, zero, first)
		assert.Equal(t, zero, last)
	}
}

func TestQuery_Verbs_UserConditions(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	odd := Where(func(u *User) bool { return u.Age%2 == 1 })
	tests := []struct {
		name string
		q    *Query[User]
		want []int64
	}{
		{"no condition", users.Filter(), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"zero Cond", users.Filter(Cond[User]{}), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"Eq primary key", users.Filter(uID.Eq(5)), []int64{5}},
		{"Eq primary key missing", users.Filter(uID.Eq(99)), []int64{}},
		{"Eq unique", users.Filter(uEmail.Eq("bob@example.com")), []int64{3}},
		{"Eq unique missing", users.Filter(uEmail.Eq("nobody@example.com")), []int64{}},
		{"Eq plain index", users.Filter(uAge.Eq(30)), []int64{1, 2, 5}},
		{"Eq composite leading field", users.Filter(uOrg.Eq("acme")), []int64{1, 2, 7}},
		{"Eq empty string", users.Filter(uOrg.Eq("")), []int64{6}},
		{"Eq composite full key", users.Filter(uOrg.Eq("initech"), uUsername.Eq("leo")), []int64{4}},
		{"Eq composite second field only", users.Filter(uUsername.Eq("leo")), []int64{1, 4}},
		{"Eq unindexed", users.Filter(uName.Eq("Ann")), []int64{2, 7}},
		{"Eq unique and other field", users.Filter(uEmail.Eq("bob@example.com"), uAge.Eq(30)), []int64{}},
		{"two Eq on one field", users.Filter(uAge.Eq(30), uAge.Eq(41)), []int64{}},
		{"Ne plain index", users.Filter(uAge.Ne(30)), []int64{3, 4, 6, 7, 8}},
		{"Ne composite leading field", users.Filter(uOrg.Ne("acme")), []int64{3, 4, 5, 6, 8}},
		{"Lt", users.Filter(uAge.Lt(30)), []int64{4, 7}},
		{"Le", users.Filter(uAge.Le(30)), []int64{1, 2, 4, 5, 7}},
		{"Gt", users.Filter(uAge.Gt(30)), []int64{3, 6, 8}},
		{"Ge", users.Filter(uAge.Ge(41)), []int64{3, 6, 8}},
		{"Lt unique string", users.Filter(uEmail.Lt("b")), []int64{2, 7, 8}},
		{"Gt unindexed string", users.Filter(uName.Gt("Bob")), []int64{1, 4, 5, 6}},
		{"Gt primary key", users.Filter(uID.Gt(6)), []int64{7, 8}},
		{"Ge and Lt", users.Filter(uAge.Ge(25), uAge.Lt(41)), []int64{1, 2, 4, 5}},
		{"Gt and Lt nothing between", users.Filter(uAge.Gt(30), uAge.Lt(41)), []int64{}},
		{"Between", users.Filter(uAge.Between(25, 41)), []int64{1, 2, 3, 4, 5, 8}},
		{"Between one value", users.Filter(uAge.Between(30, 30)), []int64{1, 2, 5}},
		{"Between inverted", users.Filter(uAge.Between(41, 25)), []int64{}},
		{"Between inverted unindexed", users.Filter(uName.Between("Z", "A")), []int64{}},
		{"Gt 5 and Lt 3", users.Filter(uAge.Gt(5), uAge.Lt(3)), []int64{}},
		{"Between and Gt", users.Filter(uAge.Between(19, 41), uAge.Gt(30)), []int64{3, 8}},
		{"Gt past every value", users.Filter(uAge.Gt(100)), []int64{}},
		{"In", users.Filter(uAge.In(52, 19, 99)), []int64{6, 7}},
		{"In duplicates", users.Filter(uAge.In(30, 30)), []int64{1, 2, 5}},
		{"In nothing", users.Filter(uAge.In()), []int64{}},
		{"In unique", users.Filter(uEmail.In("bob@example.com", "leo@example.com")), []int64{1, 3}},
		{"In unindexed", users.Filter(uName.In("Bob", "Zoe")), []int64{3, 5, 8}},
		{"In and range", users.Filter(uAge.In(19, 30, 41), uAge.Gt(19)), []int64{1, 2, 3, 5, 8}},
		{"Prefix unique", users.Filter(uEmail.Prefix("a")), []int64{2, 7, 8}},
		{"Prefix empty", users.Filter(uEmail.Prefix("")), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"Prefix composite leading field", users.Filter(uOrg.Prefix("acme")), []int64{1, 2, 7, 8}},
		{"Prefix is the whole value", users.Filter(uOrg.Prefix("acmecorp")), []int64{8}},
		{"Prefix no match", users.Filter(uEmail.Prefix("zzz")), []int64{}},
		{"Prefix unindexed", users.Filter(uName.Prefix("A")), []int64{2, 7}},
		{"Eq then Prefix on composite", users.Filter(uOrg.Eq("acme"), uUsername.Prefix("a")), []int64{2, 7}},
		{"IsNull on a required field", users.Filter(uAge.IsNull()), []int64{}},
		{"Not IsNull on a required field", users.Filter(Not(uAge.IsNull())), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"Where", users.Filter(odd), []int64{3, 4, 7, 8}},
		{"Where and index", users.Filter(uAge.Gt(30), odd), []int64{3, 8}},
		{"And empty", users.Filter(And[User]()), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"Or empty", users.Filter(Or[User]()), []int64{}},
		{"Not Or empty", users.Filter(Not(Or[User]())), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"Or of indexed", users.Filter(Or(uEmail.Eq("bob@example.com"), uAge.Eq(25))), []int64{3, 4}},
		{"Or overlapping", users.Filter(Or(uAge.Eq(30), uName.Eq("Ann"))), []int64{1, 2, 5, 7}},
		{"Or of the same record twice", users.Filter(Or(uAge.Eq(30), uOrg.Eq("acme"))), []int64{1, 2, 5, 7}},
		{"Or with And", users.Filter(Or(And(uOrg.Eq("acme"), uAge.Eq(30)), And(uOrg.Eq("initech"), uAge.Eq(41)))), []int64{1, 2, 3}},
		{"Or and another condition", users.Filter(Or(uAge.Eq(30), uAge.Eq(41)), uName.Prefix("B")), []int64{3, 8}},
		{"Not", users.Filter(Not(uAge.Eq(30))), []int64{3, 4, 6, 7, 8}},
		{"Not Not", users.Filter(Not(Not(uAge.Eq(30)))), []int64{1, 2, 5}},
		{"And with Not", users.Filter(And(uOrg.Eq("acme"), Not(uAge.Eq(30)))), []int64{7}},
		{"Not Or", users.Filter(Not(Or(uAge.Lt(30), uAge.Gt(41)))), []int64{1, 2, 3, 5, 8}},
		{"Filter Filter", users.Filter(uOrg.Prefix("acme")).Filter(uAge.Ge(30)), []int64{1, 2, 8}},
		{"Exclude", users.Filter().Exclude(uAge.Eq(30)), []int64{3, 4, 6, 7, 8}},
		{"Exclude both together", users.Filter().Exclude(uOrg.Eq("acme"), uAge.Eq(30)), []int64{3, 4, 5, 6, 7, 8}},
		{"Filter Exclude", users.Filter(uOrg.Eq("acme")).Exclude(uAge.Eq(30)), []int64{7}},
		{"Exclude Exclude", users.Filter().Exclude(uAge.Eq(30)).Exclude(uAge.Eq(41)), []int64{4, 6, 7}},
		{"Exclude Filter", users.Filter().Exclude(uOrg.Eq("acme")).Filter(uAge.Eq(30)), []int64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fltRequireQuery(t, tt.q, idsOf, tt.want)
		})
	}
}

func TestQuery_Verbs_OptionalConditions(t *testing.T) {
	_, items, _ := fltItems(t)
	ids := func(id ...int64) []int64 { return append([]int64{}, id...) }
	tests := []struct {
		name string
		q    *Query[fltItem]
		want []int64
	}{
		{"Eq optional", items.Filter(fltNick.Eq("al")), ids(10)},
		{"Eq optional empty string is not null", items.Filter(fltNick.Eq("")), ids(40)},
		{"Ne optional keeps nulls", items.Filter(fltNick.Ne("al")), ids(20, 30, 40, 50, 60)},
		{"Not Eq optional keeps nulls", items.Filter(Not(fltNick.Eq("al"))), ids(20, 30, 40, 50, 60)},
		{"Exclude Eq optional keeps nulls", items.Filter().Exclude(fltNick.Eq("al")), ids(20, 30, 40, 50, 60)},
		{"Exclude two conditions with nulls", items.Filter().Exclude(fltNick.Prefix("a"), fltScore.Gt(1)), ids(20, 30, 40, 50, 60)},
		{"IsNull", items.Filter(fltNick.IsNull()), ids(20, 50)},
		{"Not IsNull", items.Filter(Not(fltNick.IsNull())), ids(10, 30, 40, 60)},
		{"Exclude IsNull", items.Filter().Exclude(fltScore.IsNull()), ids(10, 30, 40, 50)},
		{"Lt optional skips nulls", items.Filter(fltNick.Lt("b")), ids(10, 40, 60)},
		{"Le optional", items.Filter(fltNick.Le("al")), ids(10, 40)},
		{"Gt optional", items.Filter(fltNick.Gt("al")), ids(30, 60)},
		{"Ge empty string optional skips nulls", items.Filter(fltNick.Ge("")), ids(10, 30, 40, 60)},
		{"Between optional", items.Filter(fltNick.Between("a", "b")), ids(10, 60)},
		{"In optional skips nulls", items.Filter(fltNick.In("al", "zz", "")), ids(10, 40)},
		{"Prefix optional", items.Filter(fltNick.Prefix("al")), ids(10, 60)},
		{"Prefix empty optional skips nulls", items.Filter(fltNick.Prefix("")), ids(10, 30, 40, 60)},
		{"Eq +0 matches -0", items.Filter(fltScore.Eq(0)), ids(30, 40)},
		{"Eq -0 matches +0", items.Filter(fltScore.Eq(fltNeg0)), ids(30, 40)},
		{"In -0", items.Filter(fltScore.In(fltNeg0, 2.5)), ids(30, 40, 50)},
		{"Lt float skips nulls", items.Filter(fltScore.Lt(1)), ids(30, 40)},
		{"Le -0", items.Filter(fltScore.Le(fltNeg0)), ids(30, 40)},
		{"Gt 0 excludes -0", items.Filter(fltScore.Gt(0)), ids(10, 50)},
		{"Ge -Inf", items.Filter(fltScore.Ge(math.Inf(-1))), ids(10, 30, 40, 50)},
		{"Lt +Inf", items.Filter(fltScore.Lt(math.Inf(1))), ids(10, 30, 40, 50)},
		{"Ne float keeps nulls", items.Filter(fltScore.Ne(1.5)), ids(20, 30, 40, 50, 60)},
		{"Between float", items.Filter(fltScore.Between(fltNeg0, 1.5)), ids(10, 30, 40)},
		{"Between float inverted", items.Filter(fltScore.Between(2, 1)), ids()},
		{"Gt and Lt float empty", items.Filter(fltScore.Gt(5), fltScore.Lt(3)), ids()},
		{"IsNull float", items.Filter(fltScore.IsNull()), ids(20, 60)},
		{"Eq time", items.Filter(fltAt.Eq(fltT0)), ids(10, 30)},
		{"Eq time in another zone", items.Filter(fltAt.Eq(fltT0.In(fltZone))), ids(10, 30)},
		{"Eq zero time", items.Filter(fltAt.Eq(time.Time{})), ids(60)},
		{"Lt time", items.Filter(fltAt.Lt(fltT1)), ids(10, 30, 60)},
		{"Between time", items.Filter(fltAt.Between(fltT0, fltT1)), ids(10, 20, 30, 50)},
		{"Gt time one nanosecond before", items.Filter(fltAt.Gt(fltT2.Add(-1))), ids(40)},
		{"Eq bool", items.Filter(fltDone.Eq(true)), ids(10, 30, 50)},
		{"Ne bool", items.Filter(fltDone.Ne(true)), ids(20, 40, 60)},
		{"Lt bool", items.Filter(fltDone.Lt(true)), ids(20, 40, 60)},
		{"IsNull unindexed optional", items.Filter(fltTag.IsNull()), ids(10, 30)},
		{"Eq unindexed optional", items.Filter(fltTag.Eq("x")), ids(20, 50)},
		{"Ne unindexed optional keeps nulls", items.Filter(fltTag.Ne("x")), ids(10, 30, 40, 60)},
		{"Prefix empty unindexed optional", items.Filter(fltTag.Prefix("")), ids(20, 40, 50, 60)},
		{"Gt unindexed optional", items.Filter(fltTag.Gt("")), ids(20, 40, 50)},
		{"Eq composite both fields", items.Filter(fltGroup.Eq("g1"), fltRank.Eq(3)), ids(10, 60)},
		{"Eq composite leading field", items.Filter(fltGroup.Eq("g1")), ids(10, 20, 60)},
		{"Eq composite leading and range", items.Filter(fltGroup.Eq("g1"), fltRank.Gt(1)), ids(10, 60)},
		{"Prefix composite leading field", items.Filter(fltGroup.Prefix("g")), ids(10, 20, 30, 40, 60)},
		{"Eq empty composite leading field", items.Filter(fltGroup.Eq("")), ids(50)},
		{"Or of nulls", items.Filter(Or(fltNick.IsNull(), fltScore.IsNull())), ids(20, 50, 60)},
		{"Or of indexed optional", items.Filter(Or(fltNick.Eq("ga"), fltScore.Eq(2.5))), ids(30, 50)},
		{"Not And with null", items.Filter(Not(And(fltNick.IsNull(), fltDone.Eq(true)))), ids(10, 20, 30, 40, 60)},
		{"Eq unindexed int", items.Filter(fltSize.Eq(3)), ids(30, 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fltRequireQuery(t, tt.q, idsOf, tt.want)
		})
	}
}

func TestQuery_OrderBy(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	_, items, _ := fltItems(t)
	userTests := []struct {
		name string
		q    *Query[User]
		want []int64
	}{
		{"no order is primary key order", users.Filter(uAge.Ge(30)), []int64{1, 2, 3, 5, 6, 8}},
		{"Asc indexed, ties by primary key", users.Filter().OrderBy(uAge.Asc()), []int64{7, 4, 1, 2, 5, 3, 8, 6}},
		{"Desc indexed, ties by primary key ascending", users.Filter().OrderBy(uAge.Desc()), []int64{6, 3, 8, 1, 2, 5, 4, 7}},
		{"Asc unindexed", users.Filter().OrderBy(uName.Asc()), []int64{2, 7, 3, 8, 4, 1, 6, 5}},
		{"Desc unindexed", users.Filter().OrderBy(uName.Desc()), []int64{5, 6, 1, 4, 3, 8, 2, 7}},
		{"two terms", users.Filter().OrderBy(uName.Asc(), uAge.Desc()), []int64{2, 7, 3, 8, 4, 1, 6, 5}},
		{"two terms, second decides", users.Filter().OrderBy(uAge.Desc(), uName.Desc()), []int64{6, 3, 8, 5, 1, 2, 4, 7}},
		{"Desc primary key", users.Filter(uAge.Eq(30)).OrderBy(uID.Desc()), []int64{5, 2, 1}},
		{"Asc unique", users.Filter().OrderBy(uEmail.Asc()), []int64{8, 7, 2, 3, 4, 1, 6, 5}},
		{"composite fields", users.Filter().OrderBy(uOrg.Asc(), uUsername.Desc()), []int64{6, 1, 2, 7, 8, 4, 3, 5}},
		{"with index filter", users.Filter(uAge.Gt(19)).OrderBy(uAge.Asc()), []int64{4, 1, 2, 5, 3, 8, 6}},
		{"with Or filter", users.Filter(Or(uAge.Eq(41), uEmail.Eq("amy@example.com"))).OrderBy(uName.Asc()), []int64{7, 3, 8}},
		{"OrderBy replaces", users.Filter().OrderBy(uName.Asc()).OrderBy(uAge.Asc()), []int64{7, 4, 1, 2, 5, 3, 8, 6}},
		{"OrderBy nothing is primary key order", users.Filter().OrderBy(uAge.Asc()).OrderBy(), []int64{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, tt := range userTests {
		t.Run("User/"+tt.name, func(t *testing.T) {
			fltRequireQuery(t, tt.q, idsOf, tt.want)
		})
	}
	itemTests := []struct {
		name string
		q    *Query[fltItem]
		want []int64
	}{
		{"no order is primary key order, not insertion order", items.Filter(), []int64{10, 20, 30, 40, 50, 60}},
		{"Asc optional nulls first, -0 ties +0", items.Filter().OrderBy(fltScore.Asc()), []int64{20, 60, 30, 40, 10, 50}},
		{"Desc optional nulls last", items.Filter().OrderBy(fltScore.Desc()), []int64{50, 10, 30, 40, 20, 60}},
		{"Asc optional unique nulls first", items.Filter().OrderBy(fltNick.Asc()), []int64{20, 50, 40, 10, 60, 30}},
		{"Desc optional unique nulls last", items.Filter().OrderBy(fltNick.Desc()), []int64{30, 60, 10, 40, 20, 50}},
		{"Asc unindexed optional", items.Filter().OrderBy(fltTag.Asc()), []int64{10, 30, 60, 20, 50, 40}},
		{"Desc unindexed optional", items.Filter().OrderBy(fltTag.Desc()), []int64{40, 20, 50, 60, 10, 30}},
		{"Asc time as instants", items.Filter().OrderBy(fltAt.Asc()), []int64{60, 10, 30, 20, 50, 40}},
		{"Desc time", items.Filter().OrderBy(fltAt.Desc()), []int64{40, 20, 50, 10, 30, 60}},
		{"Asc bool", items.Filter().OrderBy(fltDone.Asc()), []int64{20, 40, 60, 10, 30, 50}},
		{"Desc bool", items.Filter().OrderBy(fltDone.Desc()), []int64{10, 30, 50, 20, 40, 60}},
		{"Asc composite fields", items.Filter().OrderBy(fltGroup.Asc(), fltRank.Desc()), []int64{50, 10, 60, 20, 30, 40}},
		{"null in filter and order", items.Filter(Not(fltNick.Eq("al"))).OrderBy(fltNick.Asc(), fltScore.Desc()), []int64{50, 20, 40, 60, 30}},
		{"range on optional ordered by it", items.Filter(fltScore.Lt(2)).OrderBy(fltScore.Asc()), []int64{30, 40, 10}},
	}
	for _, tt := range itemTests {
		t.Run("Item/"+tt.name, func(t *testing.T) {
			fltRequireQuery(t, tt.q, idsOf, tt.want)
		})
	}
}

func TestQuery_LimitOffset(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	byAge := users.Filter().OrderBy(uAge.Asc()) // 7, 4, 1, 2, 5, 3, 8, 6
	tests := []struct {
		name string
		q    *Query[User]
		want []int64
	}{
		{"Limit", byAge.Limit(3), []int64{7, 4, 1}},
		{"Limit zero", byAge.Limit(0), []int64{}},
		{"Limit past the end", byAge.Limit(100), []int64{7, 4, 1, 2, 5, 3, 8, 6}},
		{"Offset", byAge.Offset(5), []int64{3, 8, 6}},
		{"Offset zero", byAge.Offset(0), []int64{7, 4, 1, 2, 5, 3, 8, 6}},
		{"Offset to the end", byAge.Offset(8), []int64{}},
		{"Offset past the end", byAge.Offset(100), []int64{}},
		{"Offset and Limit", byAge.Offset(2).Limit(3), []int64{1, 2, 5}},
		{"Offset of a Limit takes from the slice", byAge.Limit(3).Offset(2), []int64{1}},
		{"Offset of a Limit, as qs[0:5][4:]", byAge.Limit(5).Offset(4), []int64{5}},
		{"Offset past a Limit's end", byAge.Limit(5).Offset(7), []int64{}},
		{"Limit of an Offset past a Limit's end", byAge.Limit(5).Offset(7).Limit(3), []int64{}},
		{"Limit past the end after Offset", byAge.Offset(6).Limit(5), []int64{8, 6}},
		{"a Limit of a slice never adds records", byAge.Limit(1).Limit(2), []int64{7}},
		{"a shorter Limit of a slice", byAge.Limit(5).Limit(2), []int64{7, 4}},
		{"Offsets add up", byAge.Offset(2).Offset(3), []int64{3, 8, 6}},
		{"slices of slices", byAge.Offset(1).Limit(6).Offset(2).Limit(3).Offset(1), []int64{5, 3}},
		{"Offset(0) is no slice", byAge.Offset(0).Limit(2), []int64{7, 4}},
		{"huge Offsets saturate", byAge.Offset(math.MaxInt).Offset(math.MaxInt).Limit(1), []int64{}},
		{"huge Limits", byAge.Offset(7).Limit(math.MaxInt).Limit(math.MaxInt), []int64{6}},
		{"Limit descending, streamed", users.Filter().OrderBy(uAge.Desc()).Limit(3), []int64{6, 3, 8}},
		{"Offset descending, streamed", users.Filter().OrderBy(uAge.Desc()).Offset(3).Limit(3), []int64{1, 2, 5}},
		{"Limit in primary key order", users.Filter(uAge.Eq(30)).Limit(2), []int64{1, 2}},
		{"Offset in primary key order", users.Filter(uAge.Eq(30)).Offset(1), []int64{2, 5}},
		{"Limit with sort", users.Filter().OrderBy(uName.Desc()).Limit(2), []int64{5, 6}},
		{"Offset with union", users.Filter(Or(uAge.Eq(41), uEmail.Eq("amy@example.com"))).Offset(1), []int64{7, 8}},
		{"Limit with point lookup", users.Filter(uEmail.Eq("bob@example.com")).Limit(1), []int64{3}},
		{"Offset with point lookup", users.Filter(uEmail.Eq("bob@example.com")).Offset(1), []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fltRequireQuery(t, tt.q, idsOf, tt.want)
		})
	}
}

func TestQuery_Refine_LeavesQueryUnchanged(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	q := users.Filter(uAge.Le(30)).OrderBy(uAge.Desc())
	want := []int64{1, 2, 5, 4, 7}
	_ = q.Limit(1)
	_ = q.Offset(2)
	_ = q.Limit(-1)
	_ = q.Filter(uOrg.Eq("acme"))
	_ = q.Exclude(uAge.Eq(30))
	_ = q.OrderBy(uName.Asc())
	fltRequireQuery(t, q, idsOf, want)

	// Two refinements of one query do not share their order terms.
	a := q.OrderBy(uAge.Asc(), uName.Asc())
	b := a.OrderBy(uName.Desc())
	fltRequireQuery(t, a, idsOf, []int64{7, 4, 2, 1, 5})
	fltRequireQuery(t, b, idsOf, []int64{5, 1, 4, 2, 7})

	// One query from several goroutines at once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				got, err := q.Collect()
				assert.NoError(t, err)
				assert.Equal(t, want, idsOf(got))
			}
		})
	}
	wg.Wait()
}

// A Cond and a Query are documented as immutable values; building them
// from a slice the caller later reuses must not change them.
func TestQuery_Filter_CopiesConditionSlice(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	t.Run("Filter", func(t *testing.T) {
		conds := []Cond[User]{uOrg.Eq("acme"), uAge.Eq(30)}
		q := users.Filter(conds...)
		conds[1] = uAge.Eq(19)
		fltRequireQuery(t, q, idsOf, []int64{1, 2})
	})
	t.Run("Exclude", func(t *testing.T) {
		conds := []Cond[User]{uOrg.Eq("acme"), uAge.Eq(30)}
		q := users.Filter().Exclude(conds...)
		conds[1] = uAge.Eq(19)
		fltRequireQuery(t, q, idsOf, []int64{3, 4, 5, 6, 7, 8})
	})
	t.Run("And", func(t *testing.T) {
		conds := []Cond[User]{uOrg.Eq("acme"), uAge.Eq(30)}
		c := And(conds...)
		conds[1] = uAge.Eq(19)
		fltRequireQuery(t, users.Filter(c), idsOf, []int64{1, 2})
	})
	t.Run("Or", func(t *testing.T) {
		conds := []Cond[User]{uAge.Eq(52), uAge.Eq(19)}
		c := Or(conds...)
		conds[0] = uAge.Eq(25)
		fltRequireQuery(t, users.Filter(c), idsOf, []int64{6, 7})
	})
}

func TestQuery_First_Last_Empty(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	for _, q := range []*Query[User]{
		users.Filter(uAge.Eq(99)),
		users.Filter(uAge.Between(41, 25)).OrderBy(uAge.Asc()),
		users.Filter().Limit(0),
		users.Filter().Offset(8),
		users.Filter(Or[User]()),
	} {
		t.Run(q.Explain(), func(t *testing.T) {
			first, ok, err := q.First()
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Zero(t, first)
			last, ok, err := q.Last()
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Zero(t, last)
			ok, err = q.Exists()
			require.NoError(t, err)
			assert.False(t, ok)
			if q.sliced() { // a slice refuses them
				_, err = q.Earliest(uAge)
				requireErrorAs(t, err, &SliceError{Table: "User", Call: "Earliest"})
				_, err = q.Latest(uAge)
				requireErrorAs(t, err, &SliceError{Table: "User", Call: "Latest"})
				return
			}
			_, err = q.Earliest(uAge)
			requireNotFound(t, err, "User")
			_, err = q.Latest(uAge)
			requireNotFound(t, err, "User")
		})
	}
	_, items := fltNewItems(t, testOptions())
	_, ok, err := items.Filter().First()
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = items.Filter().Earliest(fltScore)
	requireNotFound(t, err, "Item")
}

func TestQuery_Earliest_Latest(t *testing.T) {
	_, users, stored := newFixtureUsersN(t, 8)
	_, items, byID := fltItems(t)
	user := func(id int64) User { return stored[id-1] }

	got, err := users.Filter().Earliest(uAge)
	require.NoError(t, err)
	assert.Equal(t, user(7), got)
	got, err = users.Filter().Latest(uAge)
	require.NoError(t, err)
	assert.Equal(t, user(6), got)
	got, err = users.Filter(uAge.Lt(50)).Latest(uAge) // 3 and 8: the smaller key
	require.NoError(t, err)
	assert.Equal(t, user(3), got)
	got, err = users.Filter(uAge.Eq(30)).Earliest(uName) // Ann
	require.NoError(t, err)
	assert.Equal(t, user(2), got)
	got, err = users.Filter().Earliest(uName, uAge) // Ann 19 before Ann 30
	require.NoError(t, err)
	assert.Equal(t, user(7), got)
	got, err = users.Filter().Latest(uName, uEmail) // Zoe
	require.NoError(t, err)
	assert.Equal(t, user(5), got)
	got, err = users.Filter().OrderBy(uName.Desc()).Earliest(uAge) // Earliest replaces the order
	require.NoError(t, err)
	assert.Equal(t, user(7), got)
	got, err = users.Filter().OrderBy(uName.Desc()).Limit(5).Earliest(uAge) // a slice fixes the records
	requireErrorAs(t, err, &SliceError{Table: "User", Call: "Earliest"})
	assert.Zero(t, got)
	got, err = users.Filter().Offset(1).Latest(uAge)
	requireErrorAs(t, err, &SliceError{Table: "User", Call: "Latest"})
	assert.Zero(t, got)
	got, err = users.Filter().Offset(0).Latest(uAge) // Offset(0) is no slice
	require.NoError(t, err)
	assert.Equal(t, user(6), got)
	got, err = users.Filter(uAge.Ge(30)).Latest(uAge, uEmail) // 41: Bob and Al, the larger email
	require.NoError(t, err)
	assert.Equal(t, user(6), got)
	got, err = users.Filter(uAge.Lt(52)).Latest(uAge, uEmail) // 41: Bob and Al, the larger email
	require.NoError(t, err)
	assert.Equal(t, user(3), got)
	got, err = users.Filter().Latest() // no field: primary key order
	require.NoError(t, err)
	assert.Equal(t, user(8), got)
	got, err = users.Filter().Earliest() // no field: primary key order
	require.NoError(t, err)
	assert.Equal(t, user(1), got)

	it, err := items.Filter().Earliest(fltScore) // a null score sorts first
	require.NoError(t, err)
	assert.Equal(t, byID[20], it)
	it, err = items.Filter().Latest(fltScore)
	require.NoError(t, err)
	assert.Equal(t, byID[50], it)
	it, err = items.Filter(Not(fltScore.IsNull())).Earliest(fltScore) // -0 and +0 tie: the smaller key
	require.NoError(t, err)
	assert.Equal(t, byID[30], it)
	it, err = items.Filter().Latest(fltGroup, fltRank)
	require.NoError(t, err)
	assert.Equal(t, byID[30], it)
	it, err = items.Filter().Earliest(fltAt)
	require.NoError(t, err)
	assert.Equal(t, byID[60], it)
	it, err = items.Filter().Latest(fltNick) // nulls last when descending
	require.NoError(t, err)
	assert.Equal(t, byID[30], it)
}

func TestQuery_Get(t *testing.T) {
	_, users, stored := newFixtureUsersN(t, 8)
	acme := users.Filter(uOrg.Eq("acme"))

	got, err := acme.Get(uAge.Eq(19))
	require.NoError(t, err)
	assert.Equal(t, stored[6], got)
	got, err = acme.Get(uName.Eq("Leo"))
	require.NoError(t, err)
	assert.Equal(t, stored[0], got)
	got, err = users.Filter(uEmail.Eq("bob@example.com")).Get()
	require.NoError(t, err)
	assert.Equal(t, stored[2], got)

	_, err = acme.Get(uAge.Eq(30))
	requireMultiple(t, err, "User", 2)
	_, err = acme.Get()
	requireMultiple(t, err, "User", 3)
	_, err = acme.Get(uAge.Eq(41)) // 41 exists, but not in acme
	requireNotFound(t, err, "User")
	_, err = acme.Get(uEmail.Eq("bob@example.com"))
	requireNotFound(t, err, "User")
	_, err = acme.Get(uAge.Between(41, 19))
	requireNotFound(t, err, "User")

	// Order does not apply.
	got, err = users.Filter(uAge.Eq(19)).OrderBy(uName.Desc()).Get()
	require.NoError(t, err)
	assert.Equal(t, stored[6], got)
	_, err = users.Filter(uAge.Eq(30)).OrderBy(uName.Desc()).Get()
	requireMultiple(t, err, "User", 3)

	// On a slice, Get() takes the one record of the slice, in order.
	got, err = users.Filter(uAge.Eq(30)).Limit(1).Get()
	require.NoError(t, err)
	assert.Equal(t, stored[0], got)
	got, err = users.Filter(uAge.Eq(30)).OrderBy(uName.Desc()).Limit(1).Get() // Zoe
	require.NoError(t, err)
	assert.Equal(t, stored[4], got)
	got, err = users.Filter(uAge.Eq(30)).Limit(2).Offset(1).Get() // Ann
	require.NoError(t, err)
	assert.Equal(t, stored[1], got)
	_, err = users.Filter(uAge.Eq(30)).Limit(2).Get()
	requireMultiple(t, err, "User", 2)
	_, err = users.Filter().Offset(1).Get()
	requireMultiple(t, err, "User", 7)
	_, err = users.Filter(uAge.Eq(19)).Offset(5).Limit(0).Get()
	requireNotFound(t, err, "User")
	_, err = users.Filter(uAge.Eq(19)).Offset(1).Get()
	requireNotFound(t, err, "User")
	// With conditions, it would filter the slice: Django refuses.
	_, err = users.Filter(uAge.Eq(30)).Limit(2).Get(uName.Eq("Leo"))
	require.ErrorIs(t, err, ErrSliced)
	requireErrorAs(t, err, &SliceError{Table: "User", Call: "Get"})
	assert.Equal(t, "recstore: User.Get: cannot filter a query once a slice has been taken", err.Error())
	_, err = users.Filter(uAge.Eq(30)).Limit(2).OrderBy(uAge.Desc()).Get() // the first mistake
	requireErrorAs(t, err, &SliceError{Table: "User", Call: "OrderBy"})

	// Table.Get's errors.
	_, err = acme.Limit(-1).Get(uAge.Eq(19))
	require.ErrorIs(t, err, ErrInvalidLookup)
	_, err = acme.Get(Where[User](nil))
	require.ErrorIs(t, err, ErrInvalidLookup)
}

func TestInBulk(t *testing.T) {
	_, users, stored := newFixtureUsersN(t, 8)
	_, items, byID := fltItems(t)
	user := func(id int64) User { return stored[id-1] }

	byPK, err := InBulk(users.Filter(), uID, 1, 3, 3, 99)
	require.NoError(t, err)
	assert.Equal(t, map[int64]User{1: user(1), 3: user(3)}, byPK)

	byEmail, err := InBulk(users.Filter(), uEmail, "bob@example.com", "amy@example.com", "nobody@example.com")
	require.NoError(t, err)
	assert.Equal(t, map[string]User{"bob@example.com": user(3), "amy@example.com": user(7)}, byEmail)

	scoped, err := InBulk(users.Filter(uAge.Eq(30)), uEmail, "leo@example.com", "bob@example.com")
	require.NoError(t, err)
	assert.Equal(t, map[string]User{"leo@example.com": user(1)}, scoped, "a record outside the query is absent")

	none, err := InBulk(users.Filter(), uID)
	require.NoError(t, err)
	assert.Empty(t, none)

	byNick, err := InBulk(items.Filter(), fltNick, "al", "", "zz")
	require.NoError(t, err)
	assert.Equal(t, map[string]fltItem{"al": byID[10], "": byID[40]}, byNick)

	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"plain index", func() error { _, err := InBulk(users.Filter(), uAge, 30); return err }},
		{"leading field of a composite unique index", func() error { _, err := InBulk(users.Filter(), uOrg, "acme"); return err }},
		{"second field of a composite unique index", func() error { _, err := InBulk(users.Filter(), uUsername, "leo"); return err }},
		{"unindexed field", func() error { _, err := InBulk(users.Filter(), uName, "Leo"); return err }},
		{"optional plain index", func() error { _, err := InBulk(items.Filter(), fltScore, 1.5); return err }},
		{"undeclared field", func() error { _, err := InBulk(items.Filter(), fltGhost, 1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, ErrInvalidLookup)
			var le *LookupError
			require.ErrorAs(t, err, &le)
			assert.NotEmpty(t, le.Table)
		})
	}

	_, err = InBulk(users.Filter().Limit(-1), uID, 1)
	require.ErrorIs(t, err, ErrInvalidLookup)
	_, err = InBulk(items.Filter(fltScore.Eq(math.NaN())), fltID, 10)
	require.ErrorIs(t, err, ErrInvalidKey)
}

func TestQuery_Verbs_InvalidQuery(t *testing.T) {
	_, items, _ := fltItems(t)
	nan := math.NaN()
	keyErr := func(field string) error {
		return &KeyError{Table: "Item", Field: field, Reason: "NaN cannot be compared", Err: ErrInvalidKey}
	}
	lookupErr := func(reason string) error { return &LookupError{Table: "Item", Reason: reason} }
	fieldErr := func(field string) error {
		return &FieldError{Table: "Item", Field: field, Choices: []string{"id", "name", "nick", "rank", "score", "at", "done", "group", "size", "tag"}}
	}
	tests := []struct {
		name string
		q    *Query[fltItem]
		is   error
		as   error // the typed error, compared whole
		// inOrder: the problem is in the order, which Get and
		// GetOrCreate do not use.
		inOrder bool
	}{
		{name: "NaN Eq", q: items.Filter(fltScore.Eq(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN Ne", q: items.Filter(fltScore.Ne(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN Lt", q: items.Filter(fltScore.Lt(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN Ge", q: items.Filter(fltScore.Ge(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN Between low", q: items.Filter(fltScore.Between(nan, 1)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN Between high", q: items.Filter(fltScore.Between(0, nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN In", q: items.Filter(fltScore.In(1, nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN under Or and Not", q: items.Filter(Or(fltName.Eq("alpha"), Not(fltScore.Ge(nan)))), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN in Exclude", q: items.Filter().Exclude(fltScore.Eq(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "NaN in a refining Filter", q: items.Filter(fltName.Eq("alpha")).Filter(fltScore.Le(nan)), is: ErrInvalidKey, as: keyErr("score")},
		{name: "negative Limit", q: items.Filter().Limit(-1), is: ErrInvalidLookup, as: lookupErr("negative limit -1")},
		{name: "negative Limit then filtered", q: items.Filter().Limit(-3).Filter(fltDone.Eq(true)), is: ErrInvalidLookup, as: lookupErr("negative limit -3")},
		{name: "negative Offset", q: items.Filter(fltName.Eq("alpha")).Offset(-2), is: ErrInvalidLookup, as: lookupErr("negative offset -2")},
		{name: "negative Offset then a valid Limit", q: items.Filter().Offset(-1).Limit(2), is: ErrInvalidLookup, as: lookupErr("negative offset -1")},
		{name: "undeclared field", q: items.Filter(fltGhost.Eq(1)), is: ErrUnknownField, as: fieldErr("ghost")},
		{name: "undeclared field IsNull", q: items.Filter(fltGhost.IsNull()), is: ErrUnknownField, as: fieldErr("ghost")},
		{name: "undeclared field nested", q: items.Filter(Or(fltName.Eq("x"), Not(fltGhost.Gt(1)))), is: ErrUnknownField, as: fieldErr("ghost")},
		{name: "undeclared field in Exclude", q: items.Filter(fltDone.Eq(true)).Exclude(fltGhost.In(1, 2)), is: ErrUnknownField, as: fieldErr("ghost")},
		{name: "undeclared field in OrderBy", q: items.Filter().OrderBy(fltName.Asc(), fltGhost.Desc()), is: ErrUnknownField, as: fieldErr("ghost"), inOrder: true},
		{name: "Prefix on an int", q: items.Filter(fltRank.Prefix(3)), is: ErrInvalidLookup, as: lookupErr("Prefix on field rank, which is not a string")},
		{name: "Prefix on an optional float", q: items.Filter(fltScore.Prefix(1)), is: ErrInvalidLookup, as: lookupErr("Prefix on field score, which is not a string")},
		{name: "Prefix on a time", q: items.Filter(Not(fltAt.Prefix(fltT0))), is: ErrInvalidLookup, as: lookupErr("Prefix on field at, which is not a string")},
		{name: "Prefix on a bool", q: items.Filter(Or(fltDone.Prefix(true))), is: ErrInvalidLookup, as: lookupErr("Prefix on field done, which is not a string")},
		{name: "Where nil", q: items.Filter(Where[fltItem](nil)), is: ErrInvalidLookup, as: lookupErr("Where with a nil predicate")},
	}
	before := dump(t, items)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			check := func(verb string, err error) {
				t.Helper()
				require.Error(t, err, verb)
				require.ErrorIs(t, err, tt.is, verb)
				requireErrorAs(t, err, tt.as)
			}
			got, err := q.Collect()
			check("Collect", err)
			assert.Nil(t, got)
			n, err := q.Count()
			check("Count", err)
			assert.Zero(t, n)
			ok, err := q.Exists()
			check("Exists", err)
			assert.False(t, ok)
			rec, ok, err := q.First()
			check("First", err)
			assert.False(t, ok)
			assert.Zero(t, rec)
			rec, ok, err = q.Last()
			check("Last", err)
			assert.False(t, ok)
			assert.Zero(t, rec)
			if !tt.inOrder { // Earliest and Latest replace the order
				rec, err = q.Earliest(fltName)
				check("Earliest", err)
				assert.Zero(t, rec)
				rec, err = q.Latest(fltRank)
				check("Latest", err)
				assert.Zero(t, rec)
			}
			all, err := allOf(t, q)
			check("All", err)
			assert.Empty(t, all, "All")
			assert.Equal(t, "invalid: "+err.Error(), q.Explain())
			bulk, err := InBulk(q, fltID, 10, 20)
			check("InBulk", err)
			assert.Nil(t, bulk)

			n, err = q.Delete()
			check("Delete", err)
			assert.Zero(t, n)
			called := false
			n, err = q.Update(func(r fltItem) (fltItem, error) { called = true; r.Size++; return r, nil })
			check("Update", err)
			assert.Zero(t, n)
			assert.False(t, called, "Update called fn")

			created := false
			create := func() (fltItem, error) {
				created = true
				return fltItem{ID: 99, Name: "new"}, nil
			}
			if tt.inOrder {
				// Get and GetOrCreate ignore the order.
				_, err = q.Get(fltName.Eq("alpha"))
				require.NoError(t, err)
			} else {
				_, err = q.Get(fltName.Eq("alpha"))
				check("Get", err)
				_, _, err = q.GetOrCreate(fltName.Eq("new"), create)
				check("GetOrCreate", err)
				assert.False(t, created, "GetOrCreate called create")
			}

			require.Equal(t, before, dump(t, items), "an invalid query changed the table")
			require.NoError(t, checkInvariants(items))
			// The next valid call succeeds.
			n, err = items.Filter(fltDone.Eq(true)).Count()
			require.NoError(t, err)
			assert.Equal(t, 3, n)
		})
	}

	t.Run("message", func(t *testing.T) {
		_, err := items.Filter(fltScore.Eq(nan)).Count()
		assert.Equal(t, `recstore: invalid key in table Item for field "score": NaN cannot be compared`, err.Error())
		_, err = items.Filter(fltGhost.Eq(1)).Count()
		assert.Equal(t, `recstore: table Item has no field "ghost" (choices are: id, name, nick, rank, score, at, done, group, size, tag)`, err.Error())
	})

	t.Run("bad condition given to Query.Get", func(t *testing.T) {
		_, err := items.Filter().Get(fltScore.Eq(nan))
		require.ErrorIs(t, err, ErrInvalidKey)
		_, err = items.Filter().Get(fltGhost.Eq(1))
		require.ErrorIs(t, err, ErrUnknownField)
		_, _, err = items.Filter().GetOrCreate(fltGhost.Eq(1), func() (fltItem, error) { return fltItem{ID: 1}, nil })
		require.ErrorIs(t, err, ErrUnknownField)
		require.Equal(t, before, dump(t, items))
	})
}

// A key longer than MaxKeySize cannot be stored, but a condition may hold
// one: it matches nothing through an index, and may match an unindexed
// field.
func TestQuery_Verbs_LongValues(t *testing.T) {
	_, items, _ := fltItems(t)
	long := strings.Repeat("z", MaxKeySize+1)
	rec := fltItem{ID: 70, Name: "long", Tag: &long}
	_, err := items.Insert(rec)
	require.NoError(t, err)
	fltRequireQuery(t, items.Filter(fltName.Eq(long)), idsOf, []int64{})
	fltRequireQuery(t, items.Filter(fltNick.Eq(long)), idsOf, []int64{})
	fltRequireQuery(t, items.Filter(fltName.Lt(long)), idsOf, []int64{10, 20, 30, 40, 50, 60, 70})
	fltRequireQuery(t, items.Filter(fltTag.Eq(long)), idsOf, []int64{70})
	fltRequireQuery(t, items.Filter(fltTag.Prefix(long[:MaxKeySize])), idsOf, []int64{70})
}

func TestQuery_Verbs_ClosedDB(t *testing.T) {
	db, users, _ := newFixtureUsersN(t, 8)
	q := users.Filter(uAge.Eq(30))
	require.NoError(t, db.Close())
	_, err := q.Collect()
	require.ErrorIs(t, err, ErrClosed)
	_, err = q.Count()
	require.ErrorIs(t, err, ErrClosed)
	_, err = q.Exists()
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = q.First()
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = q.Last()
	require.ErrorIs(t, err, ErrClosed)
	_, err = q.Get()
	require.ErrorIs(t, err, ErrClosed)
	_, err = q.Earliest(uAge)
	require.ErrorIs(t, err, ErrClosed)
	all, err := allOf(t, q)
	require.ErrorIs(t, err, ErrClosed)
	assert.Empty(t, all)
	_, err = q.Delete()
	require.ErrorIs(t, err, ErrClosed)
	_, err = q.Update(func(u User) (User, error) { return u, nil })
	require.ErrorIs(t, err, ErrClosed)
	_, err = InBulk(q, uID, 1)
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = q.GetOrCreate(uName.Eq("x"), func() (User, error) { return User{Name: "x"}, nil })
	require.ErrorIs(t, err, ErrClosed)
}

func TestQuery_Delete(t *testing.T) {
	t.Run("removes the matches", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		n, err := users.Filter(uAge.Eq(30)).Delete()
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, []int64{3, 4, 6, 7, 8}, idsOf(dump(t, users)))
		assert.Equal(t, stored[2], dump(t, users)[0])
		// Their unique keys are free again.
		_, err = users.Insert(User{Email: "leo@example.com", Org: "acme", Username: "leo"})
		require.NoError(t, err)
	})
	t.Run("no match", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		n, err := users.Filter(uAge.Between(41, 30)).Delete()
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("every record", func(t *testing.T) {
		_, users, _ := newFixtureUsersN(t, 8)
		n, err := users.Filter().Delete()
		require.NoError(t, err)
		assert.Equal(t, 8, n)
		assert.Zero(t, users.Len())
		n, err = users.Filter().Delete()
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("order and limit choose the records", func(t *testing.T) {
		_, users, _ := newFixtureUsersN(t, 8)
		n, err := users.Filter().OrderBy(uAge.Desc()).Limit(2).Delete()
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, []int64{1, 2, 4, 5, 7, 8}, idsOf(dump(t, users)))
	})
	t.Run("Exclude and union", func(t *testing.T) {
		_, users, _ := newFixtureUsersN(t, 8)
		n, err := users.Filter(Or(uAge.Eq(30), uEmail.Eq("bob@example.com"))).Exclude(uOrg.Eq("acme")).Delete()
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, []int64{1, 2, 4, 6, 7, 8}, idsOf(dump(t, users)))
	})
	t.Run("optional nulls", func(t *testing.T) {
		_, items, _ := fltItems(t)
		n, err := items.Filter().Exclude(fltScore.Gt(1)).Delete()
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		assert.Equal(t, []int64{10, 50}, idsOf(dump(t, items)))
	})
	t.Run("in a transaction rolled back", func(t *testing.T) {
		db, users, stored := newFixtureUsersN(t, 8)
		errBack := errors.New("roll back")
		err := db.Update(func(tx *Tx) error {
			n, err := users.In(tx).Filter(uOrg.Prefix("acme")).Delete()
			require.NoError(t, err)
			assert.Equal(t, 4, n)
			c, err := users.In(tx).Filter().Count()
			require.NoError(t, err)
			assert.Equal(t, 4, c, "the transaction sees its own delete")
			c, err = users.Filter().Count()
			require.NoError(t, err)
			assert.Equal(t, 8, c, "others do not")
			return errBack
		})
		require.ErrorIs(t, err, errBack)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("in a transaction committed", func(t *testing.T) {
		db, users, _ := newFixtureUsersN(t, 8)
		require.NoError(t, db.Update(func(tx *Tx) error {
			_, err := users.In(tx).Filter(uAge.Lt(30)).Delete()
			return err
		}))
		assert.Equal(t, []int64{1, 2, 3, 5, 6, 8}, idsOf(dump(t, users)))
	})
	t.Run("read-only transaction", func(t *testing.T) {
		db, users, stored := newFixtureUsersN(t, 8)
		require.NoError(t, db.View(func(tx *Tx) error {
			n, err := users.In(tx).Filter(uAge.Eq(30)).Delete()
			require.ErrorIs(t, err, ErrReadOnly)
			assert.Zero(t, n)
			return nil
		}))
		assert.Equal(t, stored, dump(t, users))
	})
}

func TestQuery_Update(t *testing.T) {
	older := func(u User) (User, error) { u.Age++; return u, nil }
	t.Run("replaces the matches", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		n, err := users.Filter(uOrg.Eq("acme")).Update(older)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		want := slices.Clone(stored)
		for _, i := range []int{0, 1, 6} {
			want[i].Age++
		}
		assert.Equal(t, want, dump(t, users))
		fltRequireQuery(t, users.Filter(uAge.Eq(31)), idsOf, []int64{1, 2})
		fltRequireQuery(t, users.Filter(uAge.Eq(30)), idsOf, []int64{5})
	})
	t.Run("moves indexed keys", func(t *testing.T) {
		_, users, _ := newFixtureUsersN(t, 8)
		n, err := users.Filter(uOrg.Eq("acme")).Update(func(u User) (User, error) {
			u.Org = "acme2"
			u.Email = "x" + u.Email
			return u, nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		fltRequireQuery(t, users.Filter(uOrg.Eq("acme")), idsOf, []int64{})
		fltRequireQuery(t, users.Filter(uOrg.Eq("acme2")), idsOf, []int64{1, 2, 7})
		fltRequireQuery(t, users.Filter(uEmail.Prefix("x")), idsOf, []int64{1, 2, 7})
		fltRequireQuery(t, users.Filter(uEmail.Prefix("x")).OrderBy(uEmail.Asc()), idsOf, []int64{7, 2, 1})
	})
	t.Run("no match", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		called := false
		n, err := users.Filter(uAge.Gt(5), uAge.Lt(3)).Update(func(u User) (User, error) { called = true; return u, nil })
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.False(t, called)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("order and limit choose the records", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		n, err := users.Filter().OrderBy(uName.Asc()).Offset(1).Limit(2).Update(older)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		want := slices.Clone(stored)
		want[6].Age++
		want[2].Age++
		assert.Equal(t, want, dump(t, users))
	})
	// 1 and 2 would be replaced before 5 breaks user_email.
	breakEmail := func(u User) (User, error) {
		u.Age = 99
		if u.ID == 5 {
			u.Email = "bob@example.com"
		}
		return u, nil
	}
	t.Run("unique violation changes nothing", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		_, err := users.Filter(uAge.Eq(30)).Update(breakEmail)
		requireUniqueViolation(t, err, "user_email", []string{"email"}, []string{"bob@example.com"}, stored[2],
			`recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(bob@example.com) already held by id 3`)
		assert.Equal(t, stored, dump(t, users))
		fltRequireQuery(t, users.Filter(uAge.Eq(99)), idsOf, []int64{})
	})
	t.Run("unique violation reports no record replaced", func(t *testing.T) {
		// Update "returns how many it replaced": none. (The callback
		// error and primary key paths return 0.)
		_, users, _ := newFixtureUsersN(t, 8)
		n, err := users.Filter(uAge.Eq(30)).Update(breakEmail)
		require.ErrorIs(t, err, ErrUniqueViolation)
		assert.Zero(t, n, "Update replaced nothing but reported %d", n)
	})
	t.Run("unique violation between two updated records", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		_, err := users.Filter(uOrg.Eq("acme")).Update(func(u User) (User, error) {
			u.Username = "same"
			return u, nil
		})
		require.ErrorIs(t, err, ErrUniqueViolation)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("callback error changes nothing", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		errFn := errors.New("update failed on purpose")
		calls := 0
		n, err := users.Filter(uAge.Eq(30)).Update(func(u User) (User, error) {
			calls++
			if calls == 3 {
				return u, errFn
			}
			u.Age = 1
			return u, nil
		})
		require.ErrorIs(t, err, errFn)
		requireErrorAs(t, err, &CallbackError{Table: "User", Callback: "update", Err: errFn})
		assert.Zero(t, n)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("changed primary key changes nothing", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		_, err := users.Filter(uAge.Eq(41)).Update(func(u User) (User, error) { u.ID += 100; return u, nil })
		requireKeyError(t, err, ErrInvalidKey, "User", "id", "update changed the primary key")
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("optional fields", func(t *testing.T) {
		_, items, byID := fltItems(t)
		n, err := items.Filter(fltNick.IsNull()).Update(func(r fltItem) (fltItem, error) {
			r.Nick = fltPtr(fmt.Sprint("n", r.ID))
			r.Score = nil
			return r, nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		fltRequireQuery(t, items.Filter(fltNick.IsNull()), idsOf, []int64{})
		fltRequireQuery(t, items.Filter(fltNick.Prefix("n")), idsOf, []int64{20, 50})
		fltRequireQuery(t, items.Filter(fltScore.IsNull()), idsOf, []int64{20, 50, 60})
		got, err := items.Get(fltID.Eq(50))
		require.NoError(t, err)
		want := byID[50]
		want.Nick, want.Score = fltPtr("n50"), nil
		assert.Equal(t, want, got)
	})
	t.Run("read-only transaction", func(t *testing.T) {
		db, users, stored := newFixtureUsersN(t, 8)
		require.NoError(t, db.View(func(tx *Tx) error {
			_, err := users.In(tx).Filter(uAge.Eq(30)).Update(older)
			require.ErrorIs(t, err, ErrReadOnly)
			return nil
		}))
		assert.Equal(t, stored, dump(t, users))
	})
}

func TestQuery_GetOrCreate_Scoped(t *testing.T) {
	acme := func(users *Table[User]) *Query[User] { return users.Filter(uOrg.Eq("acme")) }
	t.Run("found in scope", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		called := false
		got, created, err := acme(users).GetOrCreate(uName.Eq("Leo"), func() (User, error) { called = true; return User{}, nil })
		require.NoError(t, err)
		assert.False(t, created)
		assert.False(t, called)
		assert.Equal(t, stored[0], got)
	})
	t.Run("a match outside the scope does not count", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		// Bob is 3 and 8, neither in acme; the new Bob is not in acme either.
		rec := User{Email: "bob2@example.com", Org: "elsewhere", Username: "bob", Name: "Bob", Age: 60}
		got, created, err := acme(users).GetOrCreate(uName.Eq("Bob"), func() (User, error) { return rec, nil })
		require.NoError(t, err)
		assert.True(t, created)
		rec.ID = 9
		assert.Equal(t, rec, got)
		assert.Equal(t, append(slices.Clone(stored), rec), dump(t, users))
		// It is not in the scope, so a second call creates again.
		rec2 := User{Email: "bob3@example.com", Org: "elsewhere2", Username: "bob", Name: "Bob"}
		_, created, err = acme(users).GetOrCreate(uName.Eq("Bob"), func() (User, error) { return rec2, nil })
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, 10, users.Len())
	})
	t.Run("created in scope, found next time", func(t *testing.T) {
		_, users, _ := newFixtureUsersN(t, 8)
		rec := User{Email: "kim@example.com", Org: "acme", Username: "kim", Name: "Kim", Age: 33}
		first, created, err := acme(users).GetOrCreate(uName.Eq("Kim"), func() (User, error) { return rec, nil })
		require.NoError(t, err)
		assert.True(t, created)
		again, created, err := acme(users).GetOrCreate(uName.Eq("Kim"), func() (User, error) { return User{}, errors.New("not called") })
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, first, again)
	})
	t.Run("a match in scope appears before the atomic step", func(t *testing.T) {
		// The lookup of a scoped GetOrCreate fixes a unique index with its
		// scope, but the created record lies outside the scope: inserting
		// it meets no key, so the atomic step must search. A plain Insert
		// racing the call (it takes no stripe) is played here in order:
		// it commits between the call's last check and its atomic step.
		_, users, _ := newFixtureUsersN(t, 8)
		search := And(uOrg.Eq("acme"), uUsername.Eq("zed"))
		e, err := memTableOf(users).schema().prepare(&User{Email: "zed2@example.com", Org: "elsewhere", Username: "zed"})
		require.NoError(t, err)
		racer, err := users.Insert(User{Email: "zed@example.com", Org: "acme", Username: "zed"})
		require.NoError(t, err)
		got, created, err := memTableOf(users).insertUnlessFound(&search, e, new(uint64))
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, racer, *got)
	})
	t.Run("several in scope", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		_, _, err := acme(users).GetOrCreate(uAge.Eq(30), func() (User, error) { return User{Age: 30}, nil })
		requireMultiple(t, err, "User", 2)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("unique key held outside the scope", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		rec := User{Email: "bob@example.com", Org: "acme", Username: "bobby"}
		_, created, err := acme(users).GetOrCreate(uEmail.Eq("bob@example.com"), func() (User, error) { return rec, nil })
		require.ErrorIs(t, err, ErrUniqueViolation)
		assert.False(t, created)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("created record must match the lookup", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		_, _, err := acme(users).GetOrCreate(uName.Eq("Kim"), func() (User, error) {
			return User{Email: "kim@example.com", Org: "acme", Username: "kim", Name: "Tim"}, nil
		})
		require.ErrorIs(t, err, ErrInvalidLookup)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("order does not narrow the scope", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		got, created, err := acme(users).OrderBy(uAge.Desc()).GetOrCreate(uName.Eq("Leo"),
			func() (User, error) { return User{}, errors.New("not called") })
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, stored[0], got)
	})
	t.Run("a slice refuses it", func(t *testing.T) {
		_, users, stored := newFixtureUsersN(t, 8)
		called := false
		_, created, err := acme(users).Offset(3).Limit(0).GetOrCreate(uName.Eq("Leo"),
			func() (User, error) { called = true; return User{}, nil })
		requireErrorAs(t, err, &SliceError{Table: "User", Call: "GetOrCreate"})
		assert.False(t, created)
		assert.False(t, called)
		assert.Equal(t, stored, dump(t, users))
	})
	t.Run("optional field", func(t *testing.T) {
		_, items, byID := fltItems(t)
		g1 := items.Filter(fltGroup.Eq("g1"))
		got, created, err := g1.GetOrCreate(fltNick.Eq("al"), func() (fltItem, error) { return fltItem{}, errors.New("not called") })
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, byID[10], got)
		// Nick "ga" is item 30, in g2: the new record collides with it.
		_, _, err = g1.GetOrCreate(fltNick.Eq("ga"), func() (fltItem, error) {
			return fltItem{ID: 70, Name: "new", Group: "g1", Nick: fltPtr("ga")}, nil
		})
		require.ErrorIs(t, err, ErrUniqueViolation)
		// Size 1 is items 20 (g1) and 50 (no group): only 20 is in scope.
		before := dump(t, items)
		_, _, err = g1.GetOrCreate(fltSize.Eq(1), func() (fltItem, error) {
			return fltItem{ID: 71, Name: "size1", Group: "g9", Size: 1}, nil
		})
		require.NoError(t, err, "item 20 is the one of g1 with size 1")
		assert.Equal(t, before, dump(t, items))
	})
}

func TestQuery_Explain(t *testing.T) {
	_, users, _ := newFixtureUsersN(t, 8)
	_, items, _ := fltItems(t)
	userTests := []struct {
		rule string
		q    *Query[User]
		want string
	}{
		{"unique point lookup", users.Filter(uEmail.Eq("bob@example.com")), `point user_email (email="bob@example.com")`},
		{"unique point lookup with another condition", users.Filter(uAge.Eq(30), uEmail.Eq("bob@example.com")), `point user_email (email="bob@example.com")`},
		{"primary key point lookup", users.Filter(uID.Eq(3)), "point primary (id=3)"},
		{"composite unique point lookup", users.Filter(uUsername.Eq("leo"), uOrg.Eq("acme")), `point org_username (org="acme", username="leo")`},
		{"plain equality", users.Filter(uAge.Eq(30)), "key scan user_age (age=30)"},
		{"range Gt", users.Filter(uAge.Gt(30)), "range user_age (age > 30), then sort"},
		{"range Le", users.Filter(uAge.Le(30)), "range user_age (age <= 30), then sort"},
		{"range Between", users.Filter(uAge.Between(25, 41)), "range user_age (age >= 25, age <= 41), then sort"},
		{"range intersected", users.Filter(uAge.Ge(20), uAge.Lt(41), uAge.Gt(20)), "range user_age (age > 20, age < 41), then sort"},
		{"empty range", users.Filter(uAge.Gt(5), uAge.Lt(3)), "range user_age (age > 5, age < 3), then sort"},
		{"range on the primary key streams", users.Filter(uID.Gt(3)), "range primary (id > 3)"},
		{"range on the leading field of a composite index", users.Filter(uOrg.Gt("b")), `range org_username (org > "b"), then sort`},
		{"prefix on an indexed string", users.Filter(uEmail.Prefix("a")), `prefix user_email (email starts with "a"), then sort`},
		{"prefix on a composite leading field", users.Filter(uOrg.Prefix("ac")), `prefix org_username (org starts with "ac"), then sort`},
		{"leading field of a composite index", users.Filter(uOrg.Eq("acme")), `prefix org_username (org="acme"), then sort`},
		{"leading field and prefix of the next", users.Filter(uOrg.Eq("acme"), uUsername.Prefix("a")), `prefix org_username (org="acme", username starts with "a"), then sort`},
		{"leading field and range of the next", users.Filter(uOrg.Eq("acme"), uUsername.Lt("b")), `range org_username (org="acme", username < "b"), then sort`},
		{"In on an indexed field", users.Filter(uAge.In(52, 19, 19)), "in user_age (age in [19, 52]), then sort"},
		{"In on a unique field", users.Filter(uEmail.In("bob@example.com", "amy@example.com")), `in user_email (email in ["amy@example.com", "bob@example.com"]), then sort`},
		{"In on the primary key streams", users.Filter(uID.In(3, 1)), "in primary (id in [1, 3])"},
		{"In of many values shows the first", users.Filter(uID.In(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)), "in primary (id in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …(12 values)])"},
		{"In preferred to a range", users.Filter(uAge.In(19, 30), uAge.Gt(19)), "in user_age (age in [19, 30]), then sort"},
		{"Or of indexed conditions", users.Filter(Or(uEmail.Eq("bob@example.com"), uAge.Eq(25))), `union(point user_email (email="bob@example.com") | key scan user_age (age=25)), then sort`},
		{"Or of indexed conditions and another condition", users.Filter(Or(uAge.Gt(40), uOrg.Eq("acme")), uName.Prefix("B")), `union(range user_age (age > 40) | prefix org_username (org="acme")), then sort`},
		{"Or with an unindexed branch", users.Filter(Or(uEmail.Eq("bob@example.com"), uName.Eq("Eve"))), "full scan primary"},
		{"OrderBy indexed, no filter, streams", users.Filter().OrderBy(uAge.Asc()), "full scan user_age"},
		{"OrderBy indexed with an unindexed filter streams", users.Filter(uName.Eq("Ann")).OrderBy(uAge.Asc()), "full scan user_age"},
		{"OrderBy the indexed field it scans", users.Filter(uAge.Gt(20)).OrderBy(uAge.Asc()), "range user_age (age > 20)"},
		{"OrderBy the key it scans", users.Filter(uAge.Eq(30)).OrderBy(uAge.Asc()), "key scan user_age (age=30)"},
		{"OrderBy a fixed field is no order", users.Filter(uAge.Eq(30)).OrderBy(uAge.Desc()), "key scan user_age (age=30)"},
		{"OrderBy the primary key under a key scan", users.Filter(uAge.Eq(30)).OrderBy(uAge.Desc(), uID.Desc()), "key scan user_age (age=30) descending"},
		{"OrderBy the primary key", users.Filter().OrderBy(uID.Asc()), "full scan primary"},
		{"OrderBy the primary key descending", users.Filter().OrderBy(uID.Desc()), "full scan primary descending"},
		{"OrderBy another field than the scan", users.Filter(uEmail.Prefix("a")).OrderBy(uAge.Asc()), `prefix user_email (email starts with "a"), then sort`},
		{"OrderBy descending streams, sorting ties", users.Filter().OrderBy(uAge.Desc()), "full scan user_age descending, then sort ties"},
		{"OrderBy descending with the primary key descending streams", users.Filter().OrderBy(uAge.Desc(), uID.Desc()), "full scan user_age descending"},
		{"OrderBy a range descending", users.Filter(uAge.Gt(30)).OrderBy(uAge.Desc()), "range user_age (age > 30) descending, then sort ties"},
		{"OrderBy a field and the primary key streams", users.Filter().OrderBy(uAge.Asc(), uID.Asc()), "full scan user_age"},
		{"OrderBy a unique field: later terms do not count", users.Filter().OrderBy(uEmail.Desc(), uAge.Asc()), "full scan user_email descending"},
		{"OrderBy the field after an equality prefix", users.Filter(uOrg.Eq("acme")).OrderBy(uUsername.Asc()), `prefix org_username (org="acme")`},
		{"OrderBy the field after an equality prefix, descending", users.Filter(uOrg.Eq("acme")).OrderBy(uUsername.Desc()), `prefix org_username (org="acme") descending`},
		{"OrderBy a composite index's fields", users.Filter().OrderBy(uOrg.Desc(), uUsername.Desc()), "full scan org_username descending"},
		{"OrderBy mixed directions sorts ties", users.Filter().OrderBy(uOrg.Asc(), uUsername.Desc()), "full scan org_username, then sort ties"},
		{"OrderBy prefers the plan that yields the order", users.Filter(uOrg.Eq("acme"), uAge.Gt(3)).OrderBy(uUsername.Desc()), `prefix org_username (org="acme") descending`},
		{"OrderBy keeps a narrower plan", users.Filter(uAge.Eq(30)).OrderBy(uOrg.Asc()), "key scan user_age (age=30), then sort"},
		{"OrderBy unindexed sorts", users.Filter().OrderBy(uName.Asc()), "full scan primary, then sort"},
		{"no condition", users.Filter(), "full scan primary"},
		{"unindexed equality", users.Filter(uName.Eq("Ann")), "full scan primary"},
		{"second field of a composite index", users.Filter(uUsername.Eq("leo")), "full scan primary"},
		{"Ne", users.Filter(uAge.Ne(30)), "full scan primary"},
		{"Not", users.Filter(Not(uEmail.Eq("bob@example.com"))), "full scan primary"},
		{"Exclude", users.Filter().Exclude(uAge.Eq(30)), "full scan primary"},
		{"Where", users.Filter(Where(func(*User) bool { return true })), "full scan primary"},
		{"IsNull", users.Filter(uAge.IsNull()), "full scan primary"},
		{"a slice does not change the plan", users.Filter(uAge.Gt(30)).OrderBy(uAge.Desc()).Offset(1).Limit(2), "range user_age (age > 30) descending, then sort ties"},
		{"invalid", users.Filter().Limit(-1), "invalid: recstore: invalid lookup on User: negative limit -1"},
	}
	for _, tt := range userTests {
		t.Run("User/"+tt.rule, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.q.Explain())
		})
	}
	itemTests := []struct {
		rule string
		q    *Query[fltItem]
		want string
	}{
		{"unique optional point lookup", items.Filter(fltNick.Eq("al")), `point item_nick (nick="al")`},
		{"In on a nulls-distinct unique index uses it", items.Filter(fltNick.In("al", "ga")), `in item_nick (nick in ["al", "ga"]), then sort`},
		{"range on a nulls-distinct unique index uses it", items.Filter(fltNick.Lt("b")), `range item_nick (nick is not null, nick < "b"), then sort`},
		{"Prefix on a nulls-distinct unique index uses it", items.Filter(fltNick.Prefix("a")), `prefix item_nick (nick starts with "a"), then sort`},
		{"OrderBy a nulls-distinct unique index sorts", items.Filter().OrderBy(fltNick.Asc()), "full scan primary, then sort"},
		{"OrderBy a nulls-distinct unique index that a condition keeps off nulls", items.Filter(fltNick.Ge("")).OrderBy(fltNick.Desc()), `range item_nick (nick >= "") descending`},
		{"Ne keeps nulls: no nulls-distinct unique index", items.Filter(fltNick.Ne("al")), "full scan primary"},
		{"plain optional equality", items.Filter(fltScore.Eq(1.5)), "key scan item_score (score=1.5)"},
		{"optional range skips nulls", items.Filter(fltScore.Lt(1)), "range item_score (score is not null, score < 1), then sort"},
		{"OrderBy an optional plain index streams", items.Filter().OrderBy(fltScore.Asc()), "full scan item_score"},
		{"OrderBy an optional plain index descending", items.Filter().OrderBy(fltScore.Desc()), "full scan item_score descending, then sort ties"},
		{"bool equality", items.Filter(fltDone.Eq(true)), "key scan item_done (done=true)"},
		{"time range", items.Filter(fltAt.Ge(fltT0)), "range item_at (at >= 2024-01-02T03:04:05.000000006Z), then sort"},
		{"time range descending", items.Filter(fltAt.Lt(fltT2)).OrderBy(fltAt.Desc()), "range item_at (at < 2024-01-04T03:04:05.000000006Z) descending, then sort ties"},
		{"OrderBy a time index streams", items.Filter().OrderBy(fltAt.Asc()), "full scan item_at"},
		{"In descending", items.Filter(fltRank.In(3, 1)).OrderBy(fltRank.Desc()), "in item_rank (rank in [1, 3]) descending, then sort ties"},
		{"leading field of a composite plain index", items.Filter(fltGroup.Eq("g1")), `prefix item_group_rank (group="g1"), then sort`},
		{"leading field of a composite plain index, ordered by the next", items.Filter(fltGroup.Eq("g1")).OrderBy(fltRank.Desc()), `prefix item_group_rank (group="g1") descending, then sort ties`},
		{"leading field of a composite plain index, ordered by the next and the primary key", items.Filter(fltGroup.Eq("g1\x00")).OrderBy(fltRank.Desc(), fltID.Desc()), `prefix item_group_rank (group="g1\x00") descending`},
		{"leading field and range of the next", items.Filter(fltGroup.Eq("g1"), fltRank.Ge(2)), `range item_group_rank (group="g1", rank >= 2), then sort`},
		{"prefix of a composite plain index", items.Filter(fltGroup.Prefix("g")), `prefix item_group_rank (group starts with "g"), then sort`},
		{"unindexed optional", items.Filter(fltTag.Eq("x")), "full scan primary"},
		{"partial index: its Where among the conditions", items.Filter(fltSize.Eq(3), fltDone.Eq(true)), "key scan item_done_size (size=3)"},
		{"partial index: narrower than the index of its Where", items.Filter(fltDone.Eq(true), fltSize.Gt(1)), "range item_done_size (size > 1), then sort"},
		{"partial index: ordered by its field", items.Filter(fltDone.Eq(true)).OrderBy(fltSize.Desc()), "full scan item_done_size descending, then sort ties"},
		{"partial index: its Where not among the conditions", items.Filter(fltSize.Eq(3)), "full scan primary"},
		{"partial index: another value than its Where's", items.Filter(fltDone.Eq(false), fltSize.Eq(3)), "key scan item_done (done=false)"},
		{"partial index: its Where only under an Or", items.Filter(Or(fltDone.Eq(true)), fltSize.Eq(3)), "union(key scan item_done (done=true)), then sort"},
		{"Or of optional indexes", items.Filter(Or(fltNick.Eq("ga"), fltScore.Gt(2))), `union(point item_nick (nick="ga") | range item_score (score > 2)), then sort`},
		{"Or with IsNull", items.Filter(Or(fltNick.Eq("ga"), fltScore.IsNull())), "full scan primary"},
	}
	for _, tt := range itemTests {
		t.Run("Item/"+tt.rule, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.q.Explain())
		})
	}
	t.Run("Item/every field of a composite plain index", func(t *testing.T) {
		// Both item_rank and item_group_rank are fixed; either is a key
		// scan.
		assert.Regexp(t, `^key scan item_(group_)?rank \(`, items.Filter(fltGroup.Eq("g1"), fltRank.Eq(3)).Explain())
	})
	t.Run("in a transaction", func(t *testing.T) {
		db, users, _ := newFixtureUsersN(t, 8)
		require.NoError(t, db.View(func(tx *Tx) error {
			assert.Equal(t, `point user_email (email="bob@example.com")`, users.In(tx).Filter(uEmail.Eq("bob@example.com")).Explain())
			return nil
		}))
	})
}

// A query ordered by an indexed field streams the index: First reads one
// record, Limit(n) reads n. Counting the calls of a Where predicate shows
// how many records a verb read.
func TestQuery_First_StopsEarlyOnIndexOrder(t *testing.T) {
	_, users := newUsers(t)
	const n = 200
	recs := make([]User, n)
	for i := range recs {
		recs[i] = User{Email: fmt.Sprint(i, "@example.com"), Org: "o", Username: fmt.Sprint(i), Name: fmt.Sprint(n - i), Age: (i * 7) % 50}
	}
	_, err := users.InsertMany(recs, OnConflict[User]{})
	require.NoError(t, err)
	var calls atomic.Int64
	counted := Where(func(*User) bool { calls.Add(1); return true })
	reads := func(verb func(q *Query[User]) error, q *Query[User]) int64 {
		t.Helper()
		calls.Store(0)
		require.NoError(t, verb(q))
		return calls.Load()
	}
	first := func(q *Query[User]) error {
		_, ok, err := q.First()
		require.True(t, ok)
		return err
	}
	collect := func(q *Query[User]) error { _, err := q.Collect(); return err }

	byAge := users.Filter(counted).OrderBy(uAge.Asc())
	assert.Equal(t, "full scan user_age", byAge.Explain())
	assert.EqualValues(t, 1, reads(first, byAge))
	assert.EqualValues(t, 5, reads(collect, byAge.Limit(5)))
	assert.EqualValues(t, 8, reads(collect, byAge.Offset(3).Limit(5)))
	got, ok, err := byAge.First()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(1), got.ID, "age 0, smallest key")

	byPK := users.Filter(counted)
	assert.Equal(t, "full scan primary", byPK.Explain())
	assert.EqualValues(t, 1, reads(first, byPK))
	assert.EqualValues(t, 3, reads(collect, byPK.Limit(3)))

	byName := users.Filter(counted).OrderBy(uName.Asc())
	assert.Equal(t, "full scan primary, then sort", byName.Explain())
	assert.EqualValues(t, n, reads(first, byName))
	// Descending reads one run of ties (the 4 records of one age), and the
	// record after it, which ends it, and sorts it; Last reverses the
	// order, primary key included, which then streams.
	last := func(q *Query[User]) error {
		_, ok, err := q.Last()
		require.True(t, ok)
		return err
	}
	byAgeDesc := users.Filter(counted).OrderBy(uAge.Desc())
	assert.Equal(t, "full scan user_age descending, then sort ties", byAgeDesc.Explain())
	assert.EqualValues(t, 5, reads(first, byAgeDesc))
	assert.EqualValues(t, 1, reads(last, byAge))
	assert.EqualValues(t, 5, reads(func(q *Query[User]) error { _, err := q.Latest(uAge); return err }, users.Filter(counted)))
	assert.EqualValues(t, 1, reads(first, users.Filter(counted).OrderBy(uAge.Desc(), uID.Desc())))
	assert.EqualValues(t, 1, reads(last, byPK))
	assert.EqualValues(t, 9, reads(collect, byAgeDesc.Limit(5)), "two runs of four, and the record that ends the second")
	got, ok, err = byAge.Last()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(158), got.ID, "age 49, largest key: (i*7)%50 == 49 for i in 7, 57, 107, 157, ids i+1")
	// Last of a slice reads the slice.
	assert.EqualValues(t, 5, reads(last, byAge.Limit(5)))
	// Count reads no further than the end of its slice.
	assert.EqualValues(t, 1, reads(func(q *Query[User]) error { _, err := q.Count(); return err }, byAge.Limit(1)))
	assert.EqualValues(t, n, reads(func(q *Query[User]) error { _, err := q.Count(); return err }, byAge.Offset(1)))
}

// Readers run Filter's verbs inside one View while writers insert, update
// and delete: within one snapshot the verbs agree with each other, and
// every atomic write is seen whole or not at all.
func TestQuery_ConcurrentReadersAndWriters(t *testing.T) {
	db, users := newUsers(t)
	const (
		writers   = 3
		readers   = 3
		rounds    = 150
		groupSize = 3
	)
	// Every write changes a whole group (org "w<writer>-<round>") at once:
	// InsertMany adds it with one age, Query.Update moves its age, and
	// Query.Delete removes it.
	var stop atomic.Bool
	var writing, reading sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for r := range rounds {
				org := fmt.Sprintf("w%d-%d", w, r)
				group := make([]User, groupSize)
				for i := range group {
					group[i] = User{Email: fmt.Sprintf("%s-%d@example.com", org, i), Org: org, Username: fmt.Sprint(i), Name: fmt.Sprint(groupSize - i), Age: r % 10}
				}
				if _, err := users.InsertMany(group, OnConflict[User]{}); !assert.NoError(t, err) {
					return
				}
				n, err := users.Filter(uOrg.Eq(org)).Update(func(u User) (User, error) { u.Age += 100; return u, nil })
				assert.NoError(t, err)
				assert.Equal(t, groupSize, n)
				if r%3 != 0 {
					old := fmt.Sprintf("w%d-%d", w, r-1)
					if r%3 == 2 {
						n, err = users.Filter(uOrg.Eq(old)).Delete()
					} else {
						n, err = users.Filter(uOrg.Prefix(old)).Exclude(uOrg.Ne(old)).Delete()
					}
					assert.NoError(t, err)
					assert.Equal(t, groupSize, n)
				}
			}
		})
	}
	// checkGroups verifies that recs, sorted by primary key, hold whole
	// groups with one age each.
	checkGroups := func(recs []User) error {
		count, age := map[string]int{}, map[string]int{}
		for i, u := range recs {
			if i > 0 && recs[i-1].ID >= u.ID {
				return fmt.Errorf("not in primary key order at %d", i)
			}
			if a, ok := age[u.Org]; ok && a != u.Age {
				return fmt.Errorf("group %s has ages %d and %d", u.Org, a, u.Age)
			}
			age[u.Org] = u.Age
			count[u.Org]++
		}
		for org, c := range count {
			if c != groupSize {
				return fmt.Errorf("group %s has %d records", org, c)
			}
		}
		return nil
	}
	var reads atomic.Int64
	for range readers {
		reading.Go(func() {
			for !stop.Load() {
				err := db.View(func(tx *Tx) error {
					q := users.In(tx).Filter(uOrg.Prefix("w"))
					recs, err := q.Collect()
					if err != nil {
						return err
					}
					n, err := q.Count()
					if err != nil {
						return err
					}
					if n != len(recs) {
						return fmt.Errorf("Count %d, Collect %d", n, len(recs))
					}
					if err := checkGroups(recs); err != nil {
						return err
					}
					ok, err := q.Exists()
					if err != nil || ok != (n > 0) {
						return fmt.Errorf("Exists %v (%v) with %d records", ok, err, n)
					}
					first, ok, err := q.First()
					if err != nil || ok != (n > 0) || ok && first != recs[0] {
						return fmt.Errorf("First %v %v %v, want %v", first, ok, err, recs)
					}
					last, ok, err := q.Last()
					if err != nil || ok != (n > 0) || ok && last != recs[n-1] {
						return fmt.Errorf("Last %v %v %v", last, ok, err)
					}
					old, err := q.Filter(uAge.Ge(100)).Count()
					if err != nil {
						return err
					}
					byAge, err := q.Filter(uAge.Ge(100)).OrderBy(uAge.Desc()).Collect()
					if err != nil || len(byAge) != old {
						return fmt.Errorf("ordered Collect %d records (%v), Count %d", len(byAge), err, old)
					}
					var all int
					for _, err := range q.All() {
						if err != nil {
							return err
						}
						all++
					}
					if all != n {
						return fmt.Errorf("All %d, Count %d", all, n)
					}
					return nil
				})
				assert.NoError(t, err)
				// Outside a View, each verb reads one snapshot.
				recs, err := users.Filter(uOrg.Prefix("w")).Collect()
				assert.NoError(t, err)
				assert.NoError(t, checkGroups(recs))
				reads.Add(1)
			}
		})
	}
	writing.Wait()
	stop.Store(true)
	reading.Wait()
	t.Logf("%d consistent reads", reads.Load())
	n, err := users.Filter(uOrg.Prefix("w")).Count()
	require.NoError(t, err)
	assert.Equal(t, writers*(rounds/3)*groupSize, n)
}
