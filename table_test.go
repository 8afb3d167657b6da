package recstore

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTable_Insert_AutoPrimaryKey(t *testing.T) {
	tests := []struct {
		name     string
		explicit []int64 // ids inserted explicitly, 0 for auto, in order
		want     []int64 // the ids stored, in order
	}{
		{"from one", []int64{0, 0, 0}, []int64{1, 2, 3}},
		{"after an explicit key", []int64{10, 0}, []int64{10, 11}},
		{"after the largest explicit key", []int64{0, 50, 7, 0}, []int64{1, 50, 7, 51}},
		{"explicit key below the next", []int64{0, 0, 0, 2000, 5, 0}, []int64{1, 2, 3, 2000, 5, 2001}},
		{"negative explicit key", []int64{-5, 0, math.MinInt64, 0}, []int64{-5, 1, math.MinInt64, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users := newUsers(t)
			var got []int64
			for i, id := range tt.explicit {
				u, err := users.Insert(User{ID: id, Email: fmt.Sprint(i), Org: "o", Username: fmt.Sprint(i)})
				require.NoError(t, err)
				got = append(got, u.ID)
				stored, err := users.Get(uEmail.Eq(fmt.Sprint(i)))
				require.NoError(t, err)
				assert.Equal(t, u, stored)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, len(tt.want), users.Len())
		})
	}
}

// TestTable_Insert_AutoPrimaryKeyNotReused: auto-assigned keys come from a
// sequence, as in SQL: a deleted key is not reused, and a failed insert
// leaves a gap.
func TestTable_Insert_AutoPrimaryKeyNotReused(t *testing.T) {
	_, users, stored := newFixtureUsers(t)
	_, err := users.Delete(uID.Eq(stored[3].ID))
	require.NoError(t, err)
	u, err := users.Insert(User{Email: "new@example.com", Org: "o", Username: "new"})
	require.NoError(t, err)
	assert.Equal(t, int64(5), u.ID, "a deleted key is not reused")

	_, err = users.Insert(User{Email: "leo@example.com"}) // takes 6
	require.ErrorIs(t, err, ErrUniqueViolation)
	u, err = users.Insert(User{Email: "next@example.com", Org: "o", Username: "next"})
	require.NoError(t, err)
	assert.Equal(t, int64(7), u.ID, "a failed insert leaves a gap")
	_, err = users.Get(uID.Eq(6))
	requireNotFound(t, err, "User")
}

// TestTable_Insert_AutoPrimaryKeyExhausted: when the next auto-assigned key
// does not fit the field, Insert must fail rather than wrap around to a
// negative or zero key.
func TestTable_Insert_AutoPrimaryKeyExhausted(t *testing.T) {
	t.Run("int64", func(t *testing.T) {
		_, users := newUsers(t)
		requireAutoKeyExhausted(t, users,
			User{ID: math.MaxInt64, Email: "max@example.com", Org: "o", Username: "max"},
			User{Email: "next@example.com", Org: "o", Username: "next"})
	})
	t.Run("uint8", func(t *testing.T) {
		// Every later auto insert must fail too, not wrap around to a
		// small key.
		type small struct {
			ID   uint8
			Name string
		}
		id := Field("id", func(s *small) uint8 { return s.ID })
		tbl, err := NewTable(newTestDB(t), "Small", AutoPrimaryKey(id, func(s *small, v uint8) { s.ID = v }))
		require.NoError(t, err)
		requireAutoKeyExhausted(t, tbl, small{ID: math.MaxUint8}, small{Name: "next"})
	})
	t.Run("uint64", func(t *testing.T) {
		type big struct {
			ID   uint64
			Name string
		}
		id := Field("id", func(b *big) uint64 { return b.ID })
		tbl, err := NewTable(newTestDB(t), "Big", AutoPrimaryKey(id, func(b *big, v uint64) { b.ID = v }))
		require.NoError(t, err)
		requireAutoKeyExhausted(t, tbl, big{ID: math.MaxUint64}, big{Name: "next"})
	})
}

// requireAutoKeyExhausted stores last, whose primary key is the largest its
// type holds, then inserts next, with no key, three times: each insert
// must fail, the sequence being exhausted, and store nothing.
func requireAutoKeyExhausted[T any](t *testing.T, tbl *Table[T], last, next T) {
	t.Helper()
	_, err := tbl.Insert(last)
	require.NoError(t, err)
	before := dump(t, tbl)
	for range 3 {
		got, err := tbl.Insert(next)
		require.ErrorIs(t, err, ErrInvalidKey, "stored %+v", got)
		assert.Equal(t, `recstore: invalid key in table `+tbl.Name()+` for field "id": the auto-assigned key sequence is exhausted`, err.Error())
		assert.Equal(t, before, dump(t, tbl))
	}
}

