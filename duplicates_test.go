package recstore

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dupRec has an optional field, so that Duplicates meets nulls, and fields
// of every indexing: unindexed (name), plain (age), part of a composite
// plain index (org, nick), primary key (id).
type dupRec struct {
	ID   int64
	Org  string
	Name string
	Nick *string
	Age  int
}

func (r dupRec) id() int64 { return r.ID }

var (
	dupID   = Field("id", func(r *dupRec) int64 { return r.ID })
	dupOrg  = Field("org", func(r *dupRec) string { return r.Org })
	dupName = Field("name", func(r *dupRec) string { return r.Name })
	dupNick = OptionalField("nick", func(r *dupRec) *string { return r.Nick })
	dupAge  = Field("age", func(r *dupRec) int { return r.Age })
)

func newDupRecs(t testing.TB) (*DB, *Table[dupRec]) {
	t.Helper()
	db := newTestDB(t)
	tbl, err := NewTable(db, "DupRec",
		AutoPrimaryKey(dupID, func(r *dupRec, id int64) { r.ID = id }),
		Index("dup_age", dupAge),
		Index("dup_org_nick", dupOrg, dupNick),
		Fields(dupName))
	require.NoError(t, err)
	return db, tbl
}

// dupField is the reference's view of one field: whether a record's value
// is null, its formatted value, and the order of values (Go's: strings
// bytewise, integers numerically).
type dupField struct {
	col    ColumnOf[dupRec]
	null   func(r *dupRec) bool
	format func(r *dupRec) string
	cmp    func(a, b *dupRec) int
}

func dupRequired[V cmp.Ordered](c *Column[dupRec, V], get func(*dupRec) V) dupField {
	return dupField{
		col:    c,
		null:   func(*dupRec) bool { return false },
		format: func(r *dupRec) string { return fmt.Sprint(get(r)) },
		cmp:    func(a, b *dupRec) int { return cmp.Compare(get(a), get(b)) },
	}
}

func dupOptional[V cmp.Ordered](c *Column[dupRec, V], get func(*dupRec) *V) dupField {
	return dupField{
		col:    c,
		null:   func(r *dupRec) bool { return get(r) == nil },
		format: func(r *dupRec) string { return fmt.Sprint(*get(r)) },
		cmp:    func(a, b *dupRec) int { return cmp.Compare(*get(a), *get(b)) },
	}
}

var (
	dupFID   = dupRequired(dupID, func(r *dupRec) int64 { return r.ID })
	dupFOrg  = dupRequired(dupOrg, func(r *dupRec) string { return r.Org })
	dupFName = dupRequired(dupName, func(r *dupRec) string { return r.Name })
	dupFNick = dupOptional(dupNick, func(r *dupRec) *string { return r.Nick })
	dupFAge  = dupRequired(dupAge, func(r *dupRec) int { return r.Age })
)

// dupGroupBy is the reference Duplicates: a plain group-by over a slice,
// HAVING COUNT(*) > 1, skipping records with a null in any field; groups
// ordered by their values field by field, records by primary key.
func dupGroupBy(recs []dupRec, fields []dupField) []DuplicateGroup[dupRec] {
	byKey := map[string][]dupRec{}
	for _, r := range recs {
		vals := make([]string, 0, len(fields))
		skip := false
		for _, f := range fields {
			if f.null(&r) {
				skip = true
				break
			}
			vals = append(vals, f.format(&r))
		}
		if skip {
			continue
		}
		k := fmt.Sprintf("%q", vals)
		byKey[k] = append(byKey[k], r)
	}
	var groups []DuplicateGroup[dupRec]
	for _, g := range byKey {
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, func(a, b dupRec) int { return cmp.Compare(a.ID, b.ID) })
		vals := make([]string, len(fields))
		for i, f := range fields {
			vals[i] = f.format(&g[0])
		}
		groups = append(groups, DuplicateGroup[dupRec]{Values: vals, Records: g})
	}
	slices.SortFunc(groups, func(a, b DuplicateGroup[dupRec]) int {
		for _, f := range fields {
			if c := f.cmp(&a.Records[0], &b.Records[0]); c != 0 {
				return c
			}
		}
		return 0
	})
	return groups
}

