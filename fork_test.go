package recstore

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// forkOf forks db for a test, and runs the invariant checker on the fork
// when the test ends, as newTestDB does on the DBs it makes.
func forkOf(t testing.TB, db *DB) *DB {
	t.Helper()
	f, err := db.Fork()
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := memOf(f).check(true); err != nil {
			t.Errorf("invariant checker on a fork: %v", err)
		}
	})
	return f
}

// on is tbl's handle in db, which must hold it.
func on[T any](t testing.TB, tbl *Table[T], db *DB) *Table[T] {
	t.Helper()
	h, err := tbl.On(db)
	require.NoError(t, err)
	return h
}

// sideWrites are writes of every kind, each through users, to the four
// fixture users, with the records they leave (ids 1 to 4 before).
var sideWrites = []struct {
	name  string
	write func(users *Table[User]) error
	want  func(before []User) []User
}{
	{"Insert", func(u *Table[User]) error {
		_, err := u.Insert(User{Email: "new@example.com", Org: "acme", Username: "new"})
		return err
	}, func(b []User) []User {
		return append(b, User{ID: 5, Email: "new@example.com", Org: "acme", Username: "new"})
	}},
	{"GetOrCreate", func(u *Table[User]) error {
		_, _, err := u.GetOrCreate(uEmail.Eq("new@example.com"), func() (User, error) {
			return User{Email: "new@example.com", Org: "acme", Username: "new"}, nil
		})
		return err
	}, func(b []User) []User {
		return append(b, User{ID: 5, Email: "new@example.com", Org: "acme", Username: "new"})
	}},
	{"Update", func(u *Table[User]) error {
		r := fixtureUser(0)
		r.Email = "leo@example.org"
		return u.Update(r)
	}, func(b []User) []User {
		b[0].Email = "leo@example.org"
		return b
	}},
	{"Delete", func(u *Table[User]) error {
		_, err := u.Delete(uEmail.Eq("bob@example.com"))
		return err
	}, func(b []User) []User { return slices.Delete(b, 2, 3) }},
	{"InsertMany", func(u *Table[User]) error {
		_, err := u.InsertMany([]User{{Email: "a@x", Username: "a"}, {Email: "b@x", Username: "b"}}, OnConflict[User]{})
		return err
	}, func(b []User) []User {
		return append(b, User{ID: 5, Email: "a@x", Username: "a"}, User{ID: 6, Email: "b@x", Username: "b"})
	}},
	{"Query.Update", func(u *Table[User]) error {
		_, err := u.Filter(uOrg.Eq("acme")).Update(func(r User) (User, error) { r.Age++; return r, nil })
		return err
	}, func(b []User) []User {
		b[0].Age++
		b[1].Age++
		return b
	}},
	{"Query.Delete", func(u *Table[User]) error {
		_, err := u.Filter(uOrg.Eq("initech")).Delete()
		return err
	}, func(b []User) []User { return b[:2] }},
	{"Update in a transaction", func(u *Table[User]) error {
		return u.db.Update(func(tx *Tx) error {
			if _, err := u.In(tx).Delete(uEmail.Eq("leo@example.com")); err != nil {
				return err
			}
			_, err := u.In(tx).Insert(User{Email: "leo@example.com", Org: "x", Username: "leo"})
			return err
		})
	}, func(b []User) []User {
		return append(b[1:], User{ID: 5, Email: "leo@example.com", Org: "x", Username: "leo"})
	}},
	{"AddIndex", func(u *Table[User]) error {
		return u.AddIndex(Index("user_name", uName))
	}, func(b []User) []User { return b }},
}

