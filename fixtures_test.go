package recstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The fixtures every test file shares: the record types and tables that
// more than one file uses, each declared once, and the records most tests
// start from. A file keeps the record types only it uses.

// User is the record type most tests use.
type User struct {
	ID       int64
	Email    string
	Org      string
	Username string
	Name     string
	Age      int
}

func (u User) id() int64 { return u.ID }

var (
	uID       = Field("id", func(u *User) int64 { return u.ID })
	uEmail    = Field("email", func(u *User) string { return u.Email })
	uOrg      = Field("org", func(u *User) string { return u.Org })
	uUsername = Field("username", func(u *User) string { return u.Username })
	uName     = Field("name", func(u *User) string { return u.Name })
	uAge      = Field("age", func(u *User) int { return u.Age })

	// uNickname is a field of User that no table declares: conditions and
	// orders on it fail with ErrUnknownField.
	uNickname = Field("nickname", func(u *User) string { return u.Name })
)

// userTable declares the User table of newUsers with name as its name
// field: a test that needs to hook into the field accessors passes its
// own column "name".
func userTable(name *Column[User, string]) []TableOption[User] {
	return []TableOption[User]{
		AutoPrimaryKey(uID, func(u *User, id int64) { u.ID = id }),
		Unique("user_email", uEmail),
		Unique("org_username", uOrg, uUsername),
		Index("user_age", uAge),
		Fields(name),
	}
}

// userFields are the fields the User table of newUsers declares, in
// declaration order: a *FieldError's choices.
var userFields = []string{"id", "email", "org", "username", "age", "name"}

// userFieldError is the *FieldError of a condition or an order on field,
// which the User table of newUsers does not declare.
func userFieldError(field string) *FieldError {
	return &FieldError{Table: "User", Field: field, Choices: userFields}
}

// newUsers returns a fresh DB (newTestDB) with the User table: auto primary
// key id, unique email, unique (org, username), plain index on age, and
// name as a declared unindexed field.
func newUsers(t testing.TB, opts ...Options) (*DB, *Table[User]) {
	t.Helper()
	db := newTestDB(t, opts...)
	return db, newUsersIn(t, db)
}

// newUsersIn declares the User table of newUsers in db.
func newUsersIn(t testing.TB, db *DB) *Table[User] {
	t.Helper()
	users, err := NewTable(db, "User", userTable(uName)...)
	require.NoError(t, err)
	return users
}

// fixtureUsers are the users the fixtures store, ids 1 to 8 in this order.
// The first four (newFixtureUsers): Leo and Ann in acme aged 30, Bob in
// initech aged 41, Eve in initech aged 25 with Leo's username. The other
// four collide more: Zoe aged 30 too, Max with an empty org, Amy a second
// Ann in acme, Al a second Bob aged 41, in acmecorp, which starts with
// acme.
func fixtureUsers() []User {
	return []User{
		{Email: "leo@example.com", Org: "acme", Username: "leo", Name: "Leo", Age: 30},
		{Email: "ann@example.com", Org: "acme", Username: "ann", Name: "Ann", Age: 30},
		{Email: "bob@example.com", Org: "initech", Username: "bob", Name: "Bob", Age: 41},
		{Email: "eve@example.com", Org: "initech", Username: "leo", Name: "Eve", Age: 25},
		{Email: "zoe@example.org", Org: "umbrella", Username: "zoe", Name: "Zoe", Age: 30},
		{Email: "max@example.org", Org: "", Username: "max", Name: "Max", Age: 52},
		{Email: "amy@example.com", Org: "acme", Username: "amy", Name: "Ann", Age: 19},
		{Email: "al@example.net", Org: "acmecorp", Username: "al", Name: "Bob", Age: 41},
	}
}

// fixtureUser returns fixture user i (0-based) as the fixtures store it,
// with id i+1.
func fixtureUser(i int) User {
	u := fixtureUsers()[i]
	u.ID = int64(i + 1)
	return u
}

// newFixtureUsers returns newUsers (with opts, if any) holding the first
// four fixtureUsers, as stored (ids 1 to 4).
func newFixtureUsers(t testing.TB, opts ...Options) (*DB, *Table[User], []User) {
	t.Helper()
	return newFixtureUsersN(t, 4, opts...)
}