// dupRandom returns a random record over small value sets, with bytes that
// test the key encoding's order (0x00, 0xff, a multi-byte rune), nulls, and
// a tail of unique names.
func dupRandom(rng *rand.Rand, i int) dupRec {
	orgs := []string{"", "a", "a\x00", "ab", "b", "\xff"}
	names := []string{"", "x", "x\x00", "x\x00y", "xy", "y", "\x00", "é"}
	nicks := []string{"", "n", "n\x00", "m"}
	r := dupRec{Org: orgs[rng.IntN(len(orgs))], Age: rng.IntN(7) - 3}
	if rng.IntN(5) == 0 {
		r.Name = fmt.Sprintf("u-%d", i)
	} else {
		r.Name = names[rng.IntN(len(names))]
	}
	if rng.IntN(10) >= 3 {
		n := nicks[rng.IntN(len(nicks))]
		r.Nick = &n
	}
	return r
}

// TestTable_Duplicates_MatchesGroupBy compares Duplicates with the
// reference group-by on random records, for one and two fields, indexed
// or not, optional or not; then again after random updates and deletes.
func TestTable_Duplicates_MatchesGroupBy(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	_, tbl := newDupRecs(t)
	recs := make([]dupRec, 300)
	for i := range recs {
		recs[i] = dupRandom(rng, i)
	}
	_, err := tbl.InsertMany(recs, OnConflict[dupRec]{})
	require.NoError(t, err)

	cases := []struct {
		name   string
		fields []dupField
	}{
		{"name, unindexed", []dupField{dupFName}},
		{"age, plain index", []dupField{dupFAge}},
		{"nick, optional", []dupField{dupFNick}},
		{"org, first field of a composite index", []dupField{dupFOrg}},
		{"org and name", []dupField{dupFOrg, dupFName}},
		{"name and org", []dupField{dupFName, dupFOrg}},
		{"org and nick, a composite index with nulls", []dupField{dupFOrg, dupFNick}},
		{"nick and age", []dupField{dupFNick, dupFAge}},
		{"id, primary key", []dupField{dupFID}},
	}
	check := func(t *testing.T) {
		data := dump(t, tbl)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				cols := make([]ColumnOf[dupRec], len(c.fields))
				for i, f := range c.fields {
					cols[i] = f.col
				}
				got, err := tbl.Duplicates(cols...)
				require.NoError(t, err)
				want := dupGroupBy(data, c.fields)
				if len(want) == 0 {
					assert.Empty(t, got)
					return
				}
				assert.Equal(t, want, got)
			})
		}
	}
	t.Run("inserted", check)

	for range 200 {
		data := dump(t, tbl)
		victim := data[rng.IntN(len(data))]
		if rng.IntN(3) == 0 {
			_, err := tbl.Delete(dupID.Eq(victim.ID))
			require.NoError(t, err)
			continue
		}
		next := dupRandom(rng, rng.IntN(1000))
		next.ID = victim.ID
		require.NoError(t, tbl.Update(next))
	}
	t.Run("updated and deleted", check)
}

// TestTable_Duplicates_Values formats each field's value, NULL never
// appearing since records with a null are in no group.
func TestTable_Duplicates_Values(t *testing.T) {
	_, tbl := newDupRecs(t)
	n := "nick"
	for _, r := range []dupRec{
		{Org: "a", Name: "x", Nick: &n, Age: -2},
		{Org: "a", Name: "x", Nick: &n, Age: -2},
		{Org: "a", Name: "x", Age: -2},
		{Org: "a", Name: "x", Age: -2},
	} {
		_, err := tbl.Insert(r)
		require.NoError(t, err)
	}
	got, err := tbl.Duplicates(dupOrg, dupNick, dupAge)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, []string{"a", "nick", "-2"}, got[0].Values)
	assert.Equal(t, []int64{1, 2}, idsOf(got[0].Records))

	got, err = tbl.Duplicates(dupOrg, dupAge)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, []string{"a", "-2"}, got[0].Values)
	assert.Equal(t, []int64{1, 2, 3, 4}, idsOf(got[0].Records))
}

// TestTable_Duplicates_InTransaction: through a transaction, Duplicates
// sees the transaction's own writes and nothing committed after it began.
func TestTable_Duplicates_InTransaction(t *testing.T) {
	db, users := dupUsers(t, "a", "b")
	require.NoError(t, db.Update(func(tx *Tx) error {
		_, err := users.In(tx).Insert(User{Email: "t@x", Username: "t", Name: "a"})
		require.NoError(t, err)
		got, err := users.In(tx).Duplicates(uName)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, []string{"a"}, got[0].Values)

		outside, err := users.Duplicates(uName)
		require.NoError(t, err)
		assert.Empty(t, outside)
		return nil
	}))
	got, err := users.Duplicates(uName)
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

