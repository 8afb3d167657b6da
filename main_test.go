package recstore

import (
	"flag"
	"fmt"

	"testing"

	"github.com/stretchr/testify/require"
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

// User is the record type most tests use.
type User struct {
	ID       int64
	Email    string
	Org      string
	Username string
	Name     string
	Age      int
}

var (
	uID       = Field("id", func(u *User) int64 { return u.ID })
	uEmail    = Field("email", func(u *User) string { return u.Email })
	uOrg      = Field("org", func(u *User) string { return u.Org })
	uUsername = Field("username", func(u *User) string { return u.Username })
	uName     = Field("name", func(u *User) string { return u.Name })
	uAge      = Field("age", func(u *User) int { return u.Age })
)

// testOptions are the DB options of this run of the suite.
func testOptions() Options {
	return Options{Stripes: *flagStripes, Degree: *flagDegree}
}

// newUsers returns a fresh DB with the User table: auto primary key id,
// unique email, unique (org, username), plain index on age, and name as a
// declared unindexed field. The invariant checker runs when the test ends.
func newUsers(t testing.TB, opts ...Options) (*DB, *Table[User]) {
	t.Helper()
	o := testOptions()
	if len(opts) > 0 {
		o = opts[0]
	}
	db := New(o)
	users, err := NewTable(db, "User",
		AutoPrimaryKey(uID, func(u *User, id int64) { u.ID = id }),
		Unique("user_email", uEmail),
		Unique("org_username", uOrg, uUsername),
		Index("user_age", uAge),
		Fields(uName))
	require.NoError(t, err)
	checkOnCleanup(t, users)
	return db, users
}

// checkOnCleanup runs checkInvariants on tbl when the test ends.
func checkOnCleanup[T any](t testing.TB, tbl *Table[T]) {
	t.Cleanup(func() {
		if err := checkInvariants(tbl); err != nil {
			t.Errorf("invariant checker: %v", err)
		}
	})
}

// checkInvariants verifies the latest version of tbl: every tree is
// strictly ordered, every index holds exactly the primary set with each
// record under its own key and the same stored pointer, no stale entries;
// and every live point index holds exactly what its tree does.
func checkInvariants[T any](tbl *Table[T]) error {
	v := tbl.core.db.latest()
	s := v.tables[tbl.core.id].(*tableState[T])
	if err := s.check(); err != nil {
		return err
	}
	return tbl.core.live.Load().check(s)
}

// check compares every live index with its tree in s, which must be the
// latest state, while no one writes.
func (l *liveIndexes[T]) check(s *tableState[T]) error {
	if l.sch != s.sch {
		return fmt.Errorf("the live indexes are of another schema")
	}
	if !l.fast {
		return fmt.Errorf("the fast path is off with no index being built")
	}
	for i, d := range s.sch.indexes {
		x := l.idx[i]
		if (x != nil) != d.unique {
			return fmt.Errorf("index %q (unique %v) has live index %v", d.name, d.unique, x != nil)
		}
		if x == nil {
			continue
		}
		if x.def != d {
			return fmt.Errorf("live index %d is of index %q, not %q", i, x.def.name, d.name)
		}
		n := 0
		for p := range x.parts {
			n += x.parts[p].n
		}
		tr := s.trees[i]
		if n != tr.Len() {
			return fmt.Errorf("live index %q holds %d records, its tree %d", d.name, n, tr.Len())
		}
		var err error
		tr.Scan(func(r *T) bool {
			h := x.hashOf(r)
			t := x.part(h).tab.Load()
			i, _ := t.find(h, func(s *T) bool { return d.sameKey(r, s) })
			if i < 0 || t.rec(i) != r {
				err = fmt.Errorf("live index %q does not hold %v under its key", d.name, r)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *tableState[T]) check() error {
	pkTree := s.trees[0]
	for i, d := range s.sch.indexes {
		tr := s.trees[i]
		n := 0
		pkTree.Scan(func(r *T) bool {
			if d.member(r) {
				n++
			}
			return true
		})
		if tr.Len() != n {
			return fmt.Errorf("index %q has %d entries, its records %d", d.name, tr.Len(), n)
		}
		order := d.order(s.sch.pk)
		var prev *T
		var err error
		tr.Scan(func(r *T) bool {
			if prev != nil && order(prev, r) >= 0 {
				err = fmt.Errorf("index %q is out of order at %v", d.name, *r)
				return false
			}
			prev = r
			if !d.member(r) {
				err = fmt.Errorf("index %q holds a record outside its condition", d.name)
				return false
			}
			if _, kerr := d.keyOf(r); kerr != nil {
				err = fmt.Errorf("index %q holds a record with an invalid key: %v", d.name, kerr)
				return false
			}
			got, ok := pkTree.Get(r)
			if !ok || got != r {
				err = fmt.Errorf("index %q holds a record the primary key does not", d.name)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		pkTree.Scan(func(r *T) bool {
			if !d.member(r) {
				return true
			}
			k := mustKey(d.keyOf(r))
			if got, ok := tr.Find(d.probe(k)); !ok && d.unique || ok && d.unique && got != r {
				err = fmt.Errorf("index %q does not find a record of the primary key under its key %v", d.name, k)
				return false
			}
			if got, ok := tr.Get(r); !ok || got != r {
				err = fmt.Errorf("index %q is missing a record of the primary key", d.name)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dump returns every record of tbl in primary key order.
func dump[T any](t testing.TB, tbl *Table[T]) []T {
	t.Helper()
	s, err := tbl.state()
	require.NoError(t, err)
	var out []T
	s.trees[0].Scan(func(r *T) bool {
		out = append(out, *r)
		return true
	})
	return out
}
