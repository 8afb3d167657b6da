package recstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of InsertMany (insertmany.go): what each OnConflict does with a
// record colliding with a stored one or with an earlier record of the
// batch, outside and inside a transaction. The bad-input rows of InsertMany
// are in badinput_test.go's catalogue; the model-based tests run it too.

// TestTable_InsertMany_OnConflict: outside a transaction, aborting stores
// nothing of a batch that collides, Ignore skips each colliding record and
// stores the rest, Update merges each into the record holding its key; a
// failing or misbehaving merge stores nothing. Every record prepared takes
// its auto-assigned key, stored or not.
func TestTable_InsertMany_OnConflict(t *testing.T) {
	leo, ann := fixtureUser(0), fixtureUser(1)
	fresh := func(tag string) User { return userTagged(tag, 7) }
	withEmail := func(tag, email string) User {
		u := fresh(tag)
		u.Email = email
		return u
	}
	stored := func(u User, id int64) User { u.ID = id; return u }
	errMerge := errors.New("merge failed")
	rename := func(existing, proposed User) (User, error) { existing.Name = proposed.Name; return existing, nil }
	tests := []struct {
		name string
		recs []User
		oc   OnConflict[User]
		want BulkResult[User]
		is   error // the sentinel; nil: success
		as   error // the typed error, compared whole
		next int64 // the key the next insert is assigned
	}{
		{
			name: "no collision", recs: []User{fresh("a"), fresh("b")},
			want: BulkResult[User]{Inserted: []User{stored(fresh("a"), 5), stored(fresh("b"), 6)}},
			next: 7,
		},
		{
			name: "abort on a stored record", recs: []User{fresh("a"), withEmail("b", leo.Email)},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{leo.Email}, leo),
			next: 7,
		},
		{
			name: "abort inside the batch", recs: []User{fresh("a"), withEmail("b", "a@example.com")},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{"a@example.com"}, stored(fresh("a"), 5)),
			next: 7,
		},
		{
			name: "ignore", recs: []User{fresh("a"), withEmail("b", ann.Email), withEmail("c", "a@example.com"), fresh("d")},
			oc: OnConflict[User]{Ignore: true},
			want: BulkResult[User]{Inserted: []User{stored(fresh("a"), 5), stored(fresh("d"), 8)},
				Skipped: []User{withEmail("b", ann.Email), withEmail("c", "a@example.com")}},
			next: 9,
		},
		{
			name: "update", recs: []User{fresh("a"), withEmail("b", ann.Email), withEmail("c", "a@example.com")},
			oc: OnConflict[User]{Update: rename},
			want: BulkResult[User]{Inserted: []User{stored(fresh("a"), 5)},
				Updated: []User{func() User { u := ann; u.Name = "b"; return u }(), func() User { u := stored(fresh("a"), 5); u.Name = "c"; return u }()}},
			next: 8,
		},
		{
			name: "both Ignore and Update", recs: []User{fresh("a")},
			oc: OnConflict[User]{Ignore: true, Update: rename},
			is: ErrInvalidLookup, as: &LookupError{Table: "User", Reason: "OnConflict sets both Ignore and Update"},
			next: 5,
		},
		{
			name: "merge fails", recs: []User{fresh("a"), withEmail("b", ann.Email)},
			oc: OnConflict[User]{Update: func(User, User) (User, error) { return User{}, errMerge }},
			is: errMerge, as: &CallbackError{Table: "User", Callback: "update", Err: errMerge},
			next: 7,
		},
		{
			name: "merge changes the primary key", recs: []User{withEmail("b", ann.Email)},
			oc: OnConflict[User]{Update: func(existing, proposed User) (User, error) { return proposed, nil }},
			is: ErrInvalidKey, as: &KeyError{Table: "User", Field: "id", Reason: "update changed the primary key", Err: ErrInvalidKey},
			next: 6,
		},
		{
			name: "merge collides with another record", recs: []User{withEmail("b", ann.Email)},
			oc: OnConflict[User]{Update: func(existing, _ User) (User, error) { existing.Email = leo.Email; return existing, nil }},
			is: ErrUniqueViolation, as: userViolation("user_email", []string{"email"}, []string{leo.Email}, leo),
			next: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newFixtureUsers(t)
			before := dump(t, users)
			res, err := users.InsertMany(tt.recs, tt.oc)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
				requireErrorAs(t, err, tt.as)
				assert.Equal(t, BulkResult[User]{}, res)
				assert.Equal(t, before, dump(t, users), "nothing of the batch is stored")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, res)
				last := map[int64]User{} // a record inserted, then merged into
				for _, u := range append(res.Inserted, res.Updated...) {
					last[u.ID] = u
				}
				for id, u := range last {
					got, err := users.Get(uID.Eq(id))
					require.NoError(t, err)
					assert.Equal(t, u, got)
				}
				assert.Equal(t, len(before)+len(res.Inserted), users.Len())
			}
			next, err := users.Insert(fresh("next"))
			require.NoError(t, err)
			assert.Equal(t, tt.next, next.ID, "the keys the batch took")
			require.NoError(t, checkInvariants(users))
		})
	}
}

