package recstore

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ddlIndexes returns the names of tbl's indexes, as its latest published
// version and its latest schema both have them (they must agree).
func ddlIndexes[T any](t testing.TB, tbl *Table[T]) []string {
	t.Helper()
	names := func(sch *tableSchema[T]) []string {
		var out []string
		for _, d := range sch.indexes {
			out = append(out, d.name)
		}
		return out
	}
	s := versionOf(tbl)
	require.Equal(t, names(s.sch), names(tbl.eng.schema()), "published and latest schemas differ")
	require.Len(t, s.trees, len(s.sch.indexes))
	return names(s.sch)
}

// wantDuplicatesError is the *DuplicatesError that adding unique index
// name over fields must report when Duplicates returns groups: the first
// groups, each with its size and its first primary keys.
func wantDuplicatesError(table, index string, fields []string, groups []DuplicateGroup[User]) *DuplicatesError {
	e := &DuplicatesError{Table: table, Index: index, Fields: fields, Total: len(groups)}
	for _, g := range groups[:min(len(groups), maxReportedGroups)] {
		pks := make([]string, min(len(g.Records), maxReportedPKs))
		for i := range pks {
			pks[i] = strconv.FormatInt(g.Records[i].ID, 10)
		}
		e.Groups = append(e.Groups, DuplicateValues{Values: g.Values, Count: len(g.Records), PKs: pks})
	}
	return e
}

// TestTable_AddIndex_Succeeds adds unique and plain indexes, one field and
// two, to a table holding records: queries use the index at once, Get
// finds through it, and a unique one refuses a duplicate.
func TestTable_AddIndex_Succeeds(t *testing.T) {
	cases := []struct {
		name    string
		spec    *IndexSpec[User]
		lookup  []Cond[User]
		explain string // Explain's prefix for lookup
		unique  bool
		fields  []string
	}{
		{"unique, one field", Unique("user_name", uName), []Cond[User]{uName.Eq("b")}, `point user_name (name="b")`, true, []string{"name"}},
		{"plain, one field", Index("user_name", uName), []Cond[User]{uName.Eq("b")}, `key scan user_name (name="b")`, false, nil},
		{"unique, two fields", Unique("org_name", uOrg, uName), []Cond[User]{uOrg.Eq("o"), uName.Eq("b")}, `point org_name (org="o", name="b")`, true, []string{"org", "name"}},
		{"plain, two fields", Index("org_name", uOrg, uName), []Cond[User]{uOrg.Eq("o"), uName.Eq("b")}, `key scan org_name (org="o", name="b")`, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, users := dupUsers(t, "a", "b", "c")
			before := dump(t, users)
			q := users.Filter(c.lookup...)
			assert.NotContains(t, q.Explain(), c.spec.def.name)

			require.NoError(t, users.AddIndex(c.spec))
			assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age", c.spec.def.name}, ddlIndexes(t, users))
			assert.True(t, strings.HasPrefix(q.Explain(), c.explain), "Explain: %s", q.Explain())
			assert.Equal(t, before, dump(t, users), "AddIndex changed records")
			require.NoError(t, checkInvariants(users))

			got, err := users.Get(c.lookup...)
			require.NoError(t, err)
			assert.Equal(t, before[1], got)

			// A record stored now is in the index too.
			dup := User{Email: "dup@example.com", Org: "o", Username: "dup", Name: "b", Age: 2}
			stored, err := users.Insert(dup)
			if !c.unique {
				require.NoError(t, err)
				n, err := q.Count()
				require.NoError(t, err)
				assert.Equal(t, 2, n)
				_, err = users.Get(c.lookup...)
				requireMultiple(t, err, "User", 2)
				return
			}
			var values []string
			for _, f := range c.fields {
				values = append(values, map[string]string{"org": "o", "name": "b"}[f])
			}
			requireUniqueViolation(t, err, c.spec.def.name, c.fields, values, before[1],
				fmt.Sprintf("recstore: duplicate key value violates unique constraint %q on User: (%s)=(%s) already held by id 2",
					c.spec.def.name, strings.Join(c.fields, ", "), strings.Join(values, ", ")))
			assert.Zero(t, stored)
			assert.Equal(t, before, dump(t, users))

			// So does an update moving a record onto the taken value.
			moved := before[0]
			moved.Name = "b"
			err = users.Update(moved)
			require.ErrorIs(t, err, ErrUniqueViolation)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

// TestTable_AddIndex_OverDuplicates: a unique index over records that
// share its values is refused with a *DuplicatesError naming the first
// five groups and counting all of them; nothing changes, and a duplicate
// can still be stored.
func TestTable_AddIndex_OverDuplicates(t *testing.T) {
	names := []string{"g", "a", "f", "b", "a", "e", "c", "d", "b", "c", "g", "d", "e", "f", "f", "z"}
	cases := []struct {
		name   string
		spec   *IndexSpec[User]
		cols   []ColumnOf[User]
		lookup []Cond[User]
	}{
		{"one field", Unique("user_name", uName), []ColumnOf[User]{uName}, []Cond[User]{uName.Eq("a")}},
		{"two fields", Unique("org_name", uOrg, uName), []ColumnOf[User]{uOrg, uName}, []Cond[User]{uOrg.Eq("o"), uName.Eq("a")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, users := dupUsers(t, names...)
			before := dump(t, users)
			q := users.Filter(c.lookup...)
			explain := q.Explain()
			groups, err := users.Duplicates(c.cols...)
			require.NoError(t, err)
			require.Len(t, groups, 7)

			var fields []string
			for _, col := range c.cols {
				fields = append(fields, col.Name())
			}
			err = users.AddIndex(c.spec)
			de := requireDuplicatesError(t, err, wantDuplicatesError("User", c.spec.def.name, fields, groups))
			assert.Len(t, de.Groups, 5)
			assert.Equal(t, 7, de.Total)
			assert.Equal(t, []string{"2", "5"}, de.Groups[0].PKs)  // "a", first in value order
			assert.Equal(t, []string{"6", "13"}, de.Groups[4].PKs) // "e"; "f" [3 14 15] and "g" [1 11] are not listed
			assert.Contains(t, err.Error(), "and 2 more")

			assert.Equal(t, before, dump(t, users))
			assert.Equal(t, explain, q.Explain())
			assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
			_, err = users.Insert(User{Email: "again@example.com", Username: "again", Org: "o", Name: "z"})
			require.NoError(t, err, "no index may refuse a duplicate")

			// Dedupe, then the same AddIndex succeeds.
			_, err = users.Dedupe(nil, c.cols...)
			require.NoError(t, err)
			require.NoError(t, users.AddIndex(c.spec))
			assert.True(t, strings.HasPrefix(q.Explain(), "point "+c.spec.def.name+" "), "Explain: %s", q.Explain())
			got, err := users.Get(c.lookup...)
			require.NoError(t, err)
			assert.Equal(t, int64(2), got.ID)
		})
	}
}

// TestTable_AddIndex_Errors: schema mistakes are a *SchemaError, a closed
// DB ErrClosed; the table is as it was and the next valid AddIndex
// succeeds.
func TestTable_AddIndex_Errors(t *testing.T) {
	cases := []struct {
		name   string
		add    func(t *testing.T, db *DB, users *Table[User]) error
		is     error
		reason string // part of the *SchemaError's Reason
	}{
		{"name of an index", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Unique("user_email", uName))
		}, ErrSchema, `two indexes are named "user_email"`},
		{"name of a plain index", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Index("user_age", uName))
		}, ErrSchema, `two indexes are named "user_age"`},
		{"name of the primary key", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Index("primary", uName))
		}, ErrSchema, `two indexes are named "primary"`},
		{"empty name", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Unique("", uName))
		}, ErrSchema, "an index has an empty name"},
		{"nil spec", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(nil)
		}, ErrSchema, "an index spec is nil"},
		{"nil field", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Unique[User, string]("x", nil))
		}, ErrSchema, "a field is nil"},
		{"field twice", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Unique("x", uName, uName))
		}, ErrSchema, `index "x" names field "name" twice`},
		{"NullsNotDistinct on a plain index", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Index("x", uName).NullsNotDistinct())
		}, ErrSchema, "NullsNotDistinct on a plain index"},
		{"another field of that name", func(_ *testing.T, _ *DB, users *Table[User]) error {
			return users.AddIndex(Unique("x", Field("name", func(u *User) string { return u.Username })))
		}, ErrSchema, `two different fields are named "name"`},
		{"inside a write transaction", func(_ *testing.T, db *DB, users *Table[User]) error {
			return db.Update(func(tx *Tx) error { return users.In(tx).AddIndex(Unique("x", uName)) })
		}, ErrSchema, "AddIndex inside a transaction"},
		{"inside a read transaction", func(_ *testing.T, db *DB, users *Table[User]) error {
			return db.View(func(tx *Tx) error { return users.In(tx).AddIndex(Index("x", uName)) })
		}, ErrSchema, "AddIndex inside a transaction"},
		{"closed DB", func(t *testing.T, db *DB, users *Table[User]) error {
			require.NoError(t, db.Close())
			return users.AddIndex(Unique("x", uName))
		}, ErrClosed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, users := dupUsers(t, "a", "b")
			before := dump(t, users)
			err := c.add(t, db, users)
			require.ErrorIs(t, err, c.is)
			if c.is == ErrSchema {
				var se *SchemaError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, "User", se.Table)
				assert.Contains(t, se.Reason, c.reason)
			}
			if c.is == ErrClosed {
				assert.Len(t, users.eng.schema().indexes, 4)
				return
			}
			assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
			assert.Equal(t, before, dump(t, users))
			require.NoError(t, users.AddIndex(Unique("x", uName)))
			assert.Equal(t, `point x (name="a")`, users.Filter(uName.Eq("a")).Explain())
		})
	}
}

