package recstore

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTable_InvalidSchema(t *testing.T) {
	setID := func(u *User, id int64) { u.ID = id }
	otherEmail := Field("email", func(u *User) string { return u.Email + "!" })
	var nilColumn *Column[User, string]
	tests := []struct {
		name   string
		table  string
		opts   []TableOption[User]
		reason string
	}{
		{
			name:   "no primary key",
			table:  "User",
			opts:   []TableOption[User]{Unique("user_email", uEmail)},
			reason: "no primary key",
		},
		{
			name:   "no options at all",
			table:  "User",
			reason: "no primary key",
		},
		{
			name:   "two primary keys",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), PrimaryKey(uEmail)},
			reason: "two primary keys",
		},
		{
			name:   "auto and plain primary key",
			table:  "User",
			opts:   []TableOption[User]{AutoPrimaryKey(uID, setID), PrimaryKey(uID)},
			reason: "two primary keys",
		},
		{
			name:   "duplicate index names",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Unique("dup", uEmail), Index("dup", uAge)},
			reason: `two indexes are named "dup"`,
		},
		{
			name:   "index named like the primary key",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Index("primary", uAge)},
			reason: `two indexes are named "primary"`,
		},
		{
			name:   "two different fields with one name",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Unique("user_email", uEmail), Index("email2", otherEmail)},
			reason: `two different fields are named "email"`,
		},
		{
			name:   "two different fields with one name in Fields",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Fields(uEmail, otherEmail)},
			reason: `two different fields are named "email"`,
		},
		{
			name:   "unique index with no fields",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Unique[User, string]("x", nil)},
			reason: `a field is nil; index "x" has no fields`,
		},
		{
			name:   "plain index with a nil field",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Index("x", uAge, nil)},
			reason: "a field is nil",
		},
		{
			name:   "plain index with a typed nil field",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Index("x", uAge, ColumnOf[User](nilColumn))},
			reason: "a field is nil",
		},
		{
			name:   "primary key on a nil field",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(nilColumn)},
			reason: `a field is nil; index "primary" has no fields`,
		},
		{
			name:   "index names a field twice",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Unique("x", uEmail, uEmail)},
			reason: `index "x" names field "email" twice`,
		},
		{
			name:   "index with an empty name",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Index("", uAge)},
			reason: "an index has an empty name",
		},
		{
			name:   "nil table option",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), nil},
			reason: "a table option is nil",
		},
		{
			name:   "empty table name",
			table:  "",
			opts:   []TableOption[User]{PrimaryKey(uID)},
			reason: "the table has no name",
		},
		{
			name:   "field with an empty name",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Fields(Field("", func(u *User) string { return u.Name }))},
			reason: "a field has an empty name",
		},
		{
			name:   "field with a nil accessor",
			table:  "User",
			opts:   []TableOption[User]{PrimaryKey(uID), Index("x", Field[User, string]("nick", nil))},
			reason: `field "nick" has a nil accessor`,
		},
		{
			name:   "auto primary key with a nil setter",
			table:  "User",
			opts:   []TableOption[User]{AutoPrimaryKey[User, int64](uID, nil)},
			reason: `auto primary key "id" has a nil setter`,
		},
		{
			name:  "every mistake at once",
			table: "",
			opts:  []TableOption[User]{nil, Index("x", uAge), Index("x", uName)},
			reason: `a table option is nil; the table has no name; no primary key; ` +
				`two indexes are named "x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newTestDB(t)
			tbl, err := NewTable(db, tt.table, tt.opts...)
			assert.Nil(t, tbl)
			requireSchemaError(t, err, tt.table, tt.reason)

			// A rejected declaration reserves nothing: the name is free.
			users, err := NewTable(db, "User", PrimaryKey(uID), Unique("user_email", uEmail))
			require.NoError(t, err)
			_, err = users.Insert(User{ID: 1, Email: "a@example.com"})
			require.NoError(t, err)
		})
	}
}

func TestNewTable_NonStructRecord(t *testing.T) {
	db := newTestDB(t)
	val := Field("value", func(p *int) int { return *p })
	tbl, err := NewTable(db, "Ints", PrimaryKey(val))
	assert.Nil(t, tbl)
	requireSchemaError(t, err, "Ints", "records must be structs, not int")

	ptr := Field("id", func(p **User) int64 { return (*p).ID })
	_, err = NewTable(db, "Ptrs", PrimaryKey(ptr))
	requireSchemaError(t, err, "Ptrs", "records must be structs, not ptr")
}

func TestNewTable_DuplicateName(t *testing.T) {
	db, users := newUsers(t)
	_, err := users.Insert(User{Email: "a@example.com"})
	require.NoError(t, err)
	before := dump(t, users)

	tests := []struct {
		name string
		decl func() error
	}{
		{"same record type", func() error {
			_, err := NewTable(db, "User", PrimaryKey(uID))
			return err
		}},
		{"other record type", func() error {
			_, err := NewTable(db, "User", PrimaryKey(partSKU))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireSchemaError(t, tt.decl(), "User", "the database already has a table of this name")
			assert.Equal(t, before, dump(t, users))
		})
	}

	// Another DB has its own names.
	_, other := newUsers(t)
	assert.Equal(t, 0, other.Len())
	// The names are case-sensitive, as Go's are.
	lower, err := NewTable(db, "user", PrimaryKey(uID))
	require.NoError(t, err)
	assert.Equal(t, "user", lower.Name())
}

func TestNewTable_Closed(t *testing.T) {
	db := newTestDB(t)
	require.NoError(t, db.Close())
	tbl, err := NewTable(db, "User", PrimaryKey(uID))
	assert.Nil(t, tbl)
	require.ErrorIs(t, err, ErrClosed)
}

func TestNewTable_SeveralTables(t *testing.T) {
	db, users := newUsers(t)
	parts := newParts(t, db)
	assert.Equal(t, "User", users.Name())
	assert.Equal(t, "Part", parts.Name())

	// A column may serve several tables of one record type.
	admins := newAdmins(t, db)

	u, err := users.Insert(User{Email: "leo@example.com", Org: "acme", Username: "leo"})
	require.NoError(t, err)
	// The same email in another table is no violation.
	a, err := admins.Insert(User{ID: 7, Email: "leo@example.com", Name: "Leo", Age: 40})
	require.NoError(t, err)
	p, err := parts.Insert(Part{SKU: "sku-1", Shop: "s1", Code: "c1", Color: "red", Size: 3})
	require.NoError(t, err)

	assert.Equal(t, 1, users.Len())
	assert.Equal(t, 1, admins.Len())
	assert.Equal(t, 1, parts.Len())

	got, err := users.Get(uEmail.Eq("leo@example.com"))
	require.NoError(t, err)
	assert.Equal(t, u, got)
	got, err = admins.Get(uEmail.Eq("leo@example.com"))
	require.NoError(t, err)
	assert.Equal(t, a, got)
	got, err = admins.Get(uAge.Eq(40), uName.Eq("Leo"))
	require.NoError(t, err)
	assert.Equal(t, a, got)
	gotPart, err := parts.Get(partSKU.Eq("sku-1"))
	require.NoError(t, err)
	assert.Equal(t, p, gotPart)

	// Deleting from one table leaves the others alone.
	_, err = users.Delete(uID.Eq(u.ID))
	require.NoError(t, err)
	assert.Equal(t, 0, users.Len())
	assert.Equal(t, 1, admins.Len())
	assert.Equal(t, 1, parts.Len())

	// A field of another table's index is unknown here.
	_, err = admins.Get(uOrg.Eq("acme"))
	requireErrorAs(t, err, &FieldError{Table: "Admin", Field: "org", Choices: []string{"id", "email", "name", "age"}})
}

func TestNewTable_StringPrimaryKey(t *testing.T) {
	db := newTestDB(t)
	parts := newParts(t, db)

	for _, sku := range []string{"b", "a", "c", "a\x00", ""} {
		_, err := parts.Insert(Part{SKU: sku, Shop: "s", Code: "code-" + sku})
		if sku == "" {
			requireKeyError(t, err, ErrInvalidKey, "Part", "sku", "the primary key is zero")
			assert.Equal(t, `recstore: invalid key in table Part for field "sku": the primary key is zero`, err.Error())
			continue
		}
		require.NoError(t, err)
	}
	var skus []string
	for _, p := range dump(t, parts) {
		skus = append(skus, p.SKU)
	}
	assert.Equal(t, []string{"a", "a\x00", "b", "c"}, skus)

	_, err := parts.Insert(Part{SKU: "a", Shop: "other", Code: "x"})
	requireErrorAs(t, err, &UniqueViolationError{Table: "Part", Constraint: "primary", Fields: []string{"sku"}, Values: []string{"a"},
		HeldBy: "a", PKField: "sku", Existing: Part{SKU: "a", Shop: "s", Code: "code-a"}})
	assert.Equal(t, `recstore: duplicate key value violates unique constraint "primary" on Part: (sku)=(a) already held by sku a`, err.Error())

	// Upsert of a new string key inserts, of an existing one replaces.
	_, inserted, err := parts.Upsert(Part{SKU: "d", Shop: "s", Code: "code-d"})
	require.NoError(t, err)
	assert.True(t, inserted)
	_, inserted, err = parts.Upsert(Part{SKU: "d", Shop: "s", Code: "code-d2"})
	require.NoError(t, err)
	assert.False(t, inserted)
	got, err := parts.Get(partShop.Eq("s"), partCode.Eq("code-d2"))
	require.NoError(t, err)
	assert.Equal(t, "d", got.SKU)
	_, err = parts.Get(partShop.Eq("s"), partCode.Eq("code-d"))
	requireNotFound(t, err, "Part")
}

func TestNewTable_CompositeIndexes(t *testing.T) {
	db := newTestDB(t)
	parts := newParts(t, db)
	recs := []Part{
		{SKU: "1", Shop: "s1", Code: "a", Color: "red", Size: 1},
		{SKU: "2", Shop: "s1", Code: "b", Color: "red", Size: 2},
		{SKU: "3", Shop: "s2", Code: "a", Color: "red", Size: 2},
		{SKU: "4", Shop: "s2", Code: "b", Color: "blue", Size: 2},
	}
	for _, p := range recs {
		_, err := parts.Insert(p)
		require.NoError(t, err)
	}

	// Composite unique: only the pair must be unique.
	_, err := parts.Insert(Part{SKU: "5", Shop: "s1", Code: "a"})
	require.ErrorIs(t, err, ErrUniqueViolation)
	requireErrorAs(t, err, &UniqueViolationError{Table: "Part", Constraint: "shop_code", Fields: []string{"shop", "code"},
		Values: []string{"s1", "a"}, HeldBy: "1", PKField: "sku", Existing: recs[0]})
	assert.Equal(t, recs, dump(t, parts))

	tests := []struct {
		name  string
		conds []Cond[Part]
		want  string // sku, or the error message
	}{
		{"composite unique", []Cond[Part]{partShop.Eq("s2"), partCode.Eq("a")}, "3"},
		{"composite unique reversed", []Cond[Part]{partCode.Eq("a"), partShop.Eq("s2")}, "3"},
		{"composite plain", []Cond[Part]{partColor.Eq("red"), partSize.Eq(1)}, "1"},
		{"composite plain several", []Cond[Part]{partColor.Eq("red"), partSize.Eq(2)}, "get() returned more than one Part -- it returned 2!"},
		{"plain prefix", []Cond[Part]{partColor.Eq("blue")}, "4"},
		{"plain prefix several", []Cond[Part]{partColor.Eq("red")}, "get() returned more than one Part -- it returned 3!"},
		{"unique prefix several", []Cond[Part]{partShop.Eq("s1")}, "get() returned more than one Part -- it returned 2!"},
		{"second field only", []Cond[Part]{partSize.Eq(1)}, "1"},
		{"no match", []Cond[Part]{partColor.Eq("blue"), partSize.Eq(1)}, "Part matching query does not exist."},
		{"prefix is not a string prefix", []Cond[Part]{partShop.Eq("s")}, "Part matching query does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parts.Get(tt.conds...)
			if err != nil {
				assert.Equal(t, tt.want, err.Error())
				return
			}
			assert.Equal(t, tt.want, got.SKU)
		})
	}
}

func TestNewTable_AutoPrimaryKeyInCompositeIndex(t *testing.T) {
	db := newTestDB(t)
	people, err := NewTable(db, "Person",
		AutoPrimaryKey(uID, func(u *User, id int64) { u.ID = id }),
		Index("org_id", uOrg, uID),
		Unique("id_email", uID, uEmail))
	require.NoError(t, err)

	for range 3 {
		_, err := people.Insert(User{Org: "acme", Email: "same@example.com"})
		require.NoError(t, err)
	}
	got, err := people.Get(uOrg.Eq("acme"), uID.Eq(2))
	require.NoError(t, err)
	assert.Equal(t, User{ID: 2, Org: "acme", Email: "same@example.com"}, got)
	got, err = people.Get(uEmail.Eq("same@example.com"), uID.Eq(3))
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.ID)
	// The index keys were computed with the assigned key: the invariant
	// checker, run at cleanup, recomputes them.
	require.NoError(t, checkInvariants(people))
}

func TestSchemaError_Is(t *testing.T) {
	err := error(&SchemaError{Table: "T", Reason: "r"})
	assert.True(t, errors.Is(err, ErrSchema))
	assert.False(t, errors.Is(err, ErrUnknownField))
	assert.Equal(t, `recstore: invalid schema for table "T": r`, err.Error())
}