func TestDB_Fork_WritesStayOnTheirSide(t *testing.T) {
	for _, w := range sideWrites {
		for _, side := range []string{"original", "fork"} {
			t.Run(w.name+"/"+side, func(t *testing.T) {
				db, users, before := newFixtureUsers(t)
				forked := on(t, users, forkOf(t, db))
				written, other := users, forked
				if side == "fork" {
					written, other = forked, users
				}
				require.NoError(t, w.write(written))

				require.Equal(t, w.want(slices.Clone(before)), dump(t, written))
				require.Equal(t, before, dump(t, other), "the other side changed")
				for _, u := range before { // point reads go through the hash indexes
					got, err := other.Get(uEmail.Eq(u.Email))
					require.NoError(t, err)
					require.Equal(t, u, got)
				}
				_, err := other.Get(uEmail.Eq("new@example.com"))
				requireNotFound(t, err, "User")
				require.Equal(t, []string{"primary", "user_email", "org_username", "user_age"}, indexNames(other),
					"the other side's schema changed")
			})
		}
	}
}

// indexNames are the names of tbl's indexes, the primary key first.
func indexNames[T any](tbl *Table[T]) []string {
	var names []string
	for _, d := range tbl.eng.schema().indexes {
		names = append(names, d.name)
	}
	return names
}

func TestDB_Fork_ConstraintsAndSequencesOfTheirOwn(t *testing.T) {
	db, users, before := newFixtureUsers(t)
	forked := on(t, users, forkOf(t, db))

	// Each side's sequence goes on from the fork's moment.
	mine, err := users.Insert(User{Email: "own@example.com", Username: "own"})
	require.NoError(t, err)
	require.Equal(t, int64(5), mine.ID)

	// The fork frees an email and takes it again; the original still
	// holds it.
	_, err = forked.Delete(uEmail.Eq("leo@example.com"))
	require.NoError(t, err)
	reused, err := forked.Insert(User{Email: "leo@example.com", Org: "new", Username: "leo"})
	require.NoError(t, err)
	require.Equal(t, int64(5), reused.ID)
	_, err = users.Insert(User{Email: "leo@example.com", Org: "new", Username: "leo"})
	requireUniqueViolation(t, err, "user_email", []string{"email"}, []string{"leo@example.com"}, before[0],
		`recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(leo@example.com) already held by id 1`)

	// An index added to the original is not the fork's, and the reverse.
	require.NoError(t, users.AddIndex(Unique("user_name", uName)))
	require.NoError(t, forked.DropIndex("user_age"))
	require.Equal(t, []string{"primary", "user_email", "org_username", "user_age", "user_name"}, indexNames(users))
	require.Equal(t, []string{"primary", "user_email", "org_username"}, indexNames(forked))
	_, err = forked.Insert(User{Email: "ann2@example.com", Username: "ann2", Name: "Ann"})
	require.NoError(t, err, "the fork has no unique name")
	_, err = users.Insert(User{Email: "ann2@example.com", Username: "ann2", Name: "Ann"})
	require.ErrorIs(t, err, ErrUniqueViolation)
}

func TestDB_Fork_OfAForkAndClosing(t *testing.T) {
	db, users, before := newFixtureUsers(t)
	f1 := forkOf(t, db)
	u1 := on(t, users, f1)
	_, err := u1.Insert(User{Email: "f1@example.com", Username: "f1"})
	require.NoError(t, err)
	f2 := forkOf(t, f1)
	u2 := on(t, u1, f2)
	require.Equal(t, dump(t, u1), dump(t, u2))
	require.Equal(t, u2.Name(), on(t, users, f2).Name(), "the original's handle reaches a fork of a fork")

	require.NoError(t, f1.Close())
	late := User{Email: "late@example.com", Username: "late"}
	_, err = u1.Insert(late)
	requireAccessError(t, err, ErrClosed, "User")
	_, err = u2.Insert(late)
	require.NoError(t, err, "closing a fork leaves its fork open")
	_, err = users.Insert(late)
	require.NoError(t, err, "closing a fork leaves its original open")
	require.Len(t, dump(t, users), len(before)+1)
	_, err = f1.Fork()
	require.ErrorIs(t, err, ErrClosed)
}