// TestTable_AddIndex_Partial adds a partial unique index over records
// that share values only outside its condition; queries do not use it.
func TestTable_AddIndex_Partial(t *testing.T) {
	_, users := newUsers(t)
	for i, u := range []User{{Name: "a", Age: 10}, {Name: "a", Age: 12}, {Name: "a", Age: 30}, {Name: "b", Age: 40}} {
		u.Email, u.Username = fmt.Sprintf("u%d@x", i), fmt.Sprintf("u%d", i)
		_, err := users.Insert(u)
		require.NoError(t, err)
	}
	adults := Unique("adult_name", uName).Where(uAge.Ge(18))
	require.NoError(t, users.AddIndex(adults))
	assert.Equal(t, "full scan primary", users.Filter(uName.Eq("a")).Explain())

	_, err := users.Insert(User{Email: "minor@x", Username: "minor", Name: "a", Age: 5})
	require.NoError(t, err)
	_, err = users.Insert(User{Email: "adult@x", Username: "adult", Name: "b", Age: 50})
	var uv *UniqueViolationError
	require.ErrorAs(t, err, &uv)
	assert.Equal(t, "adult_name", uv.Constraint)
	assert.Equal(t, "4", uv.HeldBy)

	// A second adult "a" would collide: the same index refused over it.
	require.NoError(t, users.DropIndex("adult_name"))
	_, err = users.Insert(User{Email: "adult2@x", Username: "adult2", Name: "a", Age: 60})
	require.NoError(t, err)
	err = users.AddIndex(adults)
	de := requireDuplicatesError(t, err, &DuplicatesError{Table: "User", Index: "adult_name", Fields: []string{"name"}, Total: 1,
		Groups: []DuplicateValues{{Values: []string{"a"}, Count: 2, PKs: []string{"3", "7"}}}})
	assert.Equal(t, 1, de.Total)
}

// ddlNick has an optional field, for unique indexes over nulls.
type ddlNick struct {
	ID   int64
	Org  string
	Nick *string
}

var (
	ddlNickID   = Field("id", func(r *ddlNick) int64 { return r.ID })
	ddlNickOrg  = Field("org", func(r *ddlNick) string { return r.Org })
	ddlNickNick = OptionalField("nick", func(r *ddlNick) *string { return r.Nick })
)

func ddlStr(s string) *string { return &s }

func newDDLNicks(t testing.TB, opts ...TableOption[ddlNick]) *Table[ddlNick] {
	t.Helper()
	tbl, err := NewTable(newTestDB(t), "Nick",
		append([]TableOption[ddlNick]{AutoPrimaryKey(ddlNickID, func(r *ddlNick, id int64) { r.ID = id }), Fields(ddlNickOrg, ddlNickNick)}, opts...)...)
	require.NoError(t, err)
	return tbl
}

