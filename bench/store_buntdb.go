package bench

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"
)

// buntdbStore: tidwall/buntdb in memory, records keyed by email, the rest
// of the record encoded in the value as "id\x1fname\x1forg\x1fage" (the
// cheapest encoding, cheaper than the JSON a real program would likely
// use). A hit is a read transaction's Get; a miss opens the write
// transaction (one at a time), looks again and sets. buntdb's read
// transactions hold a read lock for their duration: they are consistent
// because writers wait, not because they see a snapshot.
type buntdbStore struct {
	db   *buntdb.DB
	next int64 // touched only inside a write transaction
}

func init() { register("buntdb", newBuntdbStore) }

func newBuntdbStore() (Store, error) {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		return nil, err
	}
	return &buntdbStore{db: db}, nil
}

func (s *buntdbStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	if u, ok, err := s.Get(email); ok || err != nil {
		return u, false, err
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return User{}, false, err
	}
	v, err := tx.Get(email)
	switch {
	case err == nil:
		_ = tx.Rollback()
		u, err := decodeUser(email, v)
		return u, false, err
	case !errors.Is(err, buntdb.ErrNotFound):
		_ = tx.Rollback()
		return User{}, false, err
	}
	u := mk(email)
	s.next++
	u.ID = s.next
	if _, _, err := tx.Set(email, encodeUser(&u), nil); err != nil {
		s.next--
		_ = tx.Rollback()
		return User{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, false, err
	}
	return u, true, nil
}

func (s *buntdbStore) Get(email string) (User, bool, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return User{}, false, err
	}
	v, err := tx.Get(email)
	_ = tx.Rollback()
	if errors.Is(err, buntdb.ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, err
	}
	u, err := decodeUser(email, v)
	return u, err == nil, err
}

func (s *buntdbStore) Len() int {
	n := -1
	_ = s.db.View(func(tx *buntdb.Tx) error {
		var err error
		n, err = tx.Len()
		return err
	})
	return n
}

func (s *buntdbStore) Close() error { return s.db.Close() }

// Range reads an email range (buntdb's key order) in one read
// transaction, decoding each record.
func (s *buntdbStore) Range(lo, hi string) (int, error) {
	n := 0
	var derr error
	err := s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi, func(k, v string) bool {
			if _, derr = decodeUser(k, v); derr != nil {
				return false
			}
			n++
			return true
		})
	})
	return n, errors.Join(err, derr)
}

// Snapshot begins and ends a read transaction (a read lock, see above).
func (s *buntdbStore) Snapshot() error {
	tx, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	return tx.Rollback()
}

const sep = "\x1f"

func encodeUser(u *User) string {
	b := make([]byte, 0, 20+len(u.Name)+len(u.Org))
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, sep...)
	b = append(b, u.Name...)
	b = append(b, sep...)
	b = append(b, u.Org...)
	b = append(b, sep...)
	b = strconv.AppendInt(b, int64(u.Age), 10)
	return string(b)
}

func decodeUser(email, v string) (User, error) {
	id, rest, _ := strings.Cut(v, sep)
	name, rest, _ := strings.Cut(rest, sep)
	org, age, _ := strings.Cut(rest, sep)
	u := User{Email: email, Name: name, Org: org}
	var err1, err2 error
	u.ID, err1 = strconv.ParseInt(id, 10, 64)
	u.Age, err2 = strconv.Atoi(age)
	if err := errors.Join(err1, err2); err != nil {
		return User{}, errors.New("bench: buntdb holds a malformed record for " + email + ": " + err.Error())
	}
	return u, nil
}