func TestTable_On_Refuses(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	f := forkOf(t, db)
	late, err := NewTable(db, "Late", userTable(uName)...) // declared after the fork
	require.NoError(t, err)
	mine, err := NewTable(f, "Late", userTable(uName)...) // the fork's own, of the same name
	require.NoError(t, err)
	closed := forkOf(t, db)
	require.NoError(t, closed.Close())

	for _, tt := range []struct {
		name     string
		tbl      *Table[User]
		db       *DB
		sentinel error
	}{
		{"a DB that is not a fork", users, newTestDB(t), ErrOtherDB},
		{"a table declared after the fork", late, f, ErrOtherDB},
		{"a table the fork declared itself", mine, db, ErrOtherDB},
		{"a closed fork", users, closed, ErrClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.tbl.On(tt.db)
			require.Nil(t, h)
			requireAccessError(t, err, tt.sentinel, tt.tbl.Name())
		})
	}
	same, err := users.On(db)
	require.NoError(t, err)
	require.Equal(t, dump(t, users), dump(t, same))
}

// TestDB_Fork_UnderConcurrentWrites forks a DB while writers change it,
// then writes the original and every fork at once. Each writer works on
// keys of its own, in a sequence of inserts, updates and deletes whose
// state after any number of them is known (forkState): so a fork must
// hold, of every writer, the state after some number of its writes (a
// fork is one moment), and in the end every DB holds what its own writes,
// and only they, made of it.
func TestDB_Fork_UnderConcurrentWrites(t *testing.T) {
	const writers, forks = 4, 6
	steps := len(forkWrites(forkKeys))
	db, users := newUsers(t)
	rng := rand.New(rand.NewPCG(testSeed(t), 1))

	type forked struct {
		db    *DB
		users *Table[User]
		at    []int // how many writes of each writer the fork holds
	}
	var fs []forked
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range steps {
				forkWrite(t, users, "o", g, i)
			}
		})
	}
	for range forks {
		f := forkOf(t, db)
		fu := on(t, users, f)
		at := make([]int, writers)
		for g := range writers {
			at[g] = forkWritesHeld(t, fu, "o", g)
		}
		fs = append(fs, forked{f, fu, at})
		for range rng.IntN(200) {
			_, _ = users.Get(uEmail.Eq("nobody")) // let the writers go on a while
		}
	}
	// Now every fork is written too, while the original's writers go on.
	for _, f := range fs {
		for g := range writers {
			wg.Go(func() {
				for i := range steps {
					forkWrite(t, f.users, "f", g, i)
				}
			})
		}
	}
	wg.Wait()

	for g := range writers {
		require.Equal(t, steps, forkWritesHeld(t, users, "o", g))
		require.Equal(t, 0, forkWritesHeld(t, users, "f", g), "a fork's write reached the original")
	}
	for k, f := range fs {
		for g := range writers {
			require.Equal(t, f.at[g], forkWritesHeld(t, f.users, "o", g), "fork %d, writer %d: the original's later writes reached it", k, g)
			require.Equal(t, steps, forkWritesHeld(t, f.users, "f", g), "fork %d, writer %d", k, g)
		}
		require.NoError(t, memOf(f.db).check(false))
	}
	require.NoError(t, checkInvariants(users))
	t.Logf("the forks held %v writes of each writer", func() (at [][]int) {
		for _, f := range fs {
			at = append(at, f.at)
		}
		return at
	}())
}

// forkKeys is how many keys each writer of the concurrent fork test
// writes.
const forkKeys = 150

// forkOp is one write of a writer: insert key i, set its age, or delete it.
type forkOp struct {
	kind string
	i    int
}

// forkWrites is a writer's sequence of writes over n keys: insert key i
// (through GetOrCreate, the fast path); every third key, set the age of
// key i-1 to i; every fifth, delete key i-2.
func forkWrites(n int) []forkOp {
	var ops []forkOp
	for i := range n {
		ops = append(ops, forkOp{"insert", i})
		if i%3 == 2 {
			ops = append(ops, forkOp{"age", i - 1})
		}
		if i%5 == 4 {
			ops = append(ops, forkOp{"delete", i - 2})
		}
	}
	return ops
}