// TestTable_AddIndex_Nulls: nulls do not stop a unique index unless it is
// NullsNotDistinct; the *DuplicatesError then shows them as NULL.
func TestTable_AddIndex_Nulls(t *testing.T) {
	// Ids 1 and 3 hold (a, null); 2 and 4 hold nick x, in orgs a and b.
	stored := []ddlNick{{Org: "a"}, {Org: "a", Nick: ddlStr("x")}, {Org: "a"}, {Org: "b", Nick: ddlStr("x")}}
	cases := []struct {
		name   string
		spec   *IndexSpec[ddlNick]
		stored []ddlNick
		want   *DuplicatesError // nil: AddIndex succeeds
	}{
		{"nulls distinct", Unique("nick", ddlNickNick), stored[:3], nil},
		{"nulls distinct, two fields", Unique("org_nick", ddlNickOrg, ddlNickNick), stored, nil},
		{"nulls not distinct", Unique("nick", ddlNickNick).NullsNotDistinct(), stored[:3], &DuplicatesError{Table: "Nick", Index: "nick", Fields: []string{"nick"}, Total: 1,
			Groups: []DuplicateValues{{Values: []string{"NULL"}, Count: 2, PKs: []string{"1", "3"}}}}},
		{"nulls not distinct, two fields", Unique("org_nick", ddlNickOrg, ddlNickNick).NullsNotDistinct(), stored, &DuplicatesError{Table: "Nick", Index: "org_nick", Fields: []string{"org", "nick"}, Total: 1,
			Groups: []DuplicateValues{{Values: []string{"a", "NULL"}, Count: 2, PKs: []string{"1", "3"}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := newDDLNicks(t)
			for _, r := range c.stored {
				_, err := tbl.Insert(r)
				require.NoError(t, err)
			}
			before := dump(t, tbl)
			err := tbl.AddIndex(c.spec)
			if c.want != nil {
				requireDuplicatesError(t, err, c.want)
				assert.Equal(t, before, dump(t, tbl))
				assert.Equal(t, []string{"primary"}, ddlIndexes(t, tbl))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []string{"primary", c.spec.def.name}, ddlIndexes(t, tbl))
			n, err := tbl.Filter(ddlNickNick.IsNull()).Count()
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			_, err = tbl.Insert(ddlNick{Org: "a"})
			require.NoError(t, err, "a third null")
		})
	}
}

// TestTable_AddIndex_InvalidStoredValue: a stored value that cannot be an
// index key (over MaxKeySize, NaN) was fine while its field was not
// indexed. Adding an index over it must fail with the KeyError and change
// nothing, not panic or store a key that every later write of the record
// trips over.
func TestTable_AddIndex_InvalidStoredValue(t *testing.T) {
	for _, spec := range []*IndexSpec[User]{Index("user_name", uName), Unique("user_name", uName)} {
		t.Run("key too large, unique "+strconv.FormatBool(spec.def.unique), func(t *testing.T) {
			_, users := newUsers(t)
			big, err := users.Insert(User{Email: "big@x", Username: "big", Name: strings.Repeat("n", MaxKeySize+1)})
			require.NoError(t, err, "an unindexed field may hold a long string")
			var addErr error
			require.NotPanics(t, func() { addErr = users.AddIndex(spec) })
			assert.ErrorIs(t, addErr, ErrKeyTooLarge, "AddIndex over a %d-byte value", len(big.Name))
			if addErr != nil {
				assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
			}
			assert.NotPanics(t, func() {
				_, err = users.Delete(uID.Eq(big.ID))
				assert.NoError(t, err)
			}, "deleting the record")
		})
	}
	t.Run("NaN", func(t *testing.T) {
		type scored struct {
			ID    int64
			Score float64
		}
		id := Field("id", func(r *scored) int64 { return r.ID })
		score := Field("score", func(r *scored) float64 { return r.Score })
		tbl, err := NewTable(newTestDB(t), "Scored", AutoPrimaryKey(id, func(r *scored, v int64) { r.ID = v }), Fields(score))
		require.NoError(t, err)
		_, err = tbl.Insert(scored{Score: math.NaN()})
		require.NoError(t, err, "an unindexed float may hold NaN")
		_, err = tbl.Insert(scored{Score: 1})
		require.NoError(t, err)
		for _, spec := range []*IndexSpec[scored]{Index("score", score), Unique("score", score)} {
			var addErr error
			require.NotPanics(t, func() { addErr = tbl.AddIndex(spec) }, "AddIndex over a stored NaN")
			assert.ErrorIs(t, addErr, ErrInvalidKey)
			assert.Len(t, ddlIndexes(t, tbl), 1)
		}
	})
}

// TestTable_DropIndex: queries stop using the index and writes stop
// checking it at once; the primary key and unknown names are refused.
func TestTable_DropIndex(t *testing.T) {
	t.Run("unique", func(t *testing.T) {
		_, users := dupUsers(t, "a", "b")
		q := users.Filter(uEmail.Eq("u1@example.com"))
		assert.Equal(t, `point user_email (email="u1@example.com")`, q.Explain())
		require.NoError(t, users.DropIndex("user_email"))
		assert.Equal(t, []string{"primary", "org_username", "user_age"}, ddlIndexes(t, users))
		assert.Equal(t, "full scan primary", q.Explain())

		_, err := users.Insert(User{Email: "u1@example.com", Username: "again"})
		require.NoError(t, err, "duplicates are allowed once the index is gone")
		_, err = users.Get(uEmail.Eq("u1@example.com"))
		requireMultiple(t, err, "User", 2)

		// Adding it back is refused while the duplicate stays.
		err = users.AddIndex(Unique("user_email", uEmail))
		requireDuplicatesError(t, err, &DuplicatesError{Table: "User", Index: "user_email", Fields: []string{"email"}, Total: 1,
			Groups: []DuplicateValues{{Values: []string{"u1@example.com"}, Count: 2, PKs: []string{"1", "3"}}}})
	})
	t.Run("composite", func(t *testing.T) {
		_, users := dupUsers(t, "a", "b")
		q := users.Filter(uOrg.Eq("o"), uUsername.Eq("u1"))
		assert.True(t, strings.HasPrefix(q.Explain(), "point org_username "), q.Explain())
		require.NoError(t, users.DropIndex("org_username"))
		assert.Equal(t, "full scan primary", q.Explain())
		_, err := users.Insert(User{Email: "x@x", Org: "o", Username: "u1"})
		require.NoError(t, err)
		n, err := q.Count()
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	})
	t.Run("plain", func(t *testing.T) {
		_, users := dupUsers(t, "a", "b")
		q := users.Filter(uAge.Eq(1))
		assert.True(t, strings.HasPrefix(q.Explain(), "key scan user_age (age=1)"), q.Explain())
		require.NoError(t, users.DropIndex("user_age"))
		assert.Equal(t, "full scan primary", q.Explain())
		got, err := users.Get(uAge.Eq(1))
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.ID)
		// The field stays declared: Filter and an index added back work.
		require.NoError(t, users.AddIndex(Index("user_age", uAge)))
		assert.True(t, strings.HasPrefix(q.Explain(), "key scan user_age (age=1)"), q.Explain())
	})
	t.Run("errors", func(t *testing.T) {
		db, users := dupUsers(t, "a", "b")
		before := dump(t, users)
		for _, c := range []struct {
			name string
			drop func() error
			want error
		}{
			{"unknown", func() error { return users.DropIndex("nope") }, &IndexNotFoundError{Table: "User", Index: "nope"}},
			{"empty", func() error { return users.DropIndex("") }, &IndexNotFoundError{Table: "User", Index: ""}},
			{"primary", func() error { return users.DropIndex("primary") }, &SchemaError{Table: "User", Reason: "the primary key cannot be dropped"}},
			{"in a transaction", func() error {
				return db.Update(func(tx *Tx) error { return users.In(tx).DropIndex("user_email") })
			}, &SchemaError{Table: "User", Reason: "DropIndex inside a transaction"}},
		} {
			err := c.drop()
			require.Equal(t, c.want, err, c.name)
			assert.Equal(t, before, dump(t, users), c.name)
			assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users), c.name)
		}
		require.ErrorIs(t, users.DropIndex("nope"), ErrIndexNotFound)
		require.NoError(t, users.DropIndex("user_email"))
		err := users.DropIndex("user_email")
		require.Equal(t, &IndexNotFoundError{Table: "User", Index: "user_email"}, err, "dropped twice")
		require.Equal(t, `recstore: table User has no index named "user_email"`, err.Error())
	})
}

// TestTable_AddIndex_Concurrent: schema changes of one table run one at
// a time; every distinct index lands, a name taken twice once.
func TestTable_AddIndex_Concurrent(t *testing.T) {
	_, users := dupUsers(t, "a", "b", "c")
	specs := []*IndexSpec[User]{
		Unique("n1", uName), Index("n2", uName), Unique("n3", uName, uAge), Index("n4", uAge, uName),
		Unique("same", uName), Unique("same", uName), Index("same", uAge),
	}
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { errs[i] = users.AddIndex(s) })
	}
	wg.Wait()
	for _, err := range errs[:4] {
		require.NoError(t, err)
	}
	failed := 0
	for _, err := range errs[4:] {
		if err != nil {
			require.ErrorIs(t, err, ErrSchema)
			failed++
		}
	}
	assert.Equal(t, 2, failed, "of three AddIndex named same")
	names := ddlIndexes(t, users)
	assert.Len(t, names, 4+5)
	assert.Subset(t, names, []string{"n1", "n2", "n3", "n4", "same"})
	require.NoError(t, checkInvariants(users))
}

// ddlGate is a hook into the middle of AddIndex's build, through a field
// accessor: once armed, the first call of pass blocks until release.
// The build reads its snapshot before it reads any record's value, so
// writes made while it waits are writes AddIndex must catch up with.
type ddlGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *ddlGate) pass() {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
}

// ddlGatedUsers returns the User table of newUsers whose name field
// (unindexed) goes through gate.
func ddlGatedUsers(t testing.TB) (*DB, *Table[User], *Column[User, string], *ddlGate) {
	t.Helper()
	gate := &ddlGate{entered: make(chan struct{}), release: make(chan struct{})}
	name := Field("name", func(u *User) string { gate.pass(); return u.Name })
	db := newTestDB(t)
	users, err := NewTable(db, "User", userTable(name)...)
	require.NoError(t, err)
	return db, users, name, gate
}

// addIndexDuring runs users.AddIndex(spec) and, while its build waits in
// gate (its snapshot read, its install not yet committed), calls writes.
func addIndexDuring(t *testing.T, users *Table[User], gate *ddlGate, spec *IndexSpec[User], writes func()) error {
	t.Helper()
	gate.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- users.AddIndex(spec) }()
	select {
	case <-gate.entered:
	case err := <-done:
		t.Fatalf("AddIndex returned %v without reading a record", err)
	case <-time.After(10 * time.Second):
		t.Fatal("AddIndex's build never read a record")
	}
	func() {
		defer close(gate.release) // even if writes fails the test
		writes()
	}()
	return <-done
}

