package recstore

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bad-input catalogue (TESTING.md §5): clear error, nothing lost.

// badItem has a string primary key that is not auto-assigned and a unique
// float index.
type badItem struct {
	SKU   string
	Price float64
	Qty   int
}

// badBox has an int primary key that is not auto-assigned.
type badBox struct {
	No    int
	Label string
}

var (
	biSKU   = Field("sku", func(i *badItem) string { return i.SKU })
	biPrice = Field("price", func(i *badItem) float64 { return i.Price })
	biQty   = Field("qty", func(i *badItem) int { return i.Qty })
	bbNo    = Field("no", func(b *badBox) int { return b.No })
	bbLabel = Field("label", func(b *badBox) string { return b.Label })
)

// badEnv is a fresh DB for one row: the User table of newFixtureUsers
// (ids 1 to 4), an Item table holding one item, an empty Box table.
type badEnv struct {
	db    *DB
	users *Table[User]
	items *Table[badItem]
	boxes *Table[badBox]
	tx    *Tx // a transaction a row leaves open for its next call
}

var badWidget = badItem{SKU: "widget", Price: 9.5, Qty: 3}

func newBadEnv(t *testing.T) *badEnv {
	t.Helper()
	db, users, _ := newFixtureUsers(t)
	items, err := NewTable(db, "Item", PrimaryKey(biSKU), Unique("item_price", biPrice), Fields(biQty))
	require.NoError(t, err)
	boxes, err := NewTable(db, "Box", PrimaryKey(bbNo), Fields(bbLabel))
	require.NoError(t, err)
	_, err = items.Insert(badWidget)
	require.NoError(t, err)
	return &badEnv{db: db, users: users, items: items, boxes: boxes}
}

type badSnapshot struct {
	users []User
	items []badItem
	boxes []badBox
}

// snapshot returns every table's records (read directly, so that it works
// on a closed DB too).
func (e *badEnv) snapshot(t *testing.T) badSnapshot {
	return badSnapshot{dump(t, e.users), dump(t, e.items), dump(t, e.boxes)}
}

func (e *badEnv) check(t *testing.T) {
	t.Helper()
	require.NoError(t, checkInvariants(e.users))
	require.NoError(t, checkInvariants(e.items))
	require.NoError(t, checkInvariants(e.boxes))
}

// Panics, as errors a row can assert.
var errBadPanicked = errors.New("the call panicked")

type badPanicError struct{ v any }

func (e *badPanicError) Error() string { return fmt.Sprint("panic: ", e.v) }
func (e *badPanicError) Unwrap() error { return errBadPanicked }

type badPanicValue struct{ where string }

// badPanic runs fn and returns its panic as a *badPanicError.
func badPanic(fn func()) error {
	if v := recovered(fn); v != nil {
		return &badPanicError{v}
	}
	return nil
}

var errBadCallback = errors.New("callback refused")

// badRow is one case of the catalogue.
type badRow struct {
	name  string
	setup func(t *testing.T, e *badEnv) // before the snapshot
	call  func(t *testing.T, e *badEnv) error
	is    error // the sentinel; nil: the call must succeed and change nothing
	// as is the typed error that carries the context, compared whole
	// through errors.As; nil: the error is the sentinel itself, bare.
	as   error
	next func(e *badEnv) error // the next valid call, which must succeed
}

func badInsertUser(email string) func(e *badEnv) error {
	return func(e *badEnv) error {
		username := email
		if len(username) > 64 {
			username = "long"
		}
		_, err := e.users.Insert(User{Email: email, Org: "new", Username: username})
		return err
	}
}