// newFixtureUsersN returns newUsers (with opts, if any) holding the first n
// fixtureUsers, as stored (ids 1 to n).
func newFixtureUsersN(t testing.TB, n int, opts ...Options) (*DB, *Table[User], []User) {
	t.Helper()
	db, users := newUsers(t, opts...)
	stored := storeUsers(t, users, fixtureUsers()[:n]...)
	for i, u := range stored {
		require.Equal(t, fixtureUser(i), u)
	}
	return db, users, stored
}

// newUsersHolding returns newUsers holding recs, inserted in order, and
// recs as stored.
func newUsersHolding(t testing.TB, recs ...User) (*DB, *Table[User], []User) {
	t.Helper()
	db, users := newUsers(t)
	return db, users, storeUsers(t, users, recs...)
}

// storeUsers inserts recs into users in order and returns them as stored:
// each one as given, with its primary key assigned if it had none.
func storeUsers(t testing.TB, users *Table[User], recs ...User) []User {
	t.Helper()
	out := make([]User, len(recs))
	for i, r := range recs {
		got, err := users.Insert(r)
		require.NoError(t, err)
		if r.ID == 0 {
			r.ID = got.ID
		}
		require.Equal(t, r, got)
		out[i] = got
	}
	return out
}

// userTagged returns a new user, not yet stored, with every key derived
// from tag (in org "tag", which no fixture user is in), so that two tags
// never collide.
func userTagged(tag string, age int) User {
	return User{Email: tag + "@example.com", Org: "tag", Username: tag, Name: tag, Age: age}
}

// newUserItems declares in db the Item table of User records whose primary
// key the caller chooses: id, and name and age declared unindexed.
func newUserItems(t testing.TB, db *DB) *Table[User] {
	t.Helper()
	items, err := NewTable(db, "Item", PrimaryKey(uID), Fields(uName, uAge))
	require.NoError(t, err)
	return items
}

// newAdmins declares in db the Admin table of User records: a second table
// of the same record type, over the same columns. Its primary key id is
// the caller's to choose; email is unique; name and age are declared
// unindexed.
func newAdmins(t testing.TB, db *DB) *Table[User] {
	t.Helper()
	admins, err := NewTable(db, "Admin",
		PrimaryKey(uID),
		Unique("admin_email", uEmail),
		Fields(uName, uAge))
	require.NoError(t, err)
	return admins
}

// Account is the record type of a second table, for transactions over
// several tables (the bank test, commit visibility).
type Account struct {
	ID      int64
	Owner   string
	Balance int64
}

var (
	accID      = Field("id", func(a *Account) int64 { return a.ID })
	accOwner   = Field("owner", func(a *Account) string { return a.Owner })
	accBalance = Field("balance", func(a *Account) int64 { return a.Balance })
)

// newAccounts declares the Account table in db: primary key id, unique
// owner, plain index on balance.
func newAccounts(t testing.TB, db *DB) *Table[Account] {
	t.Helper()
	accounts, err := NewTable(db, "Account", PrimaryKey(accID),
		Unique("account_owner", accOwner), Index("account_balance", accBalance))
	require.NoError(t, err)
	return accounts
}

// Part is a second record type, with a string primary key, for schemas
// that are not User's.
type Part struct {
	SKU   string
	Shop  string
	Code  string
	Color string
	Size  int
}

var (
	partSKU   = Field("sku", func(p *Part) string { return p.SKU })
	partShop  = Field("shop", func(p *Part) string { return p.Shop })
	partCode  = Field("code", func(p *Part) string { return p.Code })
	partColor = Field("color", func(p *Part) string { return p.Color })
	partSize  = Field("size", func(p *Part) int { return p.Size })
)

// newParts declares the Part table in db: string primary key sku,
// unique (shop, code), plain index (color, size).
func newParts(t testing.TB, db *DB) *Table[Part] {
	t.Helper()
	parts, err := NewTable(db, "Part",
		PrimaryKey(partSKU),
		Unique("shop_code", partShop, partCode),
		Index("color_size", partColor, partSize))
	require.NoError(t, err)
	return parts
}