// TestTable_AddIndex_WriteDuringBuild makes writes commit after AddIndex
// read its snapshot and before it installs the index, deterministically
// (see ddlGate): the build must catch up with them, failing exactly when
// the records, as they are when it installs, share a value.
func TestTable_AddIndex_WriteDuringBuild(t *testing.T) {
	type env struct {
		t     *testing.T
		db    *DB
		users *Table[User]
		name  *Column[User, string]
	}
	insert := func(e env, email, name string, age int) User {
		u, err := e.users.Insert(User{Email: email, Username: email, Name: name, Age: age})
		require.NoError(e.t, err)
		return u
	}
	rename := func(e env, id int64, name string) {
		u, err := e.users.Get(uID.Eq(id))
		require.NoError(e.t, err)
		u.Name = name
		require.NoError(e.t, e.users.Update(u))
	}
	cases := []struct {
		name    string
		partial bool // the index is Unique(name).Where(age >= 18)
		plain   bool // the index is Index(name)
		writes  func(e env)
		fail    bool // AddIndex returns a *DuplicatesError
	}{
		{name: "insert of a new value", writes: func(e env) { insert(e, "n@x", "z", 20) }},
		{name: "insert of a taken value", fail: true, writes: func(e env) { insert(e, "n@x", "a", 20) }},
		{name: "two inserts of one new value", fail: true, writes: func(e env) {
			insert(e, "n1@x", "z", 20)
			insert(e, "n2@x", "z", 20)
		}},
		{name: "update onto a taken value", fail: true, writes: func(e env) { rename(e, 2, "a") }},
		{name: "update of a lower key onto a higher key's value", fail: true, writes: func(e env) { rename(e, 1, "c") }},
		{name: "update frees a value an insert takes", writes: func(e env) {
			rename(e, 1, "z")
			insert(e, "n@x", "a", 20)
		}},
		{name: "swap of two values", writes: func(e env) {
			rename(e, 1, "tmp")
			rename(e, 2, "a")
			rename(e, 1, "b")
		}},
		{name: "value moved away and back", writes: func(e env) {
			rename(e, 1, "z")
			rename(e, 1, "a")
		}},
		{name: "delete frees a value an insert takes", writes: func(e env) {
			_, err := e.users.Delete(uID.Eq(1))
			require.NoError(e.t, err)
			insert(e, "n@x", "a", 20)
		}},
		{name: "duplicate removed again before install", writes: func(e env) {
			u := insert(e, "n@x", "a", 20)
			_, err := e.users.Delete(uID.Eq(u.ID))
			require.NoError(e.t, err)
		}},
		{name: "failed insert of a taken value", writes: func(e env) {
			_, err := e.users.Insert(User{Email: "a@x", Name: "a", Age: 20}) // a@x is taken
			require.ErrorIs(e.t, err, ErrUniqueViolation)
		}},
		{name: "failed update onto a taken value", writes: func(e env) {
			u, err := e.users.Get(uID.Eq(2))
			require.NoError(e.t, err)
			u.Name, u.Email = "a", "a@x"
			require.ErrorIs(e.t, e.users.Update(u), ErrUniqueViolation)
		}},
		{name: "transaction inserting a taken value", fail: true, writes: func(e env) {
			require.NoError(e.t, e.db.Update(func(tx *Tx) error {
				_, err := e.users.In(tx).Insert(User{Email: "n@x", Username: "n", Name: "b", Age: 20})
				return err
			}))
		}},
		{name: "transaction swapping values", writes: func(e env) {
			require.NoError(e.t, e.db.Update(func(tx *Tx) error {
				for id, name := range map[int64]string{1: "b", 2: "a"} {
					u, err := e.users.In(tx).Get(uID.Eq(id))
					if err != nil {
						return err
					}
					u.Name = name
					if err := e.users.In(tx).Update(u); err != nil {
						return err
					}
				}
				return nil
			}))
		}},
		{name: "InsertMany of two new groups", fail: true, writes: func(e env) {
			_, err := e.users.InsertMany([]User{
				{Email: "n1@x", Username: "n1", Name: "y"}, {Email: "n2@x", Username: "n2", Name: "z"},
				{Email: "n3@x", Username: "n3", Name: "y"}, {Email: "n4@x", Username: "n4", Name: "z"},
			}, OnConflict[User]{})
			require.NoError(e.t, err)
		}},
		{name: "Dedupe of a duplicate made during the build", writes: func(e env) {
			insert(e, "n@x", "a", 20)
			_, err := e.users.Dedupe(nil, e.name)
			require.NoError(e.t, err)
		}},
		{name: "partial: insert outside the condition", partial: true, writes: func(e env) { insert(e, "n@x", "a", 5) }},
		{name: "partial: insert inside the condition", partial: true, fail: true, writes: func(e env) { insert(e, "n@x", "a", 20) }},
		{name: "partial: update into the condition", partial: true, fail: true, writes: func(e env) {
			u := insert(e, "n@x", "a", 5)
			u.Age = 30
			require.NoError(e.t, e.users.Update(u))
		}},
		{name: "partial: update out of the condition frees the value", partial: true, writes: func(e env) {
			u, err := e.users.Get(uID.Eq(1))
			require.NoError(e.t, err)
			u.Age = 1
			require.NoError(e.t, e.users.Update(u))
			insert(e, "n@x", "a", 20)
		}},
		{name: "plain: inserts, updates, deletes", plain: true, writes: func(e env) {
			insert(e, "n1@x", "a", 20)
			insert(e, "n2@x", "a", 20)
			rename(e, 2, "a")
			rename(e, 3, "q")
			_, err := e.users.Delete(uID.Eq(1))
			require.NoError(e.t, err)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, users, name, gate := ddlGatedUsers(t)
			for i, n := range []string{"a", "b", "c"} { // ids 1 to 3, adults
				_, err := users.Insert(User{Email: n + "@x", Username: n, Name: n, Age: 20 + i})
				require.NoError(t, err)
			}
			spec := Unique("user_name", name)
			switch {
			case c.partial:
				spec = spec.Where(uAge.Ge(18))
			case c.plain:
				spec = Index("user_name", name)
			}
			err := addIndexDuring(t, users, gate, spec, func() { c.writes(env{t, db, users, name}) })
			if !c.fail {
				require.NoError(t, err)
				assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age", "user_name"}, ddlIndexes(t, users))
				require.NoError(t, checkInvariants(users))
				if !c.partial && !c.plain {
					groups, err := users.Duplicates(name)
					require.NoError(t, err)
					assert.Empty(t, groups)
					for _, u := range dump(t, users) {
						q := users.Filter(name.Eq(u.Name))
						assert.Equal(t, fmt.Sprintf("point user_name (name=%q)", u.Name), q.Explain())
						got, err := users.Get(name.Eq(u.Name))
						require.NoError(t, err)
						assert.Equal(t, u, got)
					}
					held := dump(t, users)[0]
					_, err = users.Insert(User{Email: "after@x", Username: "after", Name: held.Name, Age: 40})
					var uv *UniqueViolationError
					require.ErrorAs(t, err, &uv)
					assert.Equal(t, "user_name", uv.Constraint)
				}
				return
			}
			var de *DuplicatesError
			require.ErrorAs(t, err, &de)
			require.ErrorIs(t, err, ErrDuplicateValues)
			assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
			assert.Equal(t, "full scan primary", users.Filter(name.Eq("a")).Explain())
			require.NoError(t, checkInvariants(users))
			if !c.partial {
				// The error lists the duplicates there were when the build
				// gave up, as Duplicates shows them (nothing wrote since).
				groups, err := users.Duplicates(name)
				require.NoError(t, err)
				assert.Equal(t, wantDuplicatesError("User", "user_name", []string{"name"}, groups), de)
			}
			_, err = users.Insert(User{Email: "after@x", Username: "after", Name: "a", Age: 40})
			require.NoError(t, err, "no index may refuse a duplicate")
		})
	}
}

