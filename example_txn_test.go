package recstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/recstore/recstore"
)

type Account struct {
	ID      int64
	Owner   string
	Balance int
}

var (
	AccountID      = recstore.Field("id", func(a *Account) int64 { return a.ID })
	AccountOwner   = recstore.Field("owner", func(a *Account) string { return a.Owner })
	AccountBalance = recstore.Field("balance", func(a *Account) int { return a.Balance })
)

func newAccounts(db *recstore.DB) *recstore.Table[Account] {
	accounts, err := recstore.NewTable(db, "Account",
		recstore.AutoPrimaryKey(AccountID, func(a *Account, id int64) { a.ID = id }),
		recstore.Unique("account_owner", AccountOwner),
		recstore.Fields(AccountBalance))
	if err != nil {
		panic(err)
	}
	return accounts
}

// DB.Update runs a function in a write transaction: its writes, in every
// table, become visible at once, or none do. Table.In binds a table to the
// transaction.
func ExampleDB_Update() {
	db, authors := newAuthors()
	accounts := newAccounts(db)
	err := db.Update(func(tx *recstore.Tx) error {
		a, err := authors.In(tx).Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo"})
		if err != nil {
			return err
		}
		_, err = accounts.In(tx).Insert(Account{Owner: a.Email, Balance: 100})
		return err
	})
	fmt.Println(err, authors.Len(), accounts.Len())

	// An error from the function writes nothing.
	err = db.Update(func(tx *recstore.Tx) error {
		accounts.In(tx).Insert(Account{Owner: "anna@example.com"})
		return errors.New("changed my mind")
	})
	fmt.Println(err, accounts.Len())
	// Output:
	// <nil> 1 1
	// changed my mind 1
}

// Table.In reads and writes through a transaction: its reads see its own
// writes, and nothing is visible outside until it commits.
func ExampleTable_In() {
	db := recstore.New()
	accounts := newAccounts(db)
	accounts.Insert(Account{Owner: "leo", Balance: 100})
	accounts.Insert(Account{Owner: "anna", Balance: 0})

	transfer := func(from, to string, amount int) error {
		return db.Update(func(tx *recstore.Tx) error {
			in := accounts.In(tx)
			a, err := in.Get(AccountOwner.Eq(from))
			if err != nil {
				return err
			}
			if a.Balance < amount {
				return fmt.Errorf("%s has %d", from, a.Balance)
			}
			b, err := in.Get(AccountOwner.Eq(to))
			if err != nil {
				return err
			}
			a.Balance -= amount
			b.Balance += amount
			if err := in.Update(a); err != nil {
				return err
			}
			return in.Update(b)
		})
	}
	fmt.Println(transfer("leo", "anna", 30))
	fmt.Println(transfer("anna", "leo", 50))
	leo, _ := accounts.Get(AccountOwner.Eq("leo"))
	anna, _ := accounts.Get(AccountOwner.Eq("anna"))
	fmt.Println(leo.Balance, anna.Balance)
	// Output:
	// <nil>
	// anna has 30
	// 70 30
}

// Inside a transaction function, a write through the bare table handle
// would commit on its own whatever became of the transaction: it is
// refused with ErrOutsideTx. Write through the handle that Table.In binds.
func ExampleTable_In_outsideTx() {
	db := recstore.New()
	accounts := newAccounts(db)
	err := db.Update(func(tx *recstore.Tx) error {
		_, err := accounts.Insert(Account{Owner: "leo"}) // not accounts.In(tx)
		return err
	})
	fmt.Println(errors.Is(err, recstore.ErrOutsideTx), accounts.Len())
	// Output:
	// true 0
}

// UpdateContext stops retrying, and stops waiting for other callers, once
// its context ends, and then writes nothing. Handles bound to its
// transaction wait under the same context.
func ExampleDB_UpdateContext() {
	db := recstore.New()
	accounts := newAccounts(db)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := db.UpdateContext(ctx, func(tx *recstore.Tx) error {
		_, _, err := accounts.In(tx).GetOrCreate(AccountOwner.Eq("leo"), func() (Account, error) {
			return Account{Owner: "leo", Balance: 10}, nil
		})
		return err
	})
	fmt.Println(err, accounts.Len())

	cancel() // the request went away
	err = db.UpdateContext(ctx, func(tx *recstore.Tx) error {
		_, err := accounts.In(tx).Insert(Account{Owner: "anna"})
		return err
	})
	fmt.Println(err, accounts.Len())
	// Output:
	// <nil> 1
	// context canceled 1
}

