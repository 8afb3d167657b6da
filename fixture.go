package recstore

import (
	"io"
	"slices"
)

// A Fixture is a set of records for DB.Load: Records makes one from Go
// values, SnapshotFixture from a snapshot that DB.Snapshot wrote.
type Fixture struct {
	// read reads and checks the fixture's records for db, writing
	// nothing, and returns their loads.
	read func(db *DB) ([]fixtureLoad, error)
}

// fixtureLoad inserts one table's records of a fixture in a transaction.
type fixtureLoad struct {
	table  anyTable
	insert func(tx *Tx) error
}

// Records is a fixture of recs for t's table: in DB.Load, the table of
// that name in the DB loaded (see Table.On), so that one fixture serves a
// DB and its forks.
func Records[T any](t *Table[T], recs ...T) Fixture {
	recs = slices.Clone(recs)
	return Fixture{read: func(db *DB) ([]fixtureLoad, error) {
		in, err := t.On(db)
		if err != nil {
			return nil, err
		}
		return []fixtureLoad{{in, func(tx *Tx) error {
			_, err := in.In(tx).InsertMany(recs, OnConflict[T]{})
			return err
		}}}, nil
	}}
}

// SnapshotFixture is a fixture of the records of a snapshot that
// DB.Snapshot wrote, read from r when DB.Load runs. Unlike DB.Restore, it
// may hold some of the loading DB's tables only, and load into tables that
// already hold records; every table it holds must be declared in that DB
// with the same fields and indexes. r is read whole, and checked, before
// anything is written.
func SnapshotFixture(r io.Reader) Fixture {
	return Fixture{read: func(db *DB) ([]fixtureLoad, error) {
		return newSnapReader(r).read(db.tables(), false)
	}}
}

// Load inserts every fixture's records into db in one atomic step: all of
// them, or, if any fails to read or breaks a constraint, none, and the
// error says why (a *SnapshotError, a *UniqueViolationError, …). Tables are
// loaded in the order db declared them, each fixture's records in their
// order; primary keys are assigned and checked as InsertMany does.
func (db *DB) Load(fixtures ...Fixture) error {
	if db.closed.Load() {
		return ErrClosed
	}
	var loads []fixtureLoad
	for _, f := range fixtures {
		if f.read == nil {
			return &NilCallbackError{Call: "DB.Load", Callback: "fixture"}
		}
		l, err := f.read(db)
		if err != nil {
			return err
		}
		loads = append(loads, l...)
	}
	order := map[string]int{}
	for i, t := range db.tables() {
		order[t.Name()] = i
	}
	slices.SortStableFunc(loads, func(a, b fixtureLoad) int {
		return order[a.table.Name()] - order[b.table.Name()]
	})
	return db.insertLoads(loads)
}

// insertLoads inserts loads, in order, in one transaction.
func (db *DB) insertLoads(loads []fixtureLoad) error {
	return db.Update(func(tx *Tx) error {
		for _, l := range loads {
			if err := l.insert(tx); err != nil {
				return err
			}
		}
		return nil
	})
}