// dupUsers returns newUsers holding one user per name, ids 1 to
// len(names), with distinct emails and usernames and age i+1.
func dupUsers(t testing.TB, names ...string) (*DB, *Table[User]) {
	t.Helper()
	recs := make([]User, len(names))
	for i, n := range names {
		recs[i] = User{Email: fmt.Sprintf("u%d@example.com", i+1), Org: "o", Username: fmt.Sprintf("u%d", i+1), Name: n, Age: i + 1}
	}
	db, users, _ := newUsersHolding(t, recs...)
	return db, users
}

// TestTable_Duplicates_Errors: a field the table does not declare, a nil
// field or no field at all is a typed error; Dedupe then removes nothing.
func TestTable_Duplicates_Errors(t *testing.T) {
	cases := []struct {
		name   string
		fields []ColumnOf[User]
		is     error
		field  string // for a *FieldError
	}{
		{"unknown field", []ColumnOf[User]{uNickname}, ErrUnknownField, "nickname"},
		{"unknown second field", []ColumnOf[User]{uName, uNickname}, ErrUnknownField, "nickname"},
		{"nil field", []ColumnOf[User]{nil}, ErrUnknownField, "<nil>"},
		{"nil column", []ColumnOf[User]{(*Column[User, string])(nil)}, ErrUnknownField, "<nil>"},
		{"no field", nil, ErrInvalidLookup, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, users := dupUsers(t, "a", "a")
			before := dump(t, users)
			check := func(err error) {
				t.Helper()
				require.ErrorIs(t, err, c.is)
				if c.is == ErrUnknownField {
					var fe *FieldError
					require.ErrorAs(t, err, &fe)
					assert.Equal(t, *userFieldError(c.field), *fe)
				} else {
					var le *LookupError
					require.ErrorAs(t, err, &le)
					assert.Equal(t, "User", le.Table)
				}
			}
			groups, err := users.Duplicates(c.fields...)
			check(err)
			assert.Nil(t, groups)

			removed, err := users.Dedupe(nil, c.fields...)
			check(err)
			assert.Nil(t, removed)
			assert.Equal(t, before, dump(t, users))

			// The next valid call succeeds.
			removed, err = users.Dedupe(nil, uName)
			require.NoError(t, err)
			assert.Equal(t, []int64{2}, idsOf(removed))
		})
	}
}

// TestTable_Dedupe_KeepsLowestPK: a nil keep keeps the first record of
// each group, the lowest primary key, and returns the others in group
// order, each group's in primary key order.
func TestTable_Dedupe_KeepsLowestPK(t *testing.T) {
	_, users := dupUsers(t, "b", "a", "b", "c", "a", "b", "d")
	before := dump(t, users)

	removed, err := users.Dedupe(nil, uName)
	require.NoError(t, err)
	assert.Equal(t, []int64{5, 3, 6}, idsOf(removed)) // group "a", then "b"
	assert.Equal(t, []User{before[4], before[2], before[5]}, removed)

	assert.Equal(t, []int64{1, 2, 4, 7}, idsOf(dump(t, users)))
	groups, err := users.Duplicates(uName)
	require.NoError(t, err)
	assert.Empty(t, groups)
	for _, u := range removed { // gone from every index
		_, err := users.Get(uEmail.Eq(u.Email))
		requireNotFound(t, err, "User")
	}

	// Nothing left to remove.
	removed, err = users.Dedupe(nil, uName)
	require.NoError(t, err)
	assert.Empty(t, removed)
	assert.Equal(t, []int64{1, 2, 4, 7}, idsOf(dump(t, users)))
}

// TestTable_Dedupe_KeepChoosesSurvivor: keep sees each group in primary key
// order and picks the survivor by position.
func TestTable_Dedupe_KeepChoosesSurvivor(t *testing.T) {
	_, users := dupUsers(t, "b", "a", "b", "a", "b", "a")
	var seen [][]int64
	oldest := func(g []User) int { // the highest age (ages are i+1)
		seen = append(seen, idsOf(g))
		i := 0
		for j, u := range g {
			if u.Age > g[i].Age {
				i = j
			}
		}
		return i
	}
	removed, err := users.Dedupe(oldest, uName)
	require.NoError(t, err)
	assert.Equal(t, [][]int64{{2, 4, 6}, {1, 3, 5}}, seen)
	assert.Equal(t, []int64{2, 4, 1, 3}, idsOf(removed))
	assert.Equal(t, []int64{5, 6}, idsOf(dump(t, users)))
}