// GetOrCreateContext waits for the lookup's other creators only until its
// context ends; a record already there is returned whatever the context.
func ExampleTable_GetOrCreateContext() {
	db := recstore.New()
	accounts := newAccounts(db)
	create := func() (Account, error) { return Account{Owner: "leo"}, nil }
	ctx, cancel := context.WithCancel(context.Background())
	a, created, err := accounts.GetOrCreateContext(ctx, AccountOwner.Eq("leo"), create)
	fmt.Println(a.Owner, created, err)
	cancel()
	a, created, err = accounts.GetOrCreateContext(ctx, AccountOwner.Eq("leo"), create)
	fmt.Println(a.Owner, created, err)
	_, _, err = accounts.GetOrCreateContext(ctx, AccountOwner.Eq("anna"), create)
	fmt.Println(err)
	// Output:
	// leo true <nil>
	// leo false <nil>
	// context canceled
}

// Begin, Commit and Rollback control a transaction by hand; a deferred
// Rollback is always safe. Commit returns ErrConflict if a concurrent
// commit changed what the transaction read.
func ExampleDB_Begin() {
	db := recstore.New()
	accounts := newAccounts(db)
	accounts.Insert(Account{Owner: "leo", Balance: 100})

	tx, _ := db.Begin(true)
	defer tx.Rollback()
	in := accounts.In(tx)
	leo, _ := in.Get(AccountOwner.Eq("leo"))
	leo.Balance += 10
	in.Update(leo)

	// Meanwhile, another writer changes the record the transaction read.
	other, _ := accounts.Get(AccountOwner.Eq("leo"))
	other.Balance = 0
	accounts.Update(other)

	err := tx.Commit()
	fmt.Println(errors.Is(err, recstore.ErrConflict))
	fmt.Println(errors.Is(tx.Rollback(), recstore.ErrTxDone))
	now, _ := accounts.Get(AccountOwner.Eq("leo"))
	fmt.Println(now.Balance)
	// Output:
	// true
	// true
	// 0
}

// Savepoint runs a function as a nested transaction: if it fails, only its
// writes are undone, and the transaction goes on.
func ExampleTx_Savepoint() {
	db := recstore.New()
	accounts := newAccounts(db)
	err := db.Update(func(tx *recstore.Tx) error {
		in := accounts.In(tx)
		in.Insert(Account{Owner: "leo", Balance: 100})
		err := tx.Savepoint(func(tx *recstore.Tx) error {
			in.Insert(Account{Owner: "anna", Balance: 5})
			_, err := in.Insert(Account{Owner: "leo"}) // taken
			return err
		})
		fmt.Println(errors.Is(err, recstore.ErrUniqueViolation), in.Len())
		return nil
	})
	fmt.Println(err, accounts.Len())
	// Output:
	// true 1
	// <nil> 1
}

// Commit makes a transaction's writes visible at once; before it, other
// readers see none of them.
func ExampleTx_Commit() {
	db := recstore.New()
	accounts := newAccounts(db)
	tx, _ := db.Begin(true)
	accounts.In(tx).Insert(Account{Owner: "leo", Balance: 100})
	accounts.In(tx).Insert(Account{Owner: "anna", Balance: 50})
	fmt.Println(accounts.Len())
	fmt.Println(tx.Commit())
	fmt.Println(accounts.Len())
	// Output:
	// 0
	// <nil>
	// 2
}

// Rollback discards a transaction's writes; it is safe to defer, and
// after Commit it reports ErrTxDone.
func ExampleTx_Rollback() {
	db := recstore.New()
	accounts := newAccounts(db)
	tx, _ := db.Begin(true)
	accounts.In(tx).Insert(Account{Owner: "leo", Balance: 100})
	fmt.Println(tx.Rollback(), accounts.Len())
	_, err := accounts.In(tx).Insert(Account{Owner: "anna"})
	fmt.Println(errors.Is(err, recstore.ErrTxDone))
	// Output:
	// <nil> 0
	// true
}

// Close ends a DB: every later call returns ErrClosed.
func ExampleDB_Close() {
	db := recstore.New()
	accounts := newAccounts(db)
	fmt.Println(db.Close())
	_, err := accounts.Insert(Account{Owner: "leo"})
	fmt.Println(errors.Is(err, recstore.ErrClosed))
	// Output:
	// <nil>
	// true
}