func forkEmail(side string, g, i int) string { return fmt.Sprintf("%s-%d-%d@x", side, g, i) }

// forkWrite makes write j of writer g on side, through users.
func forkWrite(t testing.TB, users *Table[User], side string, g, j int) {
	op := forkWrites(j + 1)[j]
	email := forkEmail(side, g, op.i)
	var err error
	switch op.kind {
	case "insert":
		var created bool
		_, created, err = users.GetOrCreate(uEmail.Eq(email), func() (User, error) {
			return User{Email: email, Org: side, Username: email}, nil
		})
		if err == nil && !created {
			err = fmt.Errorf("%s was there already", email)
		}
	case "age":
		_, err = users.Filter(uEmail.Eq(email)).Update(func(u User) (User, error) { u.Age = op.i + 1; return u, nil })
	case "delete":
		_, err = users.Delete(uEmail.Eq(email))
	}
	if err != nil {
		t.Errorf("write %d (%v) of %s writer %d: %v", j, op, side, g, err)
	}
}

// forkState is what the first n writes of writer g on side leave: each
// record's age, by email.
func forkState(side string, g, n int) map[string]int {
	m := map[string]int{}
	for _, op := range forkWrites(n)[:n] {
		email := forkEmail(side, g, op.i)
		switch op.kind {
		case "insert":
			m[email] = 0
		case "age":
			m[email] = op.i + 1
		case "delete":
			delete(m, email)
		}
	}
	return m
}

// forkWritesHeld returns how many writes of writer g on side users holds
// the state after, or fails the test if it holds the state after none.
func forkWritesHeld(t testing.TB, users *Table[User], side string, g int) int {
	t.Helper()
	got := map[string]int{}
	prefix := fmt.Sprintf("%s-%d-", side, g)
	for _, u := range dump(t, users) {
		if strings.HasPrefix(u.Email, prefix) {
			got[u.Email] = u.Age
		}
	}
	all := len(forkWrites(forkKeys))
	for n := 0; n <= all; n++ {
		if maps.Equal(forkState(side, g, n), got) {
			return n
		}
	}
	t.Fatalf("writer %d on %s: the records %v are the state after no number of its writes", g, side, got)
	return -1
}

// BenchmarkDB_Fork measures a fork of a DB holding n users (fork: Fork
// and Close), and a fork with its first write: an insert through the fast
// path (which copies one partition of each unique hash index and one path
// of each tree) or an update through the committer. The difference from
// fork is the first write's cost.
//
//	go test -run '^$' -bench DB_Fork -benchmem .
func BenchmarkDB_Fork(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		db, users := newUsers(b)
		recs := make([]User, n)
		for i := range recs {
			recs[i] = User{Email: fmt.Sprintf("u%d@x", i), Username: fmt.Sprint(i), Age: i % 90}
		}
		_, err := users.InsertMany(recs, OnConflict[User]{})
		require.NoError(b, err)
		for _, w := range []struct {
			name  string
			write func(u *Table[User], i int) error
		}{
			{"fork", nil},
			{"fork+insert", func(u *Table[User], i int) error {
				_, err := u.Insert(User{Email: fmt.Sprintf("new%d@x", i), Username: fmt.Sprint("new", i)})
				return err
			}},
			{"fork+update", func(u *Table[User], i int) error {
				_, err := u.Filter(uEmail.Eq(fmt.Sprintf("u%d@x", i%n))).Update(func(r User) (User, error) { r.Age++; return r, nil })
				return err
			}},
		} {
			b.Run(fmt.Sprintf("n=%d/%s", n, w.name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					f, err := db.Fork()
					if err == nil && w.write != nil {
						var fu *Table[User]
						if fu, err = users.On(f); err == nil {
							err = w.write(fu, i)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
					_ = f.Close()
					i++
				}
			})
		}
	}
}