// TestTable_Dedupe_TwoFields dedupes on (org, name) together: equal names
// in different orgs are no duplicates.
func TestTable_Dedupe_TwoFields(t *testing.T) {
	_, users := newUsers(t)
	for i, u := range []User{
		{Org: "x", Name: "a"}, {Org: "y", Name: "a"}, {Org: "x", Name: "a"},
		{Org: "y", Name: "b"}, {Org: "y", Name: "a"}, {Org: "x", Name: "b"},
	} {
		u.Email, u.Username = fmt.Sprintf("u%d@x", i), fmt.Sprintf("u%d", i)
		_, err := users.Insert(u)
		require.NoError(t, err)
	}
	groups, err := users.Duplicates(uOrg, uName)
	require.NoError(t, err)
	require.Len(t, groups, 2)
	assert.Equal(t, []string{"x", "a"}, groups[0].Values)
	assert.Equal(t, []string{"y", "a"}, groups[1].Values)

	removed, err := users.Dedupe(func(g []User) int { return len(g) - 1 }, uOrg, uName)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, idsOf(removed))
	assert.Equal(t, []int64{3, 4, 5, 6}, idsOf(dump(t, users)))
}

// TestTable_Dedupe_SkipsNulls: a record with a null in any of the fields
// is in no group, so Dedupe keeps it.
func TestTable_Dedupe_SkipsNulls(t *testing.T) {
	_, tbl := newDupRecs(t)
	n := "n"
	for _, r := range []dupRec{
		{Org: "a"}, {Org: "a"}, {Org: "a", Nick: &n}, {Org: "a", Nick: &n}, {Org: "a"},
	} {
		_, err := tbl.Insert(r)
		require.NoError(t, err)
	}
	removed, err := tbl.Dedupe(nil, dupOrg, dupNick)
	require.NoError(t, err)
	assert.Equal(t, []int64{4}, idsOf(removed))
	assert.Equal(t, []int64{1, 2, 3, 5}, idsOf(dump(t, tbl)))
	count, err := tbl.Filter(dupNick.IsNull()).Count()
	require.NoError(t, err)
	assert.Equal(t, 3, count)
}