// TestTable_AddIndex_InvalidValueDuringBuild: a value that cannot be a
// key, written while the index is being built (the field is not indexed
// yet, so the write succeeds), fails AddIndex with the KeyError.
func TestTable_AddIndex_InvalidValueDuringBuild(t *testing.T) {
	for _, spec := range []func(name *Column[User, string]) *IndexSpec[User]{
		func(name *Column[User, string]) *IndexSpec[User] { return Unique("user_name", name) },
		func(name *Column[User, string]) *IndexSpec[User] { return Index("user_name", name) },
	} {
		_, users, name, gate := ddlGatedUsers(t)
		_, err := users.Insert(User{Email: "a@x", Username: "a", Name: "a"})
		require.NoError(t, err)
		var big User
		var addErr error
		require.NotPanics(t, func() {
			addErr = addIndexDuring(t, users, gate, spec(name), func() {
				big, err = users.Insert(User{Email: "big@x", Username: "big", Name: strings.Repeat("n", MaxKeySize+1)})
				require.NoError(t, err)
			})
		})
		require.ErrorIs(t, addErr, ErrKeyTooLarge)
		var ke *KeyError
		require.ErrorAs(t, addErr, &ke)
		assert.Equal(t, "name", ke.Field)
		assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
		_, err = users.Delete(uID.Eq(big.ID))
		require.NoError(t, err)
		require.NoError(t, users.AddIndex(spec(name)))
	}
}

// ddlRace configures one round of AddIndex against writers.
type ddlRace struct {
	collide    float64 // chance that a write gives a record one of 4 shared "hot" names
	initialDup bool    // the round starts with a duplicate no writer touches
	duration   time.Duration
}

// ddlRaceTable is a User table that rounds of writers share, with what
// each writer owns: the records as its successful writes left them, and
// every name each has held.
type ddlRaceTable struct {
	size    int // records per writer the writers keep to, about
	db      *DB
	users   *Table[User]
	name    *Column[User, string] // User.Name, slow while slow is set
	slow    atomic.Bool
	writers []ddlWriter
}

type ddlWriter struct {
	owned map[int64]User
	names map[int64]map[string]bool
	hot   []int64 // owned records holding a hot name, to rename soon
	// One round's:
	violations []*UniqueViolationError
	early      int // violations before AddIndex was called
	conflicts  int // ErrConflict from a transaction: nothing written
	writes     int
	errs       []error
}

func (w *ddlWriter) note(u User) {
	w.owned[u.ID] = u
	if w.names[u.ID] == nil {
		w.names[u.ID] = map[string]bool{}
	}
	w.names[u.ID][u.Name] = true
	w.hot = slices.DeleteFunc(w.hot, func(id int64) bool { return id == u.ID })
	if strings.HasPrefix(u.Name, "hot-") {
		w.hot = append(w.hot, u.ID)
	}
}

func (w *ddlWriter) drop(id int64) {
	delete(w.owned, id)
	w.hot = slices.DeleteFunc(w.hot, func(h int64) bool { return h == id })
}

// newDDLRaceTable returns a table declared as newUsers declares it,
// holding records with distinct names, owned round-robin by writers. Its
// name field sleeps now and then while rt.slow is set, so that AddIndex's
// build takes as long as on a big table: many writes race it.
func newDDLRaceTable(t *testing.T, records, writers int) *ddlRaceTable {
	t.Helper()
	rt := &ddlRaceTable{size: records / writers, db: newTestDB(t), writers: make([]ddlWriter, writers)}
	var calls atomic.Int64
	rt.name = Field("name", func(u *User) string {
		if rt.slow.Load() && calls.Add(1)%256 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
		return u.Name
	})
	users, err := NewTable(rt.db, "User", userTable(rt.name)...)
	require.NoError(t, err)
	rt.users = users
	for i := range rt.writers {
		rt.writers[i] = ddlWriter{owned: map[int64]User{}, names: map[int64]map[string]bool{}}
	}
	initial := make([]User, records)
	for i := range initial {
		initial[i] = User{Email: fmt.Sprintf("init-%d@x", i), Org: "o", Username: fmt.Sprintf("init-%d", i), Name: fmt.Sprintf("init-%d", i), Age: i}
	}
	res, err := users.InsertMany(initial, OnConflict[User]{})
	require.NoError(t, err)
	for i, u := range res.Inserted {
		rt.writers[i%writers].note(u)
	}
	return rt
}

type ddlRaceResult struct {
	versions   int // published versions the watcher checked
	addErr     error
	violations int
	writes     int
	conflicts  int
}

// write is one random write of writer w, through a transaction if useTx.
// It returns apply, which records a success in l. A record given a hot
// name is soon renamed or deleted by its writer, so that duplicates come
// and go rather than pile up.
func (rt *ddlRaceTable) write(l *ddlWriter, w, n int, rng *rand.Rand, cfg ddlRace, useTx bool) (apply func(), err error) {
	db, users := rt.db, rt.users
	name := func() string {
		if rng.Float64() < cfg.collide {
			return fmt.Sprintf("hot-%d", rng.IntN(4))
		}
		return fmt.Sprintf("w%d-%d", w, n)
	}
	pick := func() int64 {
		if len(l.hot) > 0 && rng.IntN(10) < 8 {
			return l.hot[rng.IntN(len(l.hot))]
		}
		for id := range l.owned { // random enough: map order
			return id
		}
		return 0
	}
	op := rng.IntN(10) // 0-3 insert, 4-6 update, 7-9 delete
	if op < 4 && len(l.owned) > rt.size {
		op = 4 + rng.IntN(6)
	}
	if len(l.hot) > 0 && rng.IntN(10) < 4 {
		op = 4 + rng.IntN(6) // update or delete, most likely of a hot record
	}
	switch {
	case op < 4 || len(l.owned) == 0:
		rec := User{Email: fmt.Sprintf("w%d-%d@x", w, n), Org: "o", Username: fmt.Sprintf("w%d-%d", w, n), Name: name(), Age: n}
		var got User
		if useTx {
			err = db.Update(func(tx *Tx) error {
				var err error
				got, err = users.In(tx).Insert(rec)
				return err
			})
		} else {
			got, err = users.Insert(rec)
		}
		return func() { l.note(got) }, err
	case op < 7:
		rec := l.owned[pick()]
		rec.Name, rec.Age = name(), rec.Age+1
		if useTx {
			err = db.Update(func(tx *Tx) error { return users.In(tx).Update(rec) })
		} else {
			err = users.Update(rec)
		}
		return func() { l.note(rec) }, err
	default:
		id := pick()
		if useTx {
			err = db.Update(func(tx *Tx) error {
				_, err := users.In(tx).Delete(uID.Eq(id))
				return err
			})
		} else {
			_, err = users.Delete(uID.Eq(id))
		}
		return func() { l.drop(id) }, err
	}
}