// badRows is the catalogue.
func badRows() []badRow {
	leo, ann := fixtureUser(0), fixtureUser(1)
	negZero := math.Copysign(0, -1)
	return []badRow{
		// Zero and empty keys.
		{
			name: "zero int primary key on a table that does not assign keys",
			call: func(t *testing.T, e *badEnv) error { _, err := e.boxes.Insert(badBox{Label: "no number"}); return err },
			is:   ErrInvalidKey, as: &KeyError{Table: "Box", Field: "no", Reason: "the primary key is zero", Err: ErrInvalidKey},
			next: func(e *badEnv) error { _, err := e.boxes.Insert(badBox{No: 1, Label: "one"}); return err },
		},
		{
			name: "empty string primary key",
			call: func(t *testing.T, e *badEnv) error { _, err := e.items.Insert(badItem{Price: 1}); return err },
			is:   ErrInvalidKey, as: &KeyError{Table: "Item", Field: "sku", Reason: "the primary key is zero", Err: ErrInvalidKey},
			next: func(e *badEnv) error { _, err := e.items.Insert(badItem{SKU: "gadget", Price: 1}); return err },
		},
		{
			name: "zero primary key in Update of an auto-keyed table",
			call: func(t *testing.T, e *badEnv) error { u := leo; u.ID = 0; return e.users.Update(u) },
			is:   ErrInvalidKey, as: &KeyError{Table: "User", Field: "id", Reason: "the primary key is zero", Err: ErrInvalidKey},
			next: func(e *badEnv) error { u := leo; u.Name = "Leonard"; return e.users.Update(u) },
		},
		{
			name: "update of a missing record",
			call: func(t *testing.T, e *badEnv) error { u := leo; u.ID = 99; return e.users.Update(u) },
			is:   ErrNotFound, as: &NotFoundError{Table: "User"},
			next: func(e *badEnv) error { _, _, err := e.users.Upsert(User{ID: 99, Email: "new@example.com"}); return err },
		},

		// Unknown fields and indexes.
		{
			name: "unknown field in Get",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Get(uNickname.Eq("leo")); return err },
			is:   ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error { _, err := e.users.Get(uEmail.Eq(leo.Email)); return err },
		},
		{
			name: "unknown field in a condition of Delete",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Delete(uOrg.Eq("acme"), Or(uAge.Eq(30), uNickname.Eq("x")))
				return err
			},
			is: ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error { _, err := e.users.Delete(uOrg.Eq("acme"), uUsername.Eq("leo")); return err },
		},
		{
			name: "unknown field in OrderBy",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter().OrderBy(uNickname.Asc()).Collect()
				return err
			},
			is: ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error { _, err := e.users.Filter().OrderBy(uName.Asc()).Collect(); return err },
		},
		{
			name: "unknown field in GetOrCreate's lookup",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uNickname.Eq("x"), func() (User, error) {
					t.Error("create called for an invalid lookup")
					return User{}, nil
				})
				return err
			},
			is: ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uName.Eq("Zed"), func() (User, error) { return User{Email: "zed@example.com", Name: "Zed"}, nil })
				return err
			},
		},
		{
			// A failed read must not poison the transaction: the store used
			// to note the read although it could not run, and every commit
			// then failed with ErrConflict (db.Update ran fn maxAttempts
			// times first). Table.Get and Query.Get had the flaw.
			name: "unknown field in Get inside a write transaction",
			setup: func(t *testing.T, e *badEnv) {
				var err error
				e.tx, err = e.db.Begin(true)
				require.NoError(t, err)
			},
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.In(e.tx).Get(uNickname.Eq("leo")); return err },
			is:   ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error {
				if _, err := e.users.In(e.tx).Insert(User{Email: "tx@example.com"}); err != nil {
					return err
				}
				return e.tx.Commit()
			},
		},
		{
			name: "unknown field in Query.Get inside a write transaction",
			setup: func(t *testing.T, e *badEnv) {
				var err error
				e.tx, err = e.db.Begin(true)
				require.NoError(t, err)
			},
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.In(e.tx).Filter(uOrg.Eq("acme")).Get(uNickname.Eq("leo"))
				return err
			},
			is: ErrUnknownField, as: userFieldError("nickname"),
			next: func(e *badEnv) error {
				if _, err := e.users.In(e.tx).Filter(uOrg.Eq("acme")).Get(uUsername.Eq("leo")); err != nil {
					return err
				}
				return e.tx.Commit()
			},
		},
		{
			name: "unknown index in DropIndex",
			call: func(t *testing.T, e *badEnv) error { return e.users.DropIndex("user_nickname") },
			is:   ErrIndexNotFound, as: &IndexNotFoundError{Table: "User", Index: "user_nickname"},
			next: func(e *badEnv) error { return e.users.DropIndex("user_age") },
		},
		{
			name: "Prefix on a field that is not a string",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter(uAge.Prefix(3)).Collect(); return err },
			is:   ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "Prefix on field age, which is not a string"},
			next: func(e *badEnv) error { _, err := e.users.Filter(uName.Prefix("A")).Collect(); return err },
		},

		// Floats.
		{
			name: "NaN in a unique float index",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.items.Insert(badItem{SKU: "nan", Price: math.NaN()})
				return err
			},
			is: ErrInvalidKey, as: &KeyError{Table: "Item", Field: "price", Reason: "NaN cannot be compared", Err: ErrInvalidKey},
			next: func(e *badEnv) error { _, err := e.items.Insert(badItem{SKU: "nan", Price: 1.25}); return err },
		},
		{
			name: "NaN in a condition",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.items.Filter(biPrice.Lt(math.NaN())).Collect()
				return err
			},
			is: ErrInvalidKey, as: &KeyError{Table: "Item", Field: "price", Reason: "NaN cannot be compared", Err: ErrInvalidKey},
			next: func(e *badEnv) error { _, err := e.items.Filter(biPrice.Lt(10)).Collect(); return err },
		},
		{
			name: "-0 collides with +0 in a unique float index",
			setup: func(t *testing.T, e *badEnv) {
				_, err := e.items.Insert(badItem{SKU: "free", Price: 0})
				require.NoError(t, err)
			},
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.items.Insert(badItem{SKU: "negfree", Price: negZero})
				return err
			},
			is: ErrUniqueViolation, as: &UniqueViolationError{Table: "Item", Constraint: "item_price", Fields: []string{"price"}, Values: []string{"-0"},
				HeldBy: "free", PKField: "sku", Existing: badItem{SKU: "free", Price: 0}},
			next: func(e *badEnv) error {
				// A lookup by -0 finds the +0 record.
				it, err := e.items.Get(biPrice.Eq(negZero))
				if err == nil && it.SKU != "free" {
					err = fmt.Errorf("Get(price = -0) found %+v", it)
				}
				return err
			},
		},

		// Keys over MaxKeySize.
		{
			name: "key over MaxKeySize in Insert",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Insert(User{Email: strings.Repeat("x", MaxKeySize+1)})
				return err
			},
			is: ErrKeyTooLarge, as: &KeyError{Table: "User", Field: "email", Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", MaxKeySize+1, MaxKeySize), Err: ErrKeyTooLarge},
			next: badInsertUser(strings.Repeat("x", MaxKeySize)),
		},
		{
			name: "composite key over MaxKeySize in Insert",
			call: func(t *testing.T, e *badEnv) error {
				// 2000+2 and 2093+2 encoded bytes: one over.
				_, err := e.users.Insert(User{Email: "long@example.com", Org: strings.Repeat("o", 2000), Username: strings.Repeat("u", 2093)})
				return err
			},
			is: ErrKeyTooLarge, as: &KeyError{Table: "User", Field: "", Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", MaxKeySize+1, MaxKeySize), Err: ErrKeyTooLarge},
			next: func(e *badEnv) error {
				_, err := e.users.Insert(User{Email: "long@example.com", Org: strings.Repeat("o", 2000), Username: strings.Repeat("u", 2092)})
				return err
			},
		},

		// Duplicates.
		{
			name: "duplicate across records",
			call: func(t *testing.T, e *badEnv) error { return badInsertUser(leo.Email)(e) },
			is:   ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{leo.Email}, leo),
			next: badInsertUser("new@example.com"),
		},
		{
			name: "duplicate (org, username), both empty",
			setup: func(t *testing.T, e *badEnv) {
				_, err := e.users.Insert(User{Email: "empty1@example.com"})
				require.NoError(t, err)
			},
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Insert(User{Email: "empty2@example.com"})
				return err
			},
			is: ErrUniqueViolation, as: userViolation("org_username", []string{"org", "username"}, []string{"", ""}, User{ID: 5, Email: "empty1@example.com"}),
			next: func(e *badEnv) error {
				_, err := e.users.Insert(User{Email: "empty2@example.com", Username: "x"})
				return err
			},
		},
		{
			name: "duplicates inside one transaction",
			call: func(t *testing.T, e *badEnv) error {
				return e.db.Update(func(tx *Tx) error {
					if _, err := e.users.In(tx).Insert(User{ID: 10, Email: "twice@example.com", Username: "a"}); err != nil {
						return err
					}
					_, err := e.users.In(tx).Insert(User{ID: 11, Email: "twice@example.com", Username: "b"})
					return err
				})
			},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{"twice@example.com"}, User{ID: 10, Email: "twice@example.com", Username: "a"}),
			next: func(e *badEnv) error {
				return e.db.Update(func(tx *Tx) error { _, err := e.users.In(tx).Insert(User{Email: "twice@example.com"}); return err })
			},
		},
		{
			name: "duplicates inside one InsertMany",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.InsertMany([]User{{ID: 10, Email: "twice@example.com", Username: "a"}, {ID: 11, Email: "twice@example.com", Username: "b"}}, OnConflict[User]{})
				return err
			},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{"twice@example.com"}, User{ID: 10, Email: "twice@example.com", Username: "a"}),
			next: func(e *badEnv) error {
				r, err := e.users.InsertMany([]User{{ID: 10, Email: "twice@example.com", Username: "a"}, {ID: 11, Email: "twice@example.com", Username: "b"}}, OnConflict[User]{Ignore: true})
				if err == nil && (len(r.Inserted) != 1 || len(r.Skipped) != 1) {
					err = fmt.Errorf("InsertMany ignoring conflicts: %+v", r)
				}
				return err
			},
		},
		{
			name: "duplicate between a transaction and the store",
			call: func(t *testing.T, e *badEnv) error {
				return e.db.Update(func(tx *Tx) error { _, err := e.users.In(tx).Insert(User{Email: ann.Email}); return err })
			},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{ann.Email}, ann),
			next: func(e *badEnv) error {
				return e.db.Update(func(tx *Tx) error { _, err := e.users.In(tx).Insert(User{Email: "fresh@example.com"}); return err })
			},
		},
		{
			name: "duplicate taken by a commit while the transaction ran",
			setup: func(t *testing.T, e *badEnv) {
				var err error
				e.tx, err = e.db.Begin(true)
				require.NoError(t, err)
				_, err = e.users.In(e.tx).Insert(User{Email: "race@example.com", Username: "tx"})
				require.NoError(t, err)
				_, err = e.users.Insert(User{Email: "race@example.com", Username: "outside"})
				require.NoError(t, err)
			},
			call: func(t *testing.T, e *badEnv) error { return e.tx.Commit() },
			is:   ErrConflict,
			next: func(e *badEnv) error {
				if err := e.tx.Rollback(); !errors.Is(err, ErrTxDone) {
					return fmt.Errorf("Rollback after a failed Commit: %v, want ErrTxDone", err)
				}
				return badInsertUser("race2@example.com")(e)
			},
		},
		{
			name: "update that moves an indexed field into a collision",
			call: func(t *testing.T, e *badEnv) error { u := ann; u.Email = leo.Email; return e.users.Update(u) },
			is:   ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{leo.Email}, leo),
			next: func(e *badEnv) error { u := ann; u.Email = "ann2@example.com"; return e.users.Update(u) },
		},
		{
			name: "Query.Update that moves two records onto one key",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter(uOrg.Eq("acme")).Update(func(u User) (User, error) { u.Username = "same"; return u, nil })
				return err
			},
			is: ErrUniqueViolation, as: userViolation("org_username", []string{"org", "username"}, []string{"acme", "same"}, User{ID: 1, Email: leo.Email, Org: "acme", Username: "same", Name: "Leo", Age: 30}),
			next: func(e *badEnv) error {
				_, err := e.users.Filter(uOrg.Eq("acme")).Update(func(u User) (User, error) { u.Name += "!"; return u, nil })
				return err
			},
		},
		{
			name: "UpdateOrCreate whose update collides",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.UpdateOrCreate(uEmail.Eq(ann.Email),
					func(u User) (User, error) { u.Org, u.Username = leo.Org, leo.Username; return u, nil },
					func() (User, error) { return User{}, errBadCallback })
				return err
			},
			is: ErrUniqueViolation, as: userViolation("org_username", []string{"org", "username"}, []string{leo.Org, leo.Username}, leo),
			next: func(e *badEnv) error {
				_, _, err := e.users.UpdateOrCreate(uEmail.Eq(ann.Email),
					func(u User) (User, error) { u.Age++; return u, nil },
					func() (User, error) { return User{}, errBadCallback })
				return err
			},
		},
		{
			name: "Query.Update whose callback changes the primary key",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter(uEmail.Eq(leo.Email)).Update(func(u User) (User, error) { u.ID = 77; return u, nil })
				return err
			},
			is: ErrInvalidKey, as: &KeyError{Table: "User", Field: "id", Reason: "update changed the primary key", Err: ErrInvalidKey},
			next: func(e *badEnv) error {
				_, err := e.users.Filter(uEmail.Eq(leo.Email)).Update(func(u User) (User, error) { u.Age = 31; return u, nil })
				return err
			},
		},
		{
			name: "InsertMany with both Ignore and Update",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.InsertMany([]User{{Email: "x@example.com"}}, OnConflict[User]{Ignore: true,
					Update: func(existing, _ User) (User, error) { return existing, nil }})
				return err
			},
			is: ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "OnConflict sets both Ignore and Update"},
			next: func(e *badEnv) error {
				_, err := e.users.InsertMany([]User{{Email: leo.Email, Name: "merged"}}, OnConflict[User]{
					Update: func(existing, proposed User) (User, error) { existing.Name = proposed.Name; return existing, nil }})
				return err
			},
		},

		// Create callbacks.
		{
			name: "create callback fails",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uEmail.Eq("new@example.com"), func() (User, error) { return User{}, errBadCallback })
				return err
			},
			is: errBadCallback, as: &CallbackError{Table: "User", Callback: "create", Err: errBadCallback},
			next: func(e *badEnv) error {
				_, created, err := e.users.GetOrCreate(uEmail.Eq("new@example.com"), func() (User, error) { return User{Email: "new@example.com"}, nil })
				if err == nil && !created {
					err = errors.New("not created")
				}
				return err
			},
		},
		{
			name: "create callback panics",
			call: func(t *testing.T, e *badEnv) error {
				return badPanic(func() {
					_, _, _ = e.users.GetOrCreate(uName.Eq("Zed"), func() (User, error) { panic(badPanicValue{"create"}) })
				})
			},
			is: errBadPanicked, as: &badPanicError{badPanicValue{"create"}},
			next: func(e *badEnv) error { // the same lookup, so the same stripe
				_, _, err := e.users.GetOrCreate(uName.Eq("Zed"), func() (User, error) { return User{Email: "zed@example.com", Name: "Zed"}, nil })
				return err
			},
		},
		{
			name: "update callback panics",
			call: func(t *testing.T, e *badEnv) error {
				return badPanic(func() {
					_, _, _ = e.users.UpdateOrCreate(uEmail.Eq(leo.Email),
						func(User) (User, error) { panic(badPanicValue{"update"}) },
						func() (User, error) { return User{}, errBadCallback })
				})
			},
			is: errBadPanicked, as: &badPanicError{badPanicValue{"update"}},
			next: func(e *badEnv) error {
				_, _, err := e.users.UpdateOrCreate(uEmail.Eq(leo.Email),
					func(u User) (User, error) { u.Age++; return u, nil },
					func() (User, error) { return User{}, errBadCallback })
				return err
			},
		},
		{
			name: "transaction function panics",
			call: func(t *testing.T, e *badEnv) error {
				return badPanic(func() {
					_ = e.db.Update(func(tx *Tx) error {
						if _, err := e.users.In(tx).Insert(User{Email: "in-tx@example.com"}); err != nil {
							return err
						}
						panic(badPanicValue{"tx"})
					})
				})
			},
			is: errBadPanicked, as: &badPanicError{badPanicValue{"tx"}},
			next: func(e *badEnv) error {
				return e.db.Update(func(tx *Tx) error { _, err := e.users.In(tx).Insert(User{Email: "in-tx@example.com"}); return err })
			},
		},
		{
			name: "create callback returns a record not matching the lookup",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uEmail.Eq("want@example.com"), func() (User, error) { return User{Email: "other@example.com"}, nil })
				return err
			},
			is: ErrInvalidLookup, as: &LookupError{Table: "User", Reason: `the created record has email "other@example.com", which does not match email="want@example.com"`},
			next: func(e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uEmail.Eq("want@example.com"), func() (User, error) { return User{Email: "want@example.com"}, nil })
				return err
			},
		},
		{
			name: "lookup matching several records",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uAge.Eq(30), func() (User, error) {
					t.Error("create called though records match")
					return User{}, nil
				})
				return err
			},
			is: ErrMultipleReturned, as: &MultipleReturnedError{Table: "User", Count: 2},
			next: func(e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uAge.Eq(41), func() (User, error) { return User{}, errors.New("create called though Bob matches") })
				return err
			},
		},

		// Ranges.
		{
			name: "inverted range: Between(hi, lo)",
			call: func(t *testing.T, e *badEnv) error {
				us, err := e.users.Filter(uAge.Between(41, 25)).Collect()
				assert.Empty(t, us)
				return err
			},
			next: func(e *badEnv) error { _, err := e.users.Filter(uAge.Between(25, 41)).Collect(); return err },
		},
		{
			name: "inverted range: Gt(hi) with Lt(lo), on a unique index",
			call: func(t *testing.T, e *badEnv) error {
				n, err := e.users.Filter(uEmail.Gt("z"), uEmail.Lt("a")).Count()
				assert.Zero(t, n)
				return err
			},
			next: func(e *badEnv) error { _, err := e.users.Filter(uEmail.Gt("a"), uEmail.Lt("z")).Count(); return err },
		},

		// Limits.
		{
			name: "negative Limit",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Limit(-1).Collect(); return err },
			is:   ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "negative limit -1"},
			next: func(e *badEnv) error { _, err := e.users.Filter().Limit(1).Collect(); return err },
		},
		{
			name: "negative Limit on Query.Delete",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Limit(-3).Delete(); return err },
			is:   ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "negative limit -3"},
			next: func(e *badEnv) error { _, err := e.users.Filter(uAge.Eq(25)).Limit(1).Delete(); return err },
		},
		{
			name: "negative Offset",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Offset(-1).Count(); return err },
			is:   ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "negative offset -1"},
			next: func(e *badEnv) error { _, err := e.users.Filter().Offset(1).Count(); return err },
		},

		// Transactions.
		{
			name: "write in a committed transaction",
			setup: func(t *testing.T, e *badEnv) {
				var err error
				e.tx, err = e.db.Begin(true)
				require.NoError(t, err)
				require.NoError(t, e.tx.Commit())
			},
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.In(e.tx).Insert(User{Email: "late@example.com"})
				return err
			},
			is: ErrTxDone, as: &AccessError{Table: "User", Err: ErrTxDone},
			next: func(e *badEnv) error {
				return e.db.Update(func(tx *Tx) error { _, err := e.users.In(tx).Insert(User{Email: "late@example.com"}); return err })
			},
		},
		{
			name: "read, Commit and Rollback of a rolled-back transaction",
			setup: func(t *testing.T, e *badEnv) {
				var err error
				e.tx, err = e.db.Begin(true)
				require.NoError(t, err)
				_, err = e.users.In(e.tx).Insert(User{Email: "gone@example.com"})
				require.NoError(t, err)
				require.NoError(t, e.tx.Rollback())
			},
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.In(e.tx).Get(uEmail.Eq(leo.Email))
				assert.ErrorIs(t, e.tx.Commit(), ErrTxDone)
				assert.ErrorIs(t, e.tx.Rollback(), ErrTxDone)
				assert.ErrorIs(t, e.tx.Savepoint(func(*Tx) error { return nil }), ErrTxDone)
				return err
			},
			is: ErrTxDone, as: &AccessError{Table: "User", Err: ErrTxDone},
			next: func(e *badEnv) error { _, err := e.users.Get(uEmail.Eq(leo.Email)); return err },
		},
		{
			name: "write in a read-only transaction",
			call: func(t *testing.T, e *badEnv) error {
				return e.db.View(func(tx *Tx) error {
					ut := e.users.In(tx)
					assert.ErrorIs(t, ut.Update(leo), ErrReadOnly)
					_, err := ut.Delete(uEmail.Eq(leo.Email))
					assert.ErrorIs(t, err, ErrReadOnly)
					_, _, err = ut.GetOrCreate(uEmail.Eq("ro@example.com"), func() (User, error) { return User{Email: "ro@example.com"}, nil })
					assert.ErrorIs(t, err, ErrReadOnly)
					assert.ErrorIs(t, tx.Savepoint(func(*Tx) error { return nil }), ErrReadOnly)
					_, err = ut.Insert(User{Email: "ro@example.com"})
					return err
				})
			},
			is: ErrReadOnly, as: &AccessError{Table: "User", Err: ErrReadOnly},
			next: func(e *badEnv) error { _, err := e.users.Insert(User{Email: "ro@example.com"}); return err },
		},

		// Schemas.
		{
			name: "bad schema: two primary keys",
			call: func(t *testing.T, e *badEnv) error {
				_, err := NewTable(e.db, "Twice", PrimaryKey(uID), PrimaryKey(uEmail))
				return err
			},
			is: ErrSchema, as: &SchemaError{Table: "Twice", Reason: "two primary keys"},
			next: func(e *badEnv) error { _, err := NewTable(e.db, "Twice", PrimaryKey(uID)); return err },
		},
		{
			name: "bad schema: duplicate index names",
			call: func(t *testing.T, e *badEnv) error {
				_, err := NewTable(e.db, "Dup", PrimaryKey(uID), Unique("dup", uEmail), Index("dup", uAge))
				return err
			},
			is: ErrSchema, as: &SchemaError{Table: "Dup", Reason: `two indexes are named "dup"`},
			next: func(e *badEnv) error {
				_, err := NewTable(e.db, "Dup", PrimaryKey(uID), Unique("dup", uEmail))
				return err
			},
		},
		{
			name: "bad schema: unique index with no fields",
			call: func(t *testing.T, e *badEnv) error {
				_, err := NewTable(e.db, "NoFields", PrimaryKey(uID), Unique[User, string]("nothing", nil))
				return err
			},
			is: ErrSchema, as: &SchemaError{Table: "NoFields", Reason: `a field is nil; index "nothing" has no fields`},
			next: func(e *badEnv) error {
				_, err := NewTable(e.db, "NoFields", PrimaryKey(uID), Unique("nothing", uEmail))
				return err
			},
		},
		{
			// Records are values and T must be a struct: a nil record cannot
			// be written.
			name: "bad schema: a record type that is not a struct",
			call: func(t *testing.T, e *badEnv) error {
				_, err := NewTable(e.db, "Ints", PrimaryKey(Field("v", func(i *int) int { return *i })))
				return err
			},
			is: ErrSchema, as: &SchemaError{Table: "Ints", Reason: "records must be structs, not int"},
			next: func(e *badEnv) error {
				type wrapped struct{ V int }
				_, err := NewTable(e.db, "Ints", PrimaryKey(Field("v", func(w *wrapped) int { return w.V })))
				return err
			},
		},

		// Lifecycle.
		{
			name: "closed DB",
			call: func(t *testing.T, e *badEnv) error {
				require.NoError(t, e.db.Close())
				_, err := e.users.Get(uEmail.Eq(leo.Email))
				assert.ErrorIs(t, err, ErrClosed)
				_, err = e.db.Begin(false)
				assert.ErrorIs(t, err, ErrClosed)
				assert.ErrorIs(t, e.db.Update(func(*Tx) error { return nil }), ErrClosed)
				_, err = e.users.Filter().Collect()
				assert.ErrorIs(t, err, ErrClosed)
				_, err = e.db.Fork()
				assert.ErrorIs(t, err, ErrClosed)
				_, err = e.users.On(e.db)
				assert.ErrorIs(t, err, ErrClosed)
				assert.ErrorIs(t, e.db.Snapshot(io.Discard), ErrClosed)
				assert.ErrorIs(t, e.db.Restore(strings.NewReader("")), ErrClosed)
				_, err = e.users.Insert(User{Email: "closed@example.com"})
				return err
			},
			is: ErrClosed, as: &AccessError{Table: "User", Err: ErrClosed},
			next: func(e *badEnv) error { return e.db.Close() }, // idempotent
		},
		{
			name: "read through a transaction begun before Close",
			setup: func(t *testing.T, e *badEnv) {
				tx, err := e.db.Begin(false)
				require.NoError(t, err)
				e.tx = tx
			},
			call: func(t *testing.T, e *badEnv) error {
				require.NoError(t, e.db.Close())
				assert.Zero(t, e.users.In(e.tx).Len())
				_, err := e.users.In(e.tx).Get(uEmail.Eq(leo.Email))
				return err
			},
			is: ErrClosed, as: &AccessError{Table: "User", Err: ErrClosed},
			next: func(e *badEnv) error { return e.tx.Rollback() },
		},
		{
			name: "table handle with a transaction of another DB",
			call: func(t *testing.T, e *badEnv) error {
				other := newTestDB(t)
				return other.Update(func(tx *Tx) error {
					_, err := e.users.In(tx).Insert(User{Email: "other@example.com"})
					return err
				})
			},
			is: ErrOtherDB, as: &AccessError{Table: "User", Err: ErrOtherDB},
			next: badInsertUser("other@example.com"),
		},
		{
			name: "table handle on a DB that is not a fork of its own",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.On(newTestDB(t))
				return err
			},
			is: ErrOtherDB, as: &AccessError{Table: "User", Err: ErrOtherDB},
			next: badInsertUser("other@example.com"),
		},

		// Nil callbacks: an error, not a nil dereference, hit or miss.
		{
			name: "GetOrCreate with a nil create, on a hit",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uEmail.Eq(leo.Email), nil)
				return err
			},
			is: ErrNilCallback, as: &NilCallbackError{Call: "User.GetOrCreate", Callback: "create"},
			next: func(e *badEnv) error {
				_, _, err := e.users.GetOrCreate(uEmail.Eq(leo.Email), func() (User, error) { return leo, nil })
				return err
			},
		},
		{
			name: "GetOrCreate of a query with a nil create",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.Filter(uOrg.Eq("o")).GetOrCreate(uEmail.Eq("new@example.com"), nil)
				return err
			},
			is: ErrNilCallback, as: &NilCallbackError{Call: "User.Filter(…).GetOrCreate", Callback: "create"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "UpdateOrCreate with a nil update",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.UpdateOrCreate(uEmail.Eq(leo.Email), nil, func() (User, error) { return leo, nil })
				return err
			},
			is: ErrNilCallback, as: &NilCallbackError{Call: "User.UpdateOrCreate", Callback: "update"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "UpdateOrCreate with a nil create",
			call: func(t *testing.T, e *badEnv) error {
				_, _, err := e.users.UpdateOrCreate(uEmail.Eq("new@example.com"), func(u User) (User, error) { return u, nil }, nil)
				return err
			},
			is: ErrNilCallback, as: &NilCallbackError{Call: "User.UpdateOrCreate", Callback: "create"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "Query.Update with a nil function",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Update(nil); return err },
			is:   ErrNilCallback, as: &NilCallbackError{Call: "User.Filter(…).Update", Callback: "fn"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "DB.Update with a nil function",
			call: func(t *testing.T, e *badEnv) error { return e.db.Update(nil) },
			is:   ErrNilCallback, as: &NilCallbackError{Call: "DB.Update", Callback: "fn"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "DB.View with a nil function",
			call: func(t *testing.T, e *badEnv) error { return e.db.View(nil) },
			is:   ErrNilCallback, as: &NilCallbackError{Call: "DB.View", Callback: "fn"},
			next: badInsertUser("new@example.com"),
		},
		{
			name: "Savepoint with a nil function",
			call: func(t *testing.T, e *badEnv) error {
				return e.db.Update(func(tx *Tx) error {
					if _, err := e.users.In(tx).Insert(User{Email: "inside@example.com"}); err != nil {
						return err
					}
					return tx.Savepoint(nil)
				})
			},
			is: ErrNilCallback, as: &NilCallbackError{Call: "Tx.Savepoint", Callback: "fn"},
			next: badInsertUser("inside@example.com"),
		},

		// Changes to a query after Limit or Offset took a slice of it.
		{
			name: "Filter after a slice",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter().Limit(2).Filter(uAge.Eq(30)).Collect()
				return err
			},
			is: ErrSliced, as: &SliceError{Table: "User", Call: "Filter"},
			next: func(e *badEnv) error { _, err := e.users.Filter(uAge.Eq(30)).Limit(2).Collect(); return err },
		},
		{
			name: "Exclude after an Offset, then Delete",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter().Offset(1).Exclude(uAge.Eq(30)).Delete()
				return err
			},
			is: ErrSliced, as: &SliceError{Table: "User", Call: "Exclude"},
			next: func(e *badEnv) error { _, err := e.users.Filter().Exclude(uAge.Eq(30)).Offset(1).Delete(); return err },
		},
		{
			name: "OrderBy after a slice, then Update",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter().Limit(2).OrderBy(uAge.Desc()).Update(func(u User) (User, error) {
					t.Error("Update called its function")
					return u, nil
				})
				return err
			},
			is: ErrSliced, as: &SliceError{Table: "User", Call: "OrderBy"},
			next: func(e *badEnv) error {
				_, err := e.users.Filter().OrderBy(uAge.Desc()).Limit(2).Update(func(u User) (User, error) { return u, nil })
				return err
			},
		},
		{
			name: "Get with a condition on a slice",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Limit(2).Get(uID.Eq(1)); return err },
			is:   ErrSliced, as: &SliceError{Table: "User", Call: "Get"},
			next: func(e *badEnv) error { _, err := e.users.Filter().Limit(1).Get(); return err },
		},
		{
			name: "Latest on a slice",
			call: func(t *testing.T, e *badEnv) error { _, err := e.users.Filter().Offset(1).Latest(uAge); return err },
			is:   ErrSliced, as: &SliceError{Table: "User", Call: "Latest"},
			next: func(e *badEnv) error { _, err := e.users.Filter().Latest(uAge); return err },
		},
		{
			name: "InBulk on a slice",
			call: func(t *testing.T, e *badEnv) error {
				_, err := InBulk(e.users.Filter().Limit(3), uID, 1, 2)
				return err
			},
			is: ErrSliced, as: &SliceError{Table: "User", Call: "InBulk"},
			next: func(e *badEnv) error { _, err := InBulk(e.users.Filter(), uID, 1, 2); return err },
		},
		{
			name: "GetOrCreate on a slice, inside a write transaction",
			call: func(t *testing.T, e *badEnv) error {
				return e.db.Update(func(tx *Tx) error {
					_, _, err := e.users.In(tx).Filter(uOrg.Eq("acme")).Limit(1).GetOrCreate(uEmail.Eq("new@example.com"), func() (User, error) {
						t.Error("GetOrCreate called create")
						return User{Email: "new@example.com"}, nil
					})
					return err
				})
			},
			is: ErrSliced, as: &SliceError{Table: "User", Call: "GetOrCreate"},
			next: func(e *badEnv) error {
				_, _, err := e.users.Filter(uOrg.Eq("acme")).GetOrCreate(uEmail.Eq("new@example.com"), func() (User, error) {
					return User{Email: "new@example.com", Org: "acme", Username: "new"}, nil
				})
				return err
			},
		},
		{
			name: "a negative Limit before a Filter after a slice: the first mistake",
			call: func(t *testing.T, e *badEnv) error {
				_, err := e.users.Filter().Limit(-1).Offset(2).Filter(uAge.Eq(30)).Count()
				return err
			},
			is: ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "negative limit -1"},
			next: func(e *badEnv) error { _, err := e.users.Filter(uAge.Eq(30)).Offset(2).Count(); return err },
		},
	}
}