func TestTable_Insert_Duplicate(t *testing.T) {
	leo, bob := fixtureUser(0), fixtureUser(2)
	tests := []struct {
		name       string
		rec        User
		constraint string
		fields     []string
		values     []string
		holder     User
		msg        string
	}{
		{
			name:       "DuplicatePrimaryKey",
			rec:        User{ID: 1, Email: "new@example.com", Org: "new", Username: "new"},
			constraint: "primary", fields: []string{"id"}, values: []string{"1"}, holder: leo,
			msg: `recstore: duplicate key value violates unique constraint "primary" on User: (id)=(1) already held by id 1`,
		},
		{
			name:       "DuplicateEmail",
			rec:        User{Email: "leo@example.com", Org: "new", Username: "new"},
			constraint: "user_email", fields: []string{"email"}, values: []string{"leo@example.com"}, holder: leo,
			msg: `recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(leo@example.com) already held by id 1`,
		},
		{
			name:       "DuplicateEmailExplicitKey",
			rec:        User{ID: 99, Email: "bob@example.com", Org: "new", Username: "new"},
			constraint: "user_email", fields: []string{"email"}, values: []string{"bob@example.com"}, holder: bob,
			msg: `recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(bob@example.com) already held by id 3`,
		},
		{
			name:       "DuplicateOrgUsername",
			rec:        User{Email: "new@example.com", Org: "acme", Username: "leo"},
			constraint: "org_username", fields: []string{"org", "username"}, values: []string{"acme", "leo"}, holder: leo,
			msg: `recstore: duplicate key value violates unique constraint "org_username" on User: (org, username)=(acme, leo) already held by id 1`,
		},
		{
			name:       "DuplicateEmailAndOrgUsername",
			rec:        User{Email: "bob@example.com", Org: "acme", Username: "leo"},
			constraint: "user_email", fields: []string{"email"}, values: []string{"bob@example.com"}, holder: bob,
			msg: `recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(bob@example.com) already held by id 3`,
		},
		{
			name:       "DuplicateEverything",
			rec:        leo,
			constraint: "primary", fields: []string{"id"}, values: []string{"1"}, holder: leo,
			msg: `recstore: duplicate key value violates unique constraint "primary" on User: (id)=(1) already held by id 1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			before := dump(t, users)
			got, err := users.Insert(tt.rec)
			assert.Equal(t, User{}, got)
			requireUniqueViolation(t, err, tt.constraint, tt.fields, tt.values, tt.holder, tt.msg)
			assert.Equal(t, before, dump(t, users))
			// The next valid call succeeds. An auto-assigned key was
			// taken by the failed insert: it leaves a gap.
			u, err := users.Insert(User{Email: "next@example.com", Org: "o", Username: "next"})
			require.NoError(t, err)
			want := int64(5)
			if tt.rec.ID == 0 {
				want = 6
			}
			assert.Equal(t, want, u.ID)
		})
	}
}

func TestTable_Insert_Valid(t *testing.T) {
	tests := []struct {
		name string
		rec  User
	}{
		{"same org, other username", User{Email: "x@example.com", Org: "acme", Username: "zed"}},
		{"same username, other org", User{Email: "x@example.com", Org: "globex", Username: "leo"}},
		{"org and username run together differ", User{Email: "x@example.com", Org: "acmel", Username: "eo"}},
		{"same age", User{Email: "x@example.com", Org: "o", Username: "u", Age: 30}},
		{"same name", User{Email: "x@example.com", Org: "o", Username: "u", Name: "Leo"}},
		{"empty strings", User{}},
		{"email differing in case", User{Email: "LEO@example.com", Org: "o", Username: "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			got, err := users.Insert(tt.rec)
			require.NoError(t, err)
			want := tt.rec
			want.ID = 5
			assert.Equal(t, want, got)
			assert.Equal(t, append(stored, want), dump(t, users))
		})
	}
}

func TestTable_Insert_ZeroPrimaryKey(t *testing.T) {
	admins := newAdmins(t, newTestDB(t))
	_, err := admins.Insert(User{ID: 1, Email: "a@example.com"})
	require.NoError(t, err)
	before := dump(t, admins)

	want := `recstore: invalid key in table Admin for field "id": the primary key is zero`
	for _, write := range []struct {
		name string
		do   func() error
	}{
		{"insert", func() error { _, err := admins.Insert(User{Email: "b@example.com"}); return err }},
		{"upsert", func() error { _, _, err := admins.Upsert(User{Email: "b@example.com"}); return err }},
		{"update", func() error { return admins.Update(User{Email: "b@example.com"}) }},
	} {
		t.Run(write.name, func(t *testing.T) {
			err := write.do()
			requireKeyError(t, err, ErrInvalidKey, "Admin", "id", "the primary key is zero")
			assert.Equal(t, want, err.Error())
			assert.Equal(t, before, dump(t, admins))
		})
	}
}

func TestTable_Update(t *testing.T) {
	tests := []struct {
		name   string
		change func(u *User) // applied to Leo (id 1)
		gone   []Cond[User]  // lookups that found Leo before and must not now
	}{
		{"email", func(u *User) { u.Email = "leo@new.example.com" }, []Cond[User]{uEmail.Eq("leo@example.com")}},
		{"org and username", func(u *User) { u.Org, u.Username = "globex", "leonard" }, []Cond[User]{And(uOrg.Eq("acme"), uUsername.Eq("leo"))}},
		{"username only", func(u *User) { u.Username = "leonard" }, []Cond[User]{And(uOrg.Eq("acme"), uUsername.Eq("leo"))}},
		{"age", func(u *User) { u.Age = 31 }, []Cond[User]{And(uAge.Eq(30), uName.Eq("Leo"))}},
		{"unindexed name", func(u *User) { u.Name = "Leonard" }, []Cond[User]{uName.Eq("Leo")}},
		{"nothing", func(u *User) {}, nil},
		{"keeps its own email", func(u *User) { u.Name, u.Age = "L", 99 }, []Cond[User]{uName.Eq("Leo")}},
		{"takes a freed email", func(u *User) { u.Email = "" }, []Cond[User]{uEmail.Eq("leo@example.com")}},
		{"everything", func(u *User) {
			*u = User{ID: u.ID, Email: "e", Org: "o", Username: "u", Name: "n", Age: -1}
		}, []Cond[User]{uEmail.Eq("leo@example.com"), And(uOrg.Eq("acme"), uUsername.Eq("leo")), uName.Eq("Leo")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			leo := stored[0]
			tt.change(&leo)
			require.NoError(t, users.Update(leo))

			want := append([]User{leo}, stored[1:]...)
			assert.Equal(t, want, dump(t, users))
			for _, c := range []Cond[User]{
				uID.Eq(leo.ID),
				uEmail.Eq(leo.Email),
				And(uOrg.Eq(leo.Org), uUsername.Eq(leo.Username)),
				And(uAge.Eq(leo.Age), uName.Eq(leo.Name)),
				uName.Eq(leo.Name),
			} {
				got, err := users.Get(c)
				require.NoError(t, err)
				assert.Equal(t, leo, got)
			}
			for _, c := range tt.gone {
				_, err := users.Get(c)
				requireNotFound(t, err, "User")
			}
			// The others are untouched.
			for _, u := range stored[1:] {
				got, err := users.Get(uEmail.Eq(u.Email))
				require.NoError(t, err)
				assert.Equal(t, u, got)
			}
		})
	}
}

func TestTable_Update_Errors(t *testing.T) {
	ann, eve := fixtureUser(1), fixtureUser(3)
	tests := []struct {
		name  string
		rec   func(leo User) User
		check func(t *testing.T, err error)
	}{
		{"NotFound", func(User) User { return User{ID: 99, Email: "x"} }, func(t *testing.T, err error) {
			requireNotFound(t, err, "User")
		}},
		{"ZeroPrimaryKey", func(leo User) User { leo.ID = 0; return leo }, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrInvalidKey)
			assert.Equal(t, `recstore: invalid key in table User for field "id": the primary key is zero`, err.Error())
		}},
		{"DuplicateEmail", func(leo User) User { leo.Email = "ann@example.com"; return leo }, func(t *testing.T, err error) {
			requireUniqueViolation(t, err, "user_email", []string{"email"}, []string{"ann@example.com"}, ann,
				`recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(ann@example.com) already held by id 2`)
		}},
		{"DuplicateOrgUsername", func(leo User) User { leo.Org = "initech"; return leo }, func(t *testing.T, err error) {
			requireUniqueViolation(t, err, "org_username", []string{"org", "username"}, []string{"initech", "leo"}, eve,
				`recstore: duplicate key value violates unique constraint "org_username" on User: (org, username)=(initech, leo) already held by id 4`)
		}},
		{"DuplicateWithOtherChanges", func(leo User) User {
			leo.Email, leo.Name, leo.Age = "ann@example.com", "changed", 77
			return leo
		}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrUniqueViolation)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			before := dump(t, users)
			tt.check(t, users.Update(tt.rec(stored[0])))
			assert.Equal(t, before, dump(t, users))
			// Every lookup of Leo still works.
			got, err := users.Get(And(uAge.Eq(30), uName.Eq("Leo")))
			require.NoError(t, err)
			assert.Equal(t, stored[0], got)
			// The next valid call succeeds.
			leo := stored[0]
			leo.Email = "leo2@example.com"
			require.NoError(t, users.Update(leo))
		})
	}
}

func TestTable_Update_SwapEmails(t *testing.T) {
	_, users, stored := newFixtureUsers(t)
	leo, ann := stored[0], stored[1]
	leo.Email, ann.Email = ann.Email, leo.Email
	err := users.Update(leo)
	require.ErrorIs(t, err, ErrUniqueViolation)

	tmp := leo
	tmp.Email = "tmp"
	require.NoError(t, users.Update(tmp))
	require.NoError(t, users.Update(ann))
	require.NoError(t, users.Update(leo))
	got, err := users.Get(uEmail.Eq("ann@example.com"))
	require.NoError(t, err)
	assert.Equal(t, leo, got)
	got, err = users.Get(uEmail.Eq("leo@example.com"))
	require.NoError(t, err)
	assert.Equal(t, ann, got)
	_, err = users.Get(uEmail.Eq("tmp"))
	requireNotFound(t, err, "User")
}

func TestTable_Upsert(t *testing.T) {
	tests := []struct {
		name     string
		rec      User
		want     User
		inserted bool
	}{
		{"auto key inserts", User{Email: "new@example.com", Org: "o", Username: "u"}, User{ID: 5, Email: "new@example.com", Org: "o", Username: "u"}, true},
		{"new explicit key inserts", User{ID: 10, Email: "new@example.com", Org: "o", Username: "u"}, User{ID: 10, Email: "new@example.com", Org: "o", Username: "u"}, true},
		{"existing key replaces", User{ID: 1, Email: "leo2@example.com", Org: "o", Username: "u", Age: 3}, User{ID: 1, Email: "leo2@example.com", Org: "o", Username: "u", Age: 3}, false},
		{"existing key keeps its own unique keys", User{ID: 1, Email: "leo@example.com", Org: "acme", Username: "leo", Name: "L"}, User{ID: 1, Email: "leo@example.com", Org: "acme", Username: "leo", Name: "L"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			got, inserted, err := users.Upsert(tt.rec)
			require.NoError(t, err)
			assert.Equal(t, tt.inserted, inserted)
			assert.Equal(t, tt.want, got)
			stillThere, err := users.Get(uID.Eq(tt.want.ID))
			require.NoError(t, err)
			assert.Equal(t, tt.want, stillThere)
			if inserted {
				assert.Equal(t, 5, users.Len())
				next, err := users.Insert(User{Email: "next", Org: "next"})
				require.NoError(t, err)
				assert.Equal(t, max(tt.want.ID, 4)+1, next.ID)
				return
			}
			assert.Equal(t, 4, users.Len())
			assert.Equal(t, append([]User{tt.want}, stored[1:]...), dump(t, users))
			if tt.want.Email != "leo@example.com" {
				_, err := users.Get(uEmail.Eq("leo@example.com"))
				requireNotFound(t, err, "User")
			}
		})
	}
}

func TestTable_Upsert_Errors(t *testing.T) {
	ann := fixtureUser(1)
	tests := []struct {
		name string
		rec  User
	}{
		{"insert with a taken email", User{Email: "ann@example.com", Org: "o", Username: "u"}},
		{"insert with an explicit key and a taken email", User{ID: 10, Email: "ann@example.com", Org: "o", Username: "u"}},
		{"replace with a taken email", User{ID: 1, Email: "ann@example.com", Org: "o", Username: "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			before := dump(t, users)
			got, inserted, err := users.Upsert(tt.rec)
			assert.Equal(t, User{}, got)
			assert.False(t, inserted)
			requireUniqueViolation(t, err, "user_email", []string{"email"}, []string{"ann@example.com"}, ann,
				`recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(ann@example.com) already held by id 2`)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

func TestTable_Delete(t *testing.T) {
	tests := []struct {
		name  string
		conds []Cond[User]
		want  int // index into the fixture
	}{
		{"by primary key", []Cond[User]{uID.Eq(3)}, 2},
		{"by unique field", []Cond[User]{uEmail.Eq("ann@example.com")}, 1},
		{"by composite unique", []Cond[User]{uOrg.Eq("initech"), uUsername.Eq("leo")}, 3},
		{"by plain index", []Cond[User]{uAge.Eq(41)}, 2},
		{"by unindexed field", []Cond[User]{uName.Eq("Eve")}, 3},
		{"by several conditions", []Cond[User]{uAge.Eq(30), uName.Eq("Leo")}, 0},
		{"by And", []Cond[User]{And(uOrg.Eq("acme"), uName.Eq("Ann"))}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			got, err := users.Delete(tt.conds...)
			require.NoError(t, err)
			removed := stored[tt.want]
			assert.Equal(t, removed, got)
			assert.Equal(t, 3, users.Len())
			var rest []User
			for i, u := range stored {
				if i != tt.want {
					rest = append(rest, u)
				}
			}
			assert.Equal(t, rest, dump(t, users))
			_, err = users.Get(tt.conds...)
			requireNotFound(t, err, "User")
			_, err = users.Get(uEmail.Eq(removed.Email))
			requireNotFound(t, err, "User")
			// Its unique keys are free again.
			removed.ID = 0
			again, err := users.Insert(removed)
			require.NoError(t, err)
			assert.Equal(t, int64(5), again.ID)
		})
	}
}

func TestTable_Delete_Errors(t *testing.T) {
	tests := []struct {
		name  string
		conds []Cond[User]
		check func(t *testing.T, err error)
	}{
		{"NotFound", []Cond[User]{uEmail.Eq("nobody@example.com")}, func(t *testing.T, err error) { requireNotFound(t, err, "User") }},
		{"NotFoundByPrimaryKey", []Cond[User]{uID.Eq(99)}, func(t *testing.T, err error) { requireNotFound(t, err, "User") }},
		{"NotFoundContradiction", []Cond[User]{uEmail.Eq("leo@example.com"), uEmail.Eq("ann@example.com")}, func(t *testing.T, err error) { requireNotFound(t, err, "User") }},
		{"MultipleByPlainIndex", []Cond[User]{uAge.Eq(30)}, func(t *testing.T, err error) { requireMultiple(t, err, "User", 2) }},
		{"MultipleByPrefix", []Cond[User]{uOrg.Eq("initech")}, func(t *testing.T, err error) { requireMultiple(t, err, "User", 2) }},
		{"MultipleByScan", []Cond[User]{uUsername.Eq("leo")}, func(t *testing.T, err error) { requireMultiple(t, err, "User", 2) }},
		{"MultipleAll", nil, func(t *testing.T, err error) { requireMultiple(t, err, "User", 4) }},
		{"UnknownField", []Cond[User]{uNickname.Eq("Leo")}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrUnknownField)
			requireErrorAs(t, err, userFieldError("nickname"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			before := dump(t, users)
			got, err := users.Delete(tt.conds...)
			assert.Equal(t, User{}, got)
			tt.check(t, err)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

func TestTable_Get(t *testing.T) {
	tests := []struct {
		name  string
		conds []Cond[User]
		want  int // index into the fixture
	}{
		{"by primary key", []Cond[User]{uID.Eq(2)}, 1},
		{"by unique field", []Cond[User]{uEmail.Eq("bob@example.com")}, 2},
		{"by composite unique", []Cond[User]{uOrg.Eq("initech"), uUsername.Eq("leo")}, 3},
		{"by composite unique in And", []Cond[User]{And(uUsername.Eq("leo"), uOrg.Eq("acme"))}, 0},
		{"by plain index", []Cond[User]{uAge.Eq(25)}, 3},
		{"by unindexed field", []Cond[User]{uName.Eq("Ann")}, 1},
		{"by prefix of a composite", []Cond[User]{uOrg.Eq("acme"), uName.Eq("Leo")}, 0},
		{"by second field of a composite", []Cond[User]{uUsername.Eq("bob")}, 2},
		{"by plain index and more", []Cond[User]{uAge.Eq(30), uUsername.Eq("ann")}, 1},
		{"by primary key and a match", []Cond[User]{uID.Eq(1), uAge.Eq(30)}, 0},
		{"by unique field and a match", []Cond[User]{uEmail.Eq("eve@example.com"), uName.Eq("Eve"), uAge.Eq(25)}, 3},
		{"by nested And", []Cond[User]{And(And(uOrg.Eq("acme")), And(uAge.Eq(30), uName.Eq("Ann")))}, 1},
		{"same condition twice", []Cond[User]{uEmail.Eq("bob@example.com"), uEmail.Eq("bob@example.com")}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, stored := newFixtureUsers(t)
			got, err := users.Get(tt.conds...)
			require.NoError(t, err)
			assert.Equal(t, stored[tt.want], got)
		})
	}
}

func TestTable_Get_NotFoundOrMultiple(t *testing.T) {
	tests := []struct {
		name  string
		conds []Cond[User]
		count int // 0: not found
	}{
		{"no such primary key", []Cond[User]{uID.Eq(5)}, 0},
		{"no such email", []Cond[User]{uEmail.Eq("nobody@example.com")}, 0},
		{"no such composite", []Cond[User]{uOrg.Eq("acme"), uUsername.Eq("bob")}, 0},
		{"no such age", []Cond[User]{uAge.Eq(1)}, 0},
		{"no such name", []Cond[User]{uName.Eq("leo")}, 0},
		{"key found, match fails", []Cond[User]{uID.Eq(1), uAge.Eq(31)}, 0},
		{"unique key found, match fails", []Cond[User]{uEmail.Eq("leo@example.com"), uName.Eq("Ann")}, 0},
		{"contradiction", []Cond[User]{uEmail.Eq("leo@example.com"), uEmail.Eq("ann@example.com")}, 0},
		{"plain index", []Cond[User]{uAge.Eq(30)}, 2},
		{"prefix of a composite", []Cond[User]{uOrg.Eq("acme")}, 2},
		{"second field of a composite", []Cond[User]{uUsername.Eq("leo")}, 2},
		{"every record", nil, 4},
		{"zero Cond", []Cond[User]{{}}, 4},
		{"empty And", []Cond[User]{And[User]()}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			got, err := users.Get(tt.conds...)
			assert.Equal(t, User{}, got)
			if tt.count == 0 {
				requireNotFound(t, err, "User")
				return
			}
			requireMultiple(t, err, "User", tt.count)
		})
	}
}

func TestTable_Get_MultipleCount(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{2, "get() returned more than one User -- it returned 2!"},
		{19, "get() returned more than one User -- it returned 19!"},
		{20, "get() returned more than one User -- it returned 20!"},
		{21, "get() returned more than one User -- it returned more than 20!"},
		{25, "get() returned more than one User -- it returned more than 20!"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			_, users := newUsers(t)
			for i := range tt.n {
				_, err := users.Insert(User{Email: fmt.Sprint(i), Org: "o", Username: fmt.Sprint(i), Name: "same", Age: 50})
				require.NoError(t, err)
			}
			for _, c := range []Cond[User]{uAge.Eq(50), uName.Eq("same"), uOrg.Eq("o"), And(uAge.Eq(50), uName.Eq("same"))} {
				_, err := users.Get(c)
				requireMultiple(t, err, "User", min(tt.n, 21))
				assert.Equal(t, tt.want, err.Error())
			}
		})
	}
}

func TestTable_Get_UnknownField(t *testing.T) {
	// A different Column is a different field, whatever its name.
	email2 := Field("email", func(u *User) string { return u.Email })
	tests := []struct {
		name  string
		conds []Cond[User]
		field string
	}{
		{"undeclared field", []Cond[User]{uNickname.Eq("Leo")}, "nickname"},
		{"other column of a declared name", []Cond[User]{email2.Eq("leo@example.com")}, "email"},
		{"inside And", []Cond[User]{uEmail.Eq("leo@example.com"), uNickname.Eq("Leo")}, "nickname"},
		{"nested", []Cond[User]{And(uAge.Eq(30), And(uNickname.Eq("Leo")))}, "nickname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			before := dump(t, users)
			check := func(err error) {
				t.Helper()
				require.ErrorIs(t, err, ErrUnknownField)
				requireErrorAs(t, err, userFieldError(tt.field))
				assert.Equal(t, fmt.Sprintf("recstore: table User has no field %q (choices are: id, email, org, username, age, name)", tt.field), err.Error())
			}
			_, err := users.Get(tt.conds...)
			check(err)
			_, err = users.Delete(tt.conds...)
			check(err)
			_, _, err = users.GetOrCreate(And(tt.conds...), func() (User, error) {
				t.Error("create called")
				return User{}, nil
			})
			check(err)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

func TestTable_Len(t *testing.T) {
	_, users := newUsers(t)
	assert.Equal(t, 0, users.Len())
	a, err := users.Insert(User{Email: "a", Org: "o", Username: "a"})
	require.NoError(t, err)
	assert.Equal(t, 1, users.Len())
	_, err = users.Insert(User{Email: "b", Org: "o", Username: "b"})
	require.NoError(t, err)
	assert.Equal(t, 2, users.Len())
	_, err = users.Insert(User{Email: "a", Org: "o", Username: "c"})
	require.Error(t, err)
	assert.Equal(t, 2, users.Len())
	a.Age = 3
	require.NoError(t, users.Update(a))
	assert.Equal(t, 2, users.Len())
	_, _, err = users.Upsert(a)
	require.NoError(t, err)
	assert.Equal(t, 2, users.Len())
	_, err = users.Delete(uID.Eq(a.ID))
	require.NoError(t, err)
	assert.Equal(t, 1, users.Len())
	_, err = users.Delete(uID.Eq(a.ID))
	require.Error(t, err)
	assert.Equal(t, 1, users.Len())
}

func TestTable_Closed(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")

	leo := stored[0]
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := users.Get(uID.Eq(1)); return err }},
		{"Get miss", func() error { _, err := users.Get(uID.Eq(99)); return err }},
		{"Insert", func() error { _, err := users.Insert(User{Email: "new"}); return err }},
		{"Update", func() error { return users.Update(leo) }},
		{"Upsert", func() error { _, _, err := users.Upsert(leo); return err }},
		{"Delete", func() error { _, err := users.Delete(uID.Eq(1)); return err }},
		{"GetOrCreate hit", func() error {
			_, _, err := users.GetOrCreate(uEmail.Eq(leo.Email), func() (User, error) { return leo, nil })
			return err
		}},
		{"GetOrCreate miss", func() error {
			_, _, err := users.GetOrCreate(uEmail.Eq("new"), func() (User, error) { return User{Email: "new"}, nil })
			return err
		}},
		{"UpdateOrCreate", func() error {
			_, _, err := users.UpdateOrCreate(uEmail.Eq(leo.Email),
				func(u User) (User, error) { return u, nil },
				func() (User, error) { return leo, nil })
			return err
		}},
		{"View", func() error {
			return db.View(func(*Tx) error {
				t.Error("View ran its function on a closed DB")
				return nil
			})
		}},
		{"NewTable", func() error { _, err := NewTable(db, "Other", PrimaryKey(uID)); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if c.name == "View" || c.name == "NewTable" { // calls on the DB, not on a table
				require.Same(t, ErrClosed, err)
				return
			}
			requireAccessError(t, err, ErrClosed, "User")
		})
	}
	assert.Equal(t, 0, users.Len())
}

// TestTable_Closed_Concurrent: a DB closed while a writer runs fails
// every call of that writer from the first ErrClosed on. Run under -race.
func TestTable_Closed_Concurrent(t *testing.T) {
	db, users := newUsers(t)
	var otherErr, afterErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			_, err := users.Insert(User{Email: fmt.Sprint(i), Org: "o", Username: fmt.Sprint(i)})
			if errors.Is(err, ErrClosed) {
				_, afterErr = users.Insert(User{Email: "after", Org: "o", Username: "after"})
				return
			}
			if err != nil {
				otherErr = err
				return
			}
		}
	}()
	for users.Len() < 10 {
		runtime.Gosched()
	}
	require.NoError(t, db.Close())
	<-done
	require.NoError(t, otherErr)
	require.ErrorIs(t, afterErr, ErrClosed)
	require.ErrorIs(t, db.View(func(*Tx) error { return nil }), ErrClosed)
}

// TestTable_Records_AreCopies: records go in and out by value; no caller
// can change a stored record behind the indexes' back.
func TestTable_Records_AreCopies(t *testing.T) {
	_, users, stored := newFixtureUsers(t)
	before := dump(t, users)

	rec := User{Email: "new@example.com", Org: "o", Username: "u"}
	inserted, err := users.Insert(rec)
	require.NoError(t, err)
	rec.Email = "changed"
	inserted.Email = "changed"
	inserted.Age = 1000

	got, err := users.Get(uEmail.Eq("new@example.com"))
	require.NoError(t, err)
	assert.Equal(t, User{ID: 5, Email: "new@example.com", Org: "o", Username: "u"}, got)
	got.Email = "leo@example.com"
	got.Name = "mutated"

	again, err := users.Get(uID.Eq(5))
	require.NoError(t, err)
	assert.Equal(t, "new@example.com", again.Email)
	assert.Empty(t, again.Name)

	removed, err := users.Delete(uID.Eq(5))
	require.NoError(t, err)
	removed.Email = "mutated"
	assert.Equal(t, before, dump(t, users))

	_, err = users.Insert(User{Email: "leo@example.com"})
	var uv *UniqueViolationError
	require.ErrorAs(t, err, &uv)
	existing := uv.Existing.(User)
	existing.Email = "mutated"
	got, err = users.Get(uID.Eq(1))
	require.NoError(t, err)
	assert.Equal(t, stored[0], got)

	upserted, _, err := users.Upsert(stored[1])
	require.NoError(t, err)
	upserted.Email = "mutated"
	assert.Equal(t, before, dump(t, users))
}

// TestTable_Delete_ReleasesRecord: once deleted or replaced, and no
// snapshot holds it, a record can be garbage collected after at most
// maxPending more changes (the pending log and the last published version
// may hold it until then); the store must not pin every record it ever
// held.
func TestTable_Delete_ReleasesRecord(t *testing.T) {
	_, users, _ := newFixtureUsers(t)
	storedPtr := func(id int64) weak.Pointer[User] {
		r, ok := versionOf(users).trees[0].Get(&User{ID: id})
		require.True(t, ok)
		return weak.Make(r)
	}
	deleted := storedPtr(3)
	replaced := storedPtr(1)
	_, err := users.Delete(uID.Eq(3))
	require.NoError(t, err)
	leo, err := users.Get(uID.Eq(1))
	require.NoError(t, err)
	leo.Age++
	require.NoError(t, users.Update(leo))
	// Enough writes that a version is published after the two changes.
	for i := range maxPending {
		_, err := users.Insert(User{Email: fmt.Sprint(i), Org: "o", Username: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	for range 3 {
		runtime.GC()
	}
	assert.Nil(t, deleted.Value(), "a deleted record is still referenced")
	assert.Nil(t, replaced.Value(), "a replaced record is still referenced")
}

func TestDB_View(t *testing.T) {
	t.Run("snapshot", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		leo := stored[0]
		err := db.View(func(tx *Tx) error {
			in := users.In(tx)
			require.Equal(t, 4, in.Len())

			// Writes outside the transaction commit meanwhile.
			changed := leo
			changed.Email, changed.Age = "leo@new.example.com", 31
			require.NoError(t, users.Update(changed))
			_, err := users.Insert(User{Email: "new@example.com", Org: "acme", Username: "new", Age: 30})
			require.NoError(t, err)
			_, err = users.Delete(uID.Eq(3))
			require.NoError(t, err)
			require.Equal(t, 4, users.Len())

			t.Run("non-repeatable read", func(t *testing.T) {
				got, err := in.Get(uID.Eq(1))
				require.NoError(t, err)
				assert.Equal(t, leo, got)
				got, err = in.Get(uEmail.Eq("leo@example.com"))
				require.NoError(t, err)
				assert.Equal(t, leo, got)
				_, err = in.Get(uEmail.Eq("leo@new.example.com"))
				requireNotFound(t, err, "User")
			})
			t.Run("phantom", func(t *testing.T) {
				_, err := in.Get(uAge.Eq(30))
				requireMultiple(t, err, "User", 2)
				_, err = in.Get(uEmail.Eq("new@example.com"))
				requireNotFound(t, err, "User")
				_, err = in.Get(uOrg.Eq("acme"))
				requireMultiple(t, err, "User", 2)
			})
			t.Run("deleted record", func(t *testing.T) {
				got, err := in.Get(uEmail.Eq("bob@example.com"))
				require.NoError(t, err)
				assert.Equal(t, stored[2], got)
				assert.Equal(t, 4, in.Len())
			})
			t.Run("latest outside", func(t *testing.T) {
				got, err := users.Get(uEmail.Eq("leo@new.example.com"))
				require.NoError(t, err)
				assert.Equal(t, changed, got)
				_, err = users.Get(uEmail.Eq("bob@example.com"))
				requireNotFound(t, err, "User")
			})
			t.Run("GetOrCreate hit reads the snapshot", func(t *testing.T) {
				got, created, err := in.GetOrCreate(uEmail.Eq("bob@example.com"), func() (User, error) {
					t.Error("create called")
					return User{}, nil
				})
				require.NoError(t, err)
				assert.False(t, created)
				assert.Equal(t, stored[2], got)
			})
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("read only", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		before := dump(t, users)
		leo := stored[0]
		err := db.View(func(tx *Tx) error {
			in := users.In(tx)
			writes := []struct {
				name string
				call func() error
			}{
				{"Insert", func() error { _, err := in.Insert(User{Email: "new"}); return err }},
				{"Update", func() error { l := leo; l.Age = 1; return in.Update(l) }},
				{"Upsert", func() error { _, _, err := in.Upsert(leo); return err }},
				{"Delete", func() error { _, err := in.Delete(uID.Eq(1)); return err }},
				{"GetOrCreate miss", func() error {
					_, _, err := in.GetOrCreate(uEmail.Eq("new"), func() (User, error) {
						t.Error("create called")
						return User{Email: "new"}, nil
					})
					return err
				}},
				// Writability is checked before any callback runs.
				{"UpdateOrCreate hit", func() error {
					_, _, err := in.UpdateOrCreate(uEmail.Eq(leo.Email),
						func(u User) (User, error) { t.Error("update called"); return u, nil },
						func() (User, error) { t.Error("create called"); return leo, nil })
					return err
				}},
				{"UpdateOrCreate miss", func() error {
					_, _, err := in.UpdateOrCreate(uEmail.Eq("new"),
						func(u User) (User, error) { t.Error("update called"); return u, nil },
						func() (User, error) { t.Error("create called"); return User{Email: "new"}, nil })
					return err
				}},
			}
			for _, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					requireAccessError(t, w.call(), ErrReadOnly, "User")
				})
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, before, dump(t, users))
	})

	t.Run("use after View", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		var in *Table[User]
		require.NoError(t, db.View(func(tx *Tx) error {
			in = users.In(tx)
			return nil
		}))
		calls := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := in.Get(uID.Eq(1)); return err }},
			{"Insert", func() error { _, err := in.Insert(User{Email: "new"}); return err }},
			{"Update", func() error { return in.Update(stored[0]) }},
			{"Upsert", func() error { _, _, err := in.Upsert(stored[0]); return err }},
			{"Delete", func() error { _, err := in.Delete(uID.Eq(1)); return err }},
			{"GetOrCreate", func() error {
				_, _, err := in.GetOrCreate(uEmail.Eq(stored[0].Email), func() (User, error) { return stored[0], nil })
				return err
			}},
			{"UpdateOrCreate", func() error {
				_, _, err := in.UpdateOrCreate(uEmail.Eq(stored[0].Email),
					func(u User) (User, error) { return u, nil },
					func() (User, error) { return stored[0], nil })
				return err
			}},
		}
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				requireAccessError(t, c.call(), ErrTxDone, "User")
			})
		}
		assert.Equal(t, 0, in.Len())
		// The table itself is fine.
		assert.Equal(t, 4, users.Len())
	})

	t.Run("returns the function's error", func(t *testing.T) {
		db, _ := newUsers(t)
		sentinel := errors.New("stop")
		err := db.View(func(*Tx) error { return sentinel })
		require.ErrorIs(t, err, sentinel)
		require.NoError(t, db.View(func(*Tx) error { return nil }))
	})

	t.Run("table declared after View began", func(t *testing.T) {
		db, users := newUsers(t)
		err := db.View(func(tx *Tx) error {
			parts := newParts(t, db)
			_, err := parts.Insert(Part{SKU: "a"})
			require.NoError(t, err)
			in := parts.In(tx)
			assert.Equal(t, 0, in.Len())
			_, err = in.Get(partSKU.Eq("a"))
			requireNotFound(t, err, "Part")
			assert.Equal(t, 0, users.In(tx).Len())
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("transaction of another DB", func(t *testing.T) {
		_, users := newUsers(t)
		other, _ := newUsers(t)
		err := other.View(func(tx *Tx) error {
			_, err := users.In(tx).Get(uID.Eq(1))
			requireAccessError(t, err, ErrOtherDB, "User")
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("consistent across tables", func(t *testing.T) {
		db, users := newUsers(t)
		parts := newParts(t, db)
		_, err := users.Insert(User{Email: "a"})
		require.NoError(t, err)
		_, err = parts.Insert(Part{SKU: "a"})
		require.NoError(t, err)
		require.NoError(t, db.View(func(tx *Tx) error {
			_, err := users.Insert(User{Email: "b", Org: "b"})
			require.NoError(t, err)
			_, err = parts.Insert(Part{SKU: "b", Code: "b"})
			require.NoError(t, err)
			assert.Equal(t, 1, users.In(tx).Len())
			assert.Equal(t, 1, parts.In(tx).Len())
			return nil
		}))
	})
}

// coreOp is one step of a generated operation sequence.
type coreOp struct {
	kind   string
	rec    User
	lookup mdlCond
	fail   bool // the create callback fails
	stray  bool // the create callback returns a record not matching
	fields int  // for modify: a bit per group of fields to change
}

// genCoreOps generates n operations over value sets small enough that
// keys collide often and large enough that the table grows to a few hundred
// records: 400 emails, 3 orgs × 200 usernames, 6 ages, 3 names, ids up to
// 400. Most modify steps move a record to fresh unique keys.
func genCoreOps(seed uint64, n int) []coreOp {
	rng := rand.New(rand.NewPCG(seed, 2))
	email := func() string { return fmt.Sprintf("e%d", rng.IntN(400)) }
	org := func() string { return []string{"acme", "initech", "a"}[rng.IntN(3)] }
	username := func() string { return fmt.Sprintf("u%d", rng.IntN(200)) }
	age := func() int { return 20 + rng.IntN(6) }
	name := func() string { return []string{"Ann", "Bob", ""}[rng.IntN(3)] }
	id := func() int64 { return int64(1 + rng.IntN(400)) }
	rec := func(id int64) User {
		return User{ID: id, Email: email(), Org: org(), Username: username(), Name: name(), Age: age()}
	}
	lookup := func() mdlCond {
		switch rng.IntN(8) {
		case 0:
			return mdlEq(mdlFID, id())
		case 1, 2:
			return mdlEq(mdlFEmail, email())
		case 3:
			return mdlAnd(mdlEq(mdlFOrg, org()), mdlEq(mdlFUsername, username()))
		case 4:
			return mdlEq(mdlFAge, int64(age()))
		case 5:
			return mdlEq(mdlFName, name())
		case 6:
			return mdlAnd(mdlEq(mdlFOrg, org()), mdlEq(mdlFAge, int64(age())))
		}
		return mdlEq(mdlFUsername, username())
	}
	ops := make([]coreOp, n)
	for i := range ops {
		var op coreOp
		switch r := rng.IntN(100); {
		case r < 25:
			op = coreOp{kind: "insert", rec: rec(0)}
		case r < 30:
			op = coreOp{kind: "insert", rec: rec(id())}
		case r < 36:
			op = coreOp{kind: "update", rec: rec(id())}
		case r < 37:
			op = coreOp{kind: "update", rec: rec(0)}
		case r < 50:
			// Read a record by id, change some fields, write it back.
			op = coreOp{kind: "modify", rec: rec(id()), fields: rng.IntN(16)}
			if rng.IntN(4) != 0 {
				op.rec.Email = fmt.Sprintf("m%d", i)
				op.rec.Username = fmt.Sprintf("m%d", i)
			}
		case r < 56:
			op = coreOp{kind: "upsert", rec: rec(id() * int64(rng.IntN(2)))}
		case r < 64:
			op = coreOp{kind: "delete", lookup: lookup()}
		case r < 80:
			op = coreOp{kind: "get", lookup: lookup()}
		case r < 97:
			op = coreOp{kind: "getorcreate", lookup: lookup(), rec: rec(0), fail: rng.IntN(20) == 0, stray: rng.IntN(20) == 0}
		default:
			op = coreOp{kind: "len"}
		}
		ops[i] = op
	}
	return ops
}

func coreResult(rec User, flag bool, err error) string {
	if err != nil {
		return fmt.Sprintf("error %q", err.Error())
	}
	return fmt.Sprintf("%+v %v", rec, flag)
}

// runCoreOp applies op through api: the User table of a store or of the
// reference store (model_ref_test.go).
func runCoreOp(api mdlAPI, op coreOp) string {
	switch op.kind {
	case "insert":
		u, err := api.Insert(op.rec)
		return coreResult(u, false, err)
	case "update":
		return coreResult(User{}, false, api.Update(op.rec))
	case "upsert":
		return coreResult(api.Upsert(op.rec))
	case "delete":
		u, err := api.Delete(op.lookup)
		return coreResult(u, false, err)
	case "modify":
		u, err := api.Get(mdlEq(mdlFID, op.rec.ID))
		if err == nil {
			if op.fields&1 != 0 {
				u.Email = op.rec.Email
			}
			if op.fields&2 != 0 {
				u.Org, u.Username = op.rec.Org, op.rec.Username
			}
			if op.fields&4 != 0 {
				u.Age = op.rec.Age
			}
			if op.fields&8 != 0 {
				u.Name = op.rec.Name
			}
			err = api.Update(u)
		}
		return coreResult(u, false, err)
	case "get":
		u, err := api.Get(op.lookup)
		return coreResult(u, false, err)
	case "getorcreate":
		return coreResult(api.GetOrCreate(op.lookup, func() (User, error) {
			if op.fail {
				return User{}, errors.New("create failed")
			}
			if op.stray {
				return User{Email: "stray", Org: "stray", Username: "stray", Name: "stray", Age: -1}, nil
			}
			return op.lookup.satisfy(op.rec), nil
		}))
	}
	return fmt.Sprint(api.Len())
}

// TestTable_Metamorphic runs one seeded sequence of mixed operations with
// colliding keys on DBs built with different stripe counts and B-tree
// degrees, and on a reference model. Every result, value and error message,
// and the final contents must be the same everywhere.
func TestTable_Metamorphic(t *testing.T) {
	const n = 5000
	ops := genCoreOps(testSeed(t), n)

	m := &mdlModel{db: newMdlDB()}
	want := make([]string, n)
	for i, op := range ops {
		want[i] = runCoreOp(m, op)
	}
	kinds := map[string]int{}
	for i, op := range ops {
		if !strings.HasPrefix(want[i], "error") {
			kinds[op.kind]++
		} else {
			kinds[op.kind+" error"]++
		}
	}
	t.Logf("outcomes: %v; %d records at the end", kinds, len(m.db.cur.ids))

	configs := []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"stripes 1", Options{Stripes: 1}},
		{"stripes 2", Options{Stripes: 2}},
		{"stripes 64", Options{Stripes: 64}},
		{"degree 2", Options{Degree: 2}},
		{"degree 3, stripes 3", Options{Degree: 3, Stripes: 3}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			db, users := newUsers(t, c.opts)
			api := &mdlStore{db: db, t: users}
			for i, op := range ops {
				got := runCoreOp(api, op)
				if got != want[i] {
					t.Fatalf("op %d: %s %+v %s: got %s, the model says %s", i, op.kind, op.rec, op.lookup, got, want[i])
				}
				if i%500 == 0 {
					require.NoError(t, checkInvariants(users), "after op %d", i)
				}
			}
			assert.Equal(t, m.db.cur.all(), dump(t, users))
		})
	}
}