// round runs AddIndex(Unique("user_name", uName)) while the writers
// insert, update and delete records (the last one through transactions),
// then checks the outcome: either the index exists and holds, or AddIndex
// failed with a *DuplicatesError and left no trace; in both cases every
// successful write, and only those, is in the table. The index, if
// added, stays.
func (rt *ddlRaceTable) round(t *testing.T, seed uint64, round int, cfg ddlRace) ddlRaceResult {
	t.Helper()
	users := rt.users
	fixed := map[int64]User{} // no writer touches these
	if cfg.initialDup {
		for i := range 2 {
			u, err := users.Insert(User{Email: fmt.Sprintf("fixed-%d-%d@x", round, i), Org: "o", Username: fmt.Sprintf("fixed-%d-%d", round, i), Name: "fixed"})
			require.NoError(t, err)
			fixed[u.ID] = u
		}
	}
	for i := range rt.writers {
		l := &rt.writers[i]
		l.violations, l.early, l.conflicts, l.writes, l.errs = nil, 0, 0, 0, nil
	}

	var stop, addStarted atomic.Bool
	var wg sync.WaitGroup
	for w := range rt.writers {
		wg.Go(func() {
			l := &rt.writers[w]
			rng := rand.New(rand.NewPCG(seed, uint64(round)<<8|uint64(w)))
			for n := 0; !stop.Load(); n++ {
				apply, err := rt.write(l, w, round<<20|n, rng, cfg, w == len(rt.writers)-1)
				var uv *UniqueViolationError
				switch {
				case err == nil:
					l.writes++
					apply()
				case errors.As(err, &uv):
					l.violations = append(l.violations, uv)
					if !addStarted.Load() {
						l.early++
					}
				case errors.Is(err, ErrConflict):
					l.conflicts++
				default:
					l.errs = append(l.errs, err)
				}
			}
		})
	}
	// Writers may heal a broken index by chance (a record moved off a
	// key takes whichever entry the key has): watch every version as it is
	// published. Once the index exists it holds every record.
	var versions, broken atomic.Int64
	wg.Go(func() {
		var last *version
		for !stop.Load() {
			v := memOf(rt.db).cur.Load()
			if v == last {
				runtime.Gosched()
				continue
			}
			last = v
			versions.Add(1)
			s := memTableOf(users).version(v)
			for i, d := range s.sch.indexes {
				if d.name == "user_name" && s.trees[i].Len() != s.trees[0].Len() && broken.Add(1) == 1 {
					t.Errorf("round %d: a version has %d records and %d in index user_name", round, s.trees[0].Len(), s.trees[i].Len())
				}
			}
		}
	})
	start := time.Now()
	rng := rand.New(rand.NewPCG(seed, uint64(round)))
	time.Sleep(time.Duration(rng.Int64N(int64(cfg.duration / 3))))
	addStarted.Store(true)
	rt.slow.Store(true)
	addErr := users.AddIndex(Unique("user_name", rt.name))
	rt.slow.Store(false)
	time.Sleep(time.Until(start.Add(cfg.duration)))
	stop.Store(true)
	wg.Wait()

	out := ddlRaceResult{addErr: addErr, versions: int(versions.Load())}
	want := map[int64]User{}
	names := map[int64]map[string]bool{}
	for id, u := range fixed {
		want[id] = u
		names[id] = map[string]bool{u.Name: true}
	}
	for w := range rt.writers {
		l := &rt.writers[w]
		for _, err := range l.errs {
			t.Errorf("round %d writer %d: unexpected error %v", round, w, err)
		}
		assert.Zero(t, l.early, "round %d writer %d: unique violations before AddIndex began", round, w)
		for _, uv := range l.violations {
			assert.Equal(t, "user_name", uv.Constraint, "round %d writer %d: %v", round, w, uv)
			assert.Equal(t, []string{"name"}, uv.Fields)
		}
		out.violations += len(l.violations)
		out.writes += l.writes
		out.conflicts += l.conflicts
		for id, u := range l.owned {
			want[id] = u
		}
		for id, ns := range l.names {
			names[id] = ns
		}
	}
	final := dump(t, users)
	got := make(map[int64]User, len(final))
	for _, u := range final {
		got[u.ID] = u
	}
	require.Equal(t, want, got, "round %d: the table is not what the successful writes made it", round)
	require.NoError(t, checkInvariants(users), "round %d", round)

	anyName := final[len(final)/2].Name
	if addErr == nil {
		assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age", "user_name"}, ddlIndexes(t, users))
		groups, err := users.Duplicates(rt.name)
		require.NoError(t, err)
		require.Empty(t, groups, "round %d: AddIndex succeeded and records share names", round)
		assert.Equal(t, fmt.Sprintf("point user_name (name=%q)", anyName), users.Filter(rt.name.Eq(anyName)).Explain())
		_, err = users.Insert(User{Email: fmt.Sprintf("after-%d@x", round), Username: fmt.Sprintf("after-%d", round), Name: anyName})
		var uv *UniqueViolationError
		require.ErrorAs(t, err, &uv)
		assert.Equal(t, "user_name", uv.Constraint)
	} else {
		var de *DuplicatesError
		require.ErrorAs(t, addErr, &de, "round %d", round)
		assert.Equal(t, "user_name", de.Index)
		assert.Equal(t, []string{"name"}, de.Fields)
		assert.Positive(t, de.Total)
		require.NotEmpty(t, de.Groups)
		for _, g := range de.Groups { // every record listed held the value once
			assert.GreaterOrEqual(t, len(g.PKs), 2, "round %d: %v", round, g)
			for _, pk := range g.PKs {
				id, err := strconv.ParseInt(pk, 10, 64)
				require.NoError(t, err)
				assert.True(t, names[id][g.Values[0]], "round %d: record %d never held %q", round, id, g.Values[0])
			}
		}
		assert.Zero(t, out.violations, "round %d: writers refused by an index AddIndex did not add", round)
		assert.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, ddlIndexes(t, users))
		assert.Equal(t, "full scan primary", users.Filter(rt.name.Eq(anyName)).Explain())
		u, err := users.Insert(User{Email: fmt.Sprintf("after-%d@x", round), Username: fmt.Sprintf("after-%d", round), Name: anyName})
		require.NoError(t, err, "round %d: no index may refuse a duplicate", round)
		_, err = users.Delete(uID.Eq(u.ID))
		require.NoError(t, err)
	}
	// Leave no duplicate to the next round.
	for id := range fixed {
		_, err := users.Delete(uID.Eq(id))
		require.NoError(t, err)
	}
	for w := range rt.writers {
		l := &rt.writers[w]
		for _, id := range slices.Clone(l.hot) {
			u := l.owned[id]
			u.Name = fmt.Sprintf("settled-%d", id)
			require.NoError(t, users.Update(u))
			l.note(u)
		}
	}
	return out
}