// TestTable_InsertMany_Empty: an empty batch stores nothing and succeeds,
// whatever OnConflict says (but both Ignore and Update).
func TestTable_InsertMany_Empty(t *testing.T) {
	_, users, stored := newFixtureUsers(t)
	for _, oc := range []OnConflict[User]{{}, {Ignore: true}, {Update: func(e, _ User) (User, error) { return e, nil }}} {
		res, err := users.InsertMany(nil, oc)
		require.NoError(t, err, fmt.Sprintf("%+v", oc))
		assert.Equal(t, BulkResult[User]{}, res)
	}
	assert.Equal(t, stored, dump(t, users))
}

// TestTx_InsertMany_InTransaction: InsertMany inside a write transaction
// collides with the snapshot, the transaction's own writes and the batch
// itself; aborting stores nothing of the batch, Ignore skips, Update
// merges with what the transaction sees.
func TestTx_InsertMany_InTransaction(t *testing.T) {
	_, in, stored, commit := txnFixture(t)
	own, err := in.Insert(userTagged("own", 1))
	require.NoError(t, err)
	withEmail := func(tag, email string) User {
		u := userTagged(tag, 2)
		u.Email = email
		return u
	}

	for name, batch := range map[string][]User{
		"with the snapshot":        {userTagged("n1", 2), withEmail("n2", stored[0].Email)},
		"with its own write":       {userTagged("n1", 2), withEmail("n2", own.Email)},
		"inside the batch":         {userTagged("n1", 2), withEmail("n2", "n1@example.com")},
		"a later record collision": {userTagged("n1", 2), userTagged("n2", 2), withEmail("n3", "n2@example.com")},
	} {
		_, err := in.InsertMany(batch, OnConflict[User]{})
		require.ErrorIs(t, err, ErrUniqueViolation, name)
		_, err = in.Get(uEmail.Eq("n1@example.com"))
		require.ErrorIs(t, err, ErrNotFound, "%s: nothing of the batch is stored", name)
	}

	res, err := in.InsertMany([]User{userTagged("i1", 3), withEmail("i2", own.Email), userTagged("i3", 3)}, OnConflict[User]{Ignore: true})
	require.NoError(t, err)
	assert.Len(t, res.Inserted, 2)
	assert.Equal(t, []User{withEmail("i2", own.Email)}, res.Skipped)

	var merged [][2]User
	res, err = in.InsertMany([]User{withEmail("m1", own.Email), withEmail("m2", stored[1].Email), userTagged("m3", 4)},
		OnConflict[User]{Update: func(existing, proposed User) (User, error) {
			merged = append(merged, [2]User{existing, proposed})
			existing.Name = proposed.Name
			return existing, nil
		}})
	require.NoError(t, err)
	require.Len(t, merged, 2)
	assert.Equal(t, own, merged[0][0], "merge sees the transaction's own record")
	assert.Equal(t, stored[1], merged[1][0], "and the snapshot's")
	require.Len(t, res.Updated, 2)
	assert.Equal(t, "m1", res.Updated[0].Name)
	assert.Equal(t, "m2", res.Updated[1].Name)
	assert.Len(t, res.Inserted, 1)

	assert.Len(t, commit(), len(stored)+4)
}