// The messages of the slice error are Django's sentences, and a
// FieldError's choices stay short however many fields a table declares.
func TestBadInput_Messages(t *testing.T) {
	_, users := newUsers(t)
	for call, want := range map[string]string{
		"Filter":   "recstore: User.Filter: cannot filter a query once a slice has been taken",
		"Exclude":  "recstore: User.Exclude: cannot filter a query once a slice has been taken",
		"OrderBy":  "recstore: User.OrderBy: cannot reorder a query once a slice has been taken",
		"Earliest": "recstore: User.Earliest: cannot change a query once a slice has been taken",
		"InBulk":   "recstore: User.InBulk: cannot use limit or offset with InBulk",
	} {
		var err error
		q := users.Filter().Limit(1)
		switch call {
		case "Filter":
			_, err = q.Filter(uAge.Eq(1)).Count()
		case "Exclude":
			_, err = q.Exclude(uAge.Eq(1)).Count()
		case "OrderBy":
			_, err = q.OrderBy(uAge.Asc()).Count()
		case "Earliest":
			_, err = q.Earliest(uAge)
		case "InBulk":
			_, err = InBulk(q, uID, 1)
		}
		assert.EqualError(t, err, want)
	}

	type wide struct{ ID, V int }
	opts := []TableOption[wide]{PrimaryKey(Field("id", func(w *wide) int { return w.ID }))}
	for i := range 24 {
		opts = append(opts, Fields(Field(fmt.Sprint("f", i), func(w *wide) int { return w.V })))
	}
	tbl, err := NewTable(newTestDB(t), "Wide", opts...)
	require.NoError(t, err)
	_, err = tbl.Filter(Field("nick", func(w *wide) int { return w.V }).Eq(1)).Count()
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Len(t, fe.Choices, 25)
	assert.Equal(t, `recstore: table Wide has no field "nick" (choices are: id, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18 and 5 more)`, err.Error())
}

// TestBadInput is the catalogue of bad input: for each row, (a) the
// sentinel matches with errors.Is, (b) the typed error carries the context
// (errors.As), (c) every table's records are as before and the invariant
// checker passes, (d) the next valid call succeeds (within a timeout: a
// lock left held would block it).
func TestBadInput(t *testing.T) {
	for _, row := range badRows() {
		t.Run(row.name, func(t *testing.T) {
			e := newBadEnv(t)
			if row.setup != nil {
				row.setup(t, e)
			}
			before := e.snapshot(t)
			err := row.call(t, e)
			switch {
			case row.is == nil:
				require.NoError(t, err)
			case row.as == nil:
				require.Equal(t, row.is, err, "a bare sentinel, without context")
			default:
				require.ErrorIs(t, err, row.is)
				requireErrorAs(t, err, row.as)
			}
			require.Equal(t, before, e.snapshot(t), "the records changed")
			e.check(t)

			var next error
			within(t, testTimeout, "the next valid call", func() { next = row.next(e) })
			require.NoError(t, next, "the next valid call")
			e.check(t)
		})
	}
}