// TestTable_AddIndex_RacingWriters: AddIndex of a unique index on a field
// 8 goroutines keep writing, with colliding and fresh values. Each round
// ends with the index in place and holding, or with a *DuplicatesError and
// no index, never both; no successful write is lost.
func TestTable_AddIndex_RacingWriters(t *testing.T) {
	seed := testSeed(t)
	configs := []ddlRace{
		{collide: 0},
		{collide: 0.01, initialDup: true},
		{collide: 0.05},
		{collide: 0.1},
		{collide: 0.2},
	}
	rt := newDDLRaceTable(t, 1000, 8)
	outcomes := map[string]int{}
	for round := range 20 {
		cfg := configs[round%len(configs)]
		cfg.duration = 100 * time.Millisecond
		r := rt.round(t, seed, round, cfg)
		if r.addErr == nil {
			require.NoError(t, rt.users.DropIndex("user_name"))
		}
		switch {
		case r.addErr == nil && r.violations > 0:
			outcomes["added, later writes refused"]++
		case r.addErr == nil:
			outcomes["added"]++
		default:
			outcomes["refused"]++
		}
		if cfg.collide == 0 {
			assert.NoError(t, r.addErr, "round %d: no writer collided", round)
		}
		if cfg.initialDup {
			assert.ErrorIs(t, r.addErr, ErrDuplicateValues, "round %d: a duplicate was there throughout", round)
		}
		t.Logf("round %d (collide %v): %d writes, %d refused, %d conflicts, %d versions watched, AddIndex: %v", round, cfg.collide, r.writes, r.violations, r.conflicts, r.versions, r.addErr)
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestTable_AddIndex_RacingWriters_NoCollisions: writers that never
// collide cannot stop AddIndex, and the index holds every record: a count
// through it equals a full scan's, and Get finds each record through it.
func TestTable_AddIndex_RacingWriters_NoCollisions(t *testing.T) {
	seed := testSeed(t)
	rt := newDDLRaceTable(t, 1000, 8)
	users := rt.users
	for round := range 5 {
		r := rt.round(t, seed, 100+round, ddlRace{duration: 100 * time.Millisecond})
		require.NoError(t, r.addErr, "round %d", round)
		assert.Zero(t, r.violations, "round %d", round)

		byIndex := users.Filter(rt.name.Ge(""))
		assert.True(t, strings.HasPrefix(byIndex.Explain(), `range user_name (name >= "")`), byIndex.Explain())
		indexed, err := byIndex.Count()
		require.NoError(t, err)
		scan := users.Filter(Where(func(*User) bool { return true }))
		assert.Equal(t, "full scan primary", scan.Explain())
		scanned, err := scan.Count()
		require.NoError(t, err)
		assert.Equal(t, scanned, indexed, "round %d: records missing from the index", round)
		assert.Equal(t, users.Len(), indexed)
		for _, u := range dump(t, users) {
			got, err := users.Get(rt.name.Eq(u.Name))
			require.NoError(t, err)
			require.Equal(t, u, got)
		}
		require.NoError(t, users.DropIndex("user_name"))
		t.Logf("round %d: %d writes, %d records", round, r.writes, indexed)
	}
}

// ddlAcct is an account whose email must be unique among active accounts
// only; active is declared by the index's condition alone.
type ddlAcct struct {
	ID     int64
	Email  string
	Active bool
}

var (
	ddlAcctID     = Field("id", func(a *ddlAcct) int64 { return a.ID })
	ddlAcctEmail  = Field("email", func(a *ddlAcct) string { return a.Email })
	ddlAcctActive = Field("active", func(a *ddlAcct) bool { return a.Active })
)

// TestIndexSpec_Where_PartialUnique: only records matching a partial
// unique index's condition collide; updates move records into and out of
// it; a refused write changes nothing; queries never read the index.
func TestIndexSpec_Where_PartialUnique(t *testing.T) {
	type env struct {
		db  *DB
		tbl *Table[ddlAcct]
	}
	update := func(id int64, email string, active bool) func(e env) error {
		return func(e env) error { return e.tbl.Update(ddlAcct{ID: id, Email: email, Active: active}) }
	}
	insert := func(email string, active bool) func(e env) error {
		return func(e env) error {
			_, err := e.tbl.Insert(ddlAcct{Email: email, Active: active})
			return err
		}
	}
	then := func(steps ...func(e env) error) func(e env) error {
		return func(e env) error {
			for _, s := range steps {
				if err := s(e); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cases := []struct {
		name   string
		stored []ddlAcct // ids 1, 2, ...
		write  func(e env) error
		heldBy int64 // 0: the write succeeds; else it collides with this id
	}{
		{"two inactive records share an email", []ddlAcct{{Email: "a"}}, insert("a", false), 0},
		{"an inactive record shares an active one's email", []ddlAcct{{Email: "a", Active: true}}, insert("a", false), 0},
		{"an active record shares an inactive one's email", []ddlAcct{{Email: "a"}}, insert("a", true), 0},
		{"two active records collide", []ddlAcct{{Email: "a", Active: true}}, insert("a", true), 1},
		{"active records with other emails", []ddlAcct{{Email: "a", Active: true}}, insert("b", true), 0},
		{"update into the condition collides", []ddlAcct{{Email: "a", Active: true}, {Email: "a"}}, update(2, "a", true), 1},
		{"update of an active record's email collides", []ddlAcct{{Email: "a", Active: true}, {Email: "b", Active: true}}, update(2, "a", true), 1},
		{"update of an inactive record's email is free", []ddlAcct{{Email: "a", Active: true}, {Email: "b"}}, update(2, "a", false), 0},
		{"update keeping an active record's email", []ddlAcct{{Email: "a", Active: true}}, update(1, "a", true), 0},
		{"moving out of the condition frees the value", []ddlAcct{{Email: "a", Active: true}}, then(update(1, "a", false), insert("a", true)), 0},
		{"delete frees the value", []ddlAcct{{Email: "a", Active: true}}, then(func(e env) error {
			_, err := e.tbl.Delete(ddlAcctID.Eq(1))
			return err
		}, insert("a", true)), 0},
		{"upsert into the condition collides", []ddlAcct{{Email: "a", Active: true}, {Email: "a"}}, func(e env) error {
			_, _, err := e.tbl.Upsert(ddlAcct{ID: 2, Email: "a", Active: true})
			return err
		}, 1},
		{"InsertMany of two active records", nil, func(e env) error {
			_, err := e.tbl.InsertMany([]ddlAcct{{Email: "a", Active: true}, {Email: "a"}, {Email: "a", Active: true}}, OnConflict[ddlAcct]{})
			return err
		}, -1}, // the holder is the batch's own first record, never stored
		{"transaction colliding with a stored record", []ddlAcct{{Email: "a", Active: true}}, func(e env) error {
			return e.db.Update(func(tx *Tx) error {
				_, err := e.tbl.In(tx).Insert(ddlAcct{Email: "a", Active: true})
				return err
			})
		}, 1},
		{"transaction moving the holder out first", []ddlAcct{{Email: "a", Active: true}}, func(e env) error {
			return e.db.Update(func(tx *Tx) error {
				if err := e.tbl.In(tx).Update(ddlAcct{ID: 1, Email: "a"}); err != nil {
					return err
				}
				_, err := e.tbl.In(tx).Insert(ddlAcct{Email: "a", Active: true})
				return err
			})
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := newTestDB(t)
			tbl, err := NewTable(db, "Account",
				AutoPrimaryKey(ddlAcctID, func(a *ddlAcct, id int64) { a.ID = id }),
				Unique("active_email", ddlAcctEmail).Where(ddlAcctActive.Eq(true)))
			require.NoError(t, err, "a condition on a field no index covers")
			for _, a := range c.stored {
				_, err := tbl.Insert(a)
				require.NoError(t, err)
			}
			before := dump(t, tbl)

			err = c.write(env{db, tbl})
			if c.heldBy == 0 {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrUniqueViolation)
				var uv *UniqueViolationError
				require.ErrorAs(t, err, &uv)
				assert.Equal(t, "active_email", uv.Constraint)
				assert.Equal(t, []string{"email"}, uv.Fields)
				assert.Equal(t, []string{"a"}, uv.Values)
				if c.heldBy > 0 {
					assert.Equal(t, strconv.FormatInt(c.heldBy, 10), uv.HeldBy)
				}
				assert.Equal(t, before, dump(t, tbl), "a refused write changed records")
			}
			require.NoError(t, checkInvariants(tbl))

			// Queries never read the partial index, and see every record.
			data := dump(t, tbl)
			for _, email := range []string{"a", "b"} {
				q := tbl.Filter(ddlAcctEmail.Eq(email))
				assert.Equal(t, "full scan primary", q.Explain())
				n, err := q.Count()
				require.NoError(t, err)
				assert.Equal(t, len(slices.DeleteFunc(slices.Clone(data), func(a ddlAcct) bool { return a.Email != email })), n, email)
			}
			active, err := tbl.Filter(ddlAcctActive.Eq(true)).Collect()
			require.NoError(t, err)
			assert.Equal(t, nilIfEmpty(slices.DeleteFunc(slices.Clone(data), func(a ddlAcct) bool { return !a.Active })), nilIfEmpty(active))
			seen := map[string]bool{}
			for _, a := range active {
				assert.False(t, seen[a.Email], "two active records hold %q", a.Email)
				seen[a.Email] = true
			}
		})
	}
}

// TestOptionalField_UniqueNulls: in a unique index, a null never collides
// unless the index is NullsNotDistinct; IsNull still finds null records,
// a lookup by a value reads the index, and a lookup that fixes only part
// of a nulls-distinct index does not (it would miss the nulls).
func TestOptionalField_UniqueNulls(t *testing.T) {
	nick := Unique("nick", ddlNickNick)
	nickNND := Unique("nick", ddlNickNick).NullsNotDistinct()
	orgNick := Unique("org_nick", ddlNickOrg, ddlNickNick)
	orgNickNND := Unique("org_nick", ddlNickOrg, ddlNickNick).NullsNotDistinct()
	x, y := ddlStr("x"), ddlStr("y")
	insert := func(r ddlNick) func(tbl *Table[ddlNick]) error {
		return func(tbl *Table[ddlNick]) error {
			_, err := tbl.Insert(r)
			return err
		}
	}
	update := func(r ddlNick) func(tbl *Table[ddlNick]) error {
		return func(tbl *Table[ddlNick]) error { return tbl.Update(r) }
	}
	cases := []struct {
		name   string
		spec   *IndexSpec[ddlNick]
		stored []ddlNick // ids 1, 2, ...
		write  func(tbl *Table[ddlNick]) error
		values []string // of the *UniqueViolationError; nil: the write succeeds
	}{
		{"two nulls", nick, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "a"}), nil},
		{"null and a value", nick, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "a", Nick: x}), nil},
		{"a value and null", nick, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "a"}), nil},
		{"two equal values", nick, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "b", Nick: ddlStr("x")}), []string{"x"}},
		{"empty string is a value", nick, []ddlNick{{Nick: ddlStr("")}}, insert(ddlNick{Nick: ddlStr("")}), []string{""}},
		{"update from null onto a value", nick, []ddlNick{{Nick: x}, {}}, update(ddlNick{ID: 2, Nick: x}), []string{"x"}},
		{"update to null frees the value", nick, []ddlNick{{Nick: x}}, func(tbl *Table[ddlNick]) error {
			if err := tbl.Update(ddlNick{ID: 1}); err != nil {
				return err
			}
			_, err := tbl.Insert(ddlNick{Nick: x})
			return err
		}, nil},
		{"not distinct: two nulls", nickNND, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "b"}), []string{"NULL"}},
		{"not distinct: null and a value", nickNND, []ddlNick{{Org: "a"}}, insert(ddlNick{Nick: x}), nil},
		{"not distinct: two equal values", nickNND, []ddlNick{{Nick: x}}, insert(ddlNick{Nick: x}), []string{"x"}},
		{"not distinct: update onto null", nickNND, []ddlNick{{}, {Nick: x}}, update(ddlNick{ID: 2}), []string{"NULL"}},
		{"composite: one null twice", orgNick, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "a"}), nil},
		{"composite: equal values", orgNick, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "a", Nick: x}), []string{"a", "x"}},
		{"composite: same nick, other org", orgNick, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "b", Nick: x}), nil},
		{"composite: other nick, same org", orgNick, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "a", Nick: y}), nil},
		{"composite, not distinct: one null twice", orgNickNND, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "a"}), []string{"a", "NULL"}},
		{"composite, not distinct: null in other orgs", orgNickNND, []ddlNick{{Org: "a"}}, insert(ddlNick{Org: "b"}), nil},
		{"composite, not distinct: equal values", orgNickNND, []ddlNick{{Org: "a", Nick: x}}, insert(ddlNick{Org: "a", Nick: x}), []string{"a", "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := newDDLNicks(t, c.spec)
			for _, r := range c.stored {
				_, err := tbl.Insert(r)
				require.NoError(t, err)
			}
			before := dump(t, tbl)
			err := c.write(tbl)
			if c.values == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrUniqueViolation)
				var uv *UniqueViolationError
				require.ErrorAs(t, err, &uv)
				assert.Equal(t, c.spec.def.name, uv.Constraint)
				assert.Equal(t, c.values, uv.Values)
				assert.Equal(t, before, dump(t, tbl), "a refused write changed records")
			}
			require.NoError(t, checkInvariants(tbl))

			data := dump(t, tbl)
			count := func(keep func(r ddlNick) bool) int {
				return len(slices.DeleteFunc(slices.Clone(data), func(r ddlNick) bool { return !keep(r) }))
			}
			n, err := tbl.Filter(ddlNickNick.IsNull()).Count()
			require.NoError(t, err)
			assert.Equal(t, count(func(r ddlNick) bool { return r.Nick == nil }), n, "IsNull")
			for _, org := range []string{"", "a", "b"} {
				q := tbl.Filter(ddlNickOrg.Eq(org))
				n, err := q.Count()
				require.NoError(t, err)
				assert.Equal(t, count(func(r ddlNick) bool { return r.Org == org }), n, "org %q: %s", org, q.Explain())
			}
			for _, r := range data {
				if r.Nick == nil {
					continue
				}
				lookup := []Cond[ddlNick]{ddlNickNick.Eq(*r.Nick)}
				if len(c.spec.def.cols) == 2 {
					lookup = append([]Cond[ddlNick]{ddlNickOrg.Eq(r.Org)}, lookup...)
				}
				q := tbl.Filter(lookup...)
				assert.True(t, strings.HasPrefix(q.Explain(), "point "+c.spec.def.name+" "), q.Explain())
				got, err := tbl.Get(lookup...)
				require.NoError(t, err)
				assert.Equal(t, r, got)
			}
		})
	}
}