// TestTable_Dedupe_KeepOutOfRange: a keep that returns no position of its
// group fails Dedupe, which removes nothing, not even from the groups keep
// answered well.
func TestTable_Dedupe_KeepOutOfRange(t *testing.T) {
	for _, bad := range []int{-1, 3, 100} {
		t.Run(strconv.Itoa(bad), func(t *testing.T) {
			_, users := dupUsers(t, "a", "b", "a", "b", "b")
			before := dump(t, users)
			calls := 0
			removed, err := users.Dedupe(func(g []User) int {
				calls++
				if g[0].Name == "a" {
					return 0 // a good answer, for the first group
				}
				return bad
			}, uName)
			require.ErrorIs(t, err, ErrInvalidLookup)
			var le *LookupError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, "User", le.Table)
			assert.Contains(t, err.Error(), fmt.Sprintf("chose %d of a group of 3", bad))
			assert.Nil(t, removed)
			assert.Equal(t, 2, calls)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

// TestTable_Dedupe_ConcurrentWriteRetries makes a write land between
// Dedupe's read of the groups and its commit (keep is the hook: it runs
// in between, and waits here for a write made by another goroutine). A
// write that changes a group makes Dedupe read again, and the record it
// added is deduped too; a write that changes no group does not.
func TestTable_Dedupe_ConcurrentWriteRetries(t *testing.T) {
	cases := []struct {
		name      string
		write     func(users *Table[User]) error
		wantCalls int     // keep's calls: 1 per group per attempt
		wantIDs   []int64 // removed
		wantLeft  []int64
	}{
		{
			name: "insert into a group",
			write: func(users *Table[User]) error {
				_, err := users.Insert(User{Email: "new@x", Username: "new", Name: "a"})
				return err
			},
			wantCalls: 2, wantIDs: []int64{3, 4}, wantLeft: []int64{1, 2},
		},
		{
			name: "update of a grouped record's other field",
			write: func(users *Table[User]) error {
				u, err := users.Get(uID.Eq(3))
				if err != nil {
					return err
				}
				u.Age = 99
				return users.Update(u)
			},
			wantCalls: 2, wantIDs: []int64{3}, wantLeft: []int64{1, 2},
		},
		{
			name: "update moving a record out of its group",
			write: func(users *Table[User]) error {
				u, err := users.Get(uID.Eq(3))
				if err != nil {
					return err
				}
				u.Name = "c"
				return users.Update(u)
			},
			wantCalls: 1, wantIDs: nil, wantLeft: []int64{1, 2, 3}, // no group left to ask about
		},
		{
			name: "delete of a grouped record",
			write: func(users *Table[User]) error {
				_, err := users.Delete(uID.Eq(1))
				return err
			},
			wantCalls: 1, wantIDs: nil, wantLeft: []int64{2, 3}, // 3 is alone now: kept
		},
		{
			name: "insert outside every group",
			write: func(users *Table[User]) error {
				_, err := users.Insert(User{Email: "new@x", Username: "new", Name: "z"})
				return err
			},
			wantCalls: 1, wantIDs: []int64{3}, wantLeft: []int64{1, 2, 4},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, users := dupUsers(t, "a", "b", "a")
			calls := 0
			var sizes []int
			removed, err := users.Dedupe(func(g []User) int {
				calls++
				sizes = append(sizes, len(g))
				if calls == 1 {
					done := make(chan error)
					go func() { done <- c.write(users) }()
					require.NoError(t, <-done)
				}
				return 0
			}, uName)
			require.NoError(t, err)
			assert.Equal(t, c.wantCalls, calls, "group sizes seen: %v", sizes)
			assert.Equal(t, c.wantIDs, nilIfEmpty(idsOf(removed)))
			assert.Equal(t, c.wantLeft, idsOf(dump(t, users)))
			if c.name == "update of a grouped record's other field" {
				require.Len(t, removed, 1)
				assert.Equal(t, 99, removed[0].Age, "Dedupe returns the version it removed")
			}
			groups, err := users.Duplicates(uName)
			require.NoError(t, err)
			assert.Empty(t, groups)
		})
	}
}

func nilIfEmpty[E any](s []E) []E {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestTable_Dedupe_InTransaction: through a transaction Dedupe is one of
// its writes: invisible outside until commit, refused by a read-only one,
// and a commit fails if the groups it read changed meanwhile.
func TestTable_Dedupe_InTransaction(t *testing.T) {
	t.Run("read-only", func(t *testing.T) {
		db, users := dupUsers(t, "a", "a")
		calls := 0
		err := db.View(func(tx *Tx) error {
			removed, err := users.In(tx).Dedupe(func([]User) int { calls++; return 0 }, uName)
			assert.Nil(t, removed)
			return err
		})
		require.ErrorIs(t, err, ErrReadOnly)
		assert.Zero(t, calls, "keep ran for a write that cannot happen")
		assert.Equal(t, []int64{1, 2}, idsOf(dump(t, users)))
	})
	t.Run("commit", func(t *testing.T) {
		db, users := dupUsers(t, "a", "b", "a")
		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		removed, err := users.In(tx).Dedupe(nil, uName)
		require.NoError(t, err)
		assert.Equal(t, []int64{3}, idsOf(removed))
		assert.Equal(t, 2, users.In(tx).Len())
		assert.Equal(t, 3, users.Len(), "visible before commit")
		require.NoError(t, tx.Commit())
		assert.Equal(t, []int64{1, 2}, idsOf(dump(t, users)))
	})
	t.Run("rollback", func(t *testing.T) {
		db, users := dupUsers(t, "a", "a")
		tx, err := db.Begin(true)
		require.NoError(t, err)
		_, err = users.In(tx).Dedupe(nil, uName)
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())
		assert.Equal(t, []int64{1, 2}, idsOf(dump(t, users)))
	})
	t.Run("concurrent insert into a group", func(t *testing.T) {
		db, users := dupUsers(t, "a", "a")
		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = users.In(tx).Dedupe(nil, uName)
		require.NoError(t, err)
		_, err = users.Insert(User{Email: "new@x", Username: "new", Name: "a"})
		require.NoError(t, err)
		require.ErrorIs(t, tx.Commit(), ErrConflict, "the commit would leave a duplicate Dedupe never saw")
		assert.Equal(t, []int64{1, 2, 3}, idsOf(dump(t, users)))
	})
}

// TestTable_Dedupe_ConcurrentInserts runs Dedupe while 8 goroutines
// insert records, some into the groups Dedupe sees, some forming new
// groups. Every group that existed before Dedupe began keeps exactly its
// lowest primary key; every insert that succeeded is stored unless Dedupe
// returned it; nothing else changes.
func TestTable_Dedupe_ConcurrentInserts(t *testing.T) {
	const (
		rounds  = 8
		writers = 8
		groups  = 10
	)
	seed := testSeed(t)
	totalCalls := 0
	for round := range rounds {
		_, users := newUsers(t)
		var initial []User
		for g := range groups {
			for i := range 3 {
				initial = append(initial, User{Email: fmt.Sprintf("pre-%d-%d@x", g, i), Username: fmt.Sprintf("pre-%d-%d", g, i), Name: fmt.Sprintf("pre-%d", g)})
			}
		}
		for i := range 200 {
			initial = append(initial, User{Email: fmt.Sprintf("single-%d@x", i), Username: fmt.Sprintf("single-%d", i), Name: fmt.Sprintf("single-%d", i)})
		}
		res, err := users.InsertMany(initial, OnConflict[User]{})
		require.NoError(t, err)

		var stop atomic.Bool
		inserted := make([][]User, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(round*writers+w)))
				for i := 0; !stop.Load(); i++ {
					name := fmt.Sprintf("w%d-%d", w, i)
					switch r := rng.IntN(10); {
					case r == 0:
						name = fmt.Sprintf("pre-%d", rng.IntN(groups))
					case r == 1:
						name = fmt.Sprintf("new-%d", rng.IntN(groups))
					}
					u, err := users.Insert(User{Email: fmt.Sprintf("w%d-%d@x", w, i), Username: fmt.Sprintf("w%d-%d", w, i), Name: name})
					if err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					inserted[w] = append(inserted[w], u)
					time.Sleep(20 * time.Microsecond)
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		before, err := users.Duplicates(uName)
		require.NoError(t, err)
		calls := 0
		removed, err := users.Dedupe(func([]User) int { calls++; return 0 }, uName)
		time.Sleep(5 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		require.NoError(t, err, "round %d", round)
		totalCalls += calls

		final := map[int64]User{}
		for _, u := range dump(t, users) {
			final[u.ID] = u
		}
		gone := map[int64]bool{}
		for _, u := range removed {
			assert.NotContains(t, final, u.ID, "removed record %d is still stored", u.ID)
			gone[u.ID] = true
		}
		for _, g := range before {
			// A record inserted into the group after the snapshot, with a
			// key taken earlier, may be the lowest when Dedupe commits:
			// then no record of the snapshot's group survives.
			survivors, sameName := 0, 0
			for _, u := range g.Records {
				if _, ok := final[u.ID]; ok {
					survivors++
					assert.Equal(t, g.Records[0].ID, u.ID, "group %v kept %d, not its lowest primary key", g.Values, u.ID)
				}
			}
			for _, u := range final {
				if u.Name == g.Values[0] {
					sameName++
				}
			}
			assert.LessOrEqual(t, survivors, 1, "group %v: %d of its records left", g.Values, survivors)
			assert.Positive(t, sameName, "group %v: no record left", g.Values)
		}
		want := res.Inserted
		for _, ins := range inserted {
			want = append(want, ins...)
		}
		n := 0
		for _, u := range want {
			if gone[u.ID] {
				continue
			}
			n++
			assert.Equal(t, u, final[u.ID], "record %d", u.ID)
		}
		assert.Len(t, final, n, "records neither inserted nor removed")
		require.NoError(t, checkInvariants(users))
	}
	t.Logf("keep called %d times over %d rounds of %d groups or more", totalCalls, rounds, groups)
}

// TestDuplicatesError_Error formats the groups, the first few of them.
func TestDuplicatesError_Error(t *testing.T) {
	e := &DuplicatesError{Table: "User", Index: "user_name", Fields: []string{"org", "name"}, Total: 7,
		Groups: []DuplicateValues{{Values: []string{"o", "a"}, PKs: []string{"1", "2"}}, {Values: []string{"o", "b"}, PKs: []string{"3", "4", "5"}}}}
	assert.Equal(t, `recstore: cannot add unique index "user_name" on User: 7 group(s) of records share (org, name): (o, a) held by 1, 2; (o, b) held by 3, 4, 5; and 5 more`, e.Error())
	assert.ErrorIs(t, e, ErrDuplicateValues)
	assert.True(t, errors.Is(fmt.Errorf("wrapped: %w", e), ErrDuplicateValues))
}