// heldCommitter makes db's committer look busy, so that writes queue in
// one open batch. waitQueued waits until n ops are queued; run then applies
// that batch in a new goroutine.
func heldCommitter(t *testing.T, db *DB) (waitQueued func(n int), run func()) {
	c := &memOf(db).commit
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	waitQueued = func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			c.mu.Lock()
			k := 0
			if c.open != nil {
				k = len(c.open.ops)
			}
			c.mu.Unlock()
			if k >= n {
				return
			}
			require.False(t, time.Now().After(deadline), "only %d ops queued of %d", k, n)
		}
	}
	run = func() {
		c.mu.Lock()
		b := c.open
		c.open = nil
		c.mu.Unlock()
		go memOf(db).combine(b)
	}
	return waitQueued, run
}

// TestTable_SetFast_AfterInstall_InOneBatch: a stop of the fast path that
// follows a schema change in the same batch does not publish the new live
// indexes before the batch commits (found in review: they hold the batch's
// changes so far, and a point read saw a record that the batch later
// deleted and never committed).
func TestTable_SetFast_AfterInstall_InOneBatch(t *testing.T) {
	db, users := newUsers(t)
	waitQueued, run := heldCommitter(t, db)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	// A schema change commits alone: the ops after it form the next batch.
	wg.Go(func() { errs <- users.DropIndex("user_age") })
	waitQueued(1)
	m := memTableOf(users)
	setFast := func(on bool) error {
		return m.commitOp(func(c *commitTable[User], _ *working) error { c.setFast(on); return nil })
	}
	wg.Go(func() { errs <- setFast(false) })
	waitQueued(2)
	wg.Go(func() { _, _, err := users.Upsert(User{Email: "ghost@x", Username: "ghost"}); errs <- err })
	waitQueued(3)
	reached, resume := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		errs <- m.commitOp(func(*commitTable[User], *working) error { close(reached); <-resume; return nil })
	})
	waitQueued(4)
	wg.Go(func() { _, err := users.Delete(uEmail.Eq("ghost@x")); errs <- err })
	waitQueued(5)
	run()
	<-reached // the batch is half applied
	got, err := users.Get(uEmail.Eq("ghost@x"))
	n := users.Len()
	close(resume)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, setFast(true))
	require.ErrorIs(t, err, ErrNotFound, "a point read saw %+v, which no commit held (Len %d)", got, n)
	require.Zero(t, n)
}

// TestTable_AddIndex_DuplicatesErrorIsBounded: a duplicate report over one
// group of 10,000 records names five of them and counts the rest, so its
// message stays short (it once listed every key: 58,991 bytes).
func TestTable_AddIndex_DuplicatesErrorIsBounded(t *testing.T) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = "same"
	}
	_, users := dupUsers(t, names...)
	err := users.AddIndex(Unique("user_name", uName))
	var de *DuplicatesError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Groups, 1)
	assert.Equal(t, 10_000, de.Groups[0].Count)
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, de.Groups[0].PKs)
	assert.Less(t, len(err.Error()), 300, err.Error())
	assert.Contains(t, err.Error(), "held by 1, 2, 3, 4, 5 and 9995 more")
}
