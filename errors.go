package recstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, grouped by when they happen. Match them with errors.Is;
// the typed errors below carry the context and unwrap to these.
var (
	// Declaring a table.

	// ErrSchema reports a table declaration that cannot work: no primary
	// key, two primary keys, duplicate index or field names, an index
	// without fields. See SchemaError.
	ErrSchema = errors.New("recstore: invalid schema")

	// Reading.

	// ErrNotFound reports that no record matched a Get. See NotFoundError.
	ErrNotFound = errors.New("recstore: no record matches")
	// ErrMultipleReturned reports that more than one record matched a
	// lookup that must match one. See MultipleReturnedError.
	ErrMultipleReturned = errors.New("recstore: more than one record matches")

	// Bad input, reported before anything is written.

	// ErrUnknownField reports a condition on a field the table does not
	// declare. See FieldError.
	ErrUnknownField = errors.New("recstore: unknown field")
	// ErrInvalidKey reports a key value that cannot be stored or compared:
	// NaN, or a zero primary key that is not auto-assigned. See KeyError.
	ErrInvalidKey = errors.New("recstore: invalid key")
	// ErrIndexNotFound reports an index name the table does not have. See
	// IndexNotFoundError.
	ErrIndexNotFound = errors.New("recstore: no such index")
	// ErrKeyTooLarge reports an encoded key over MaxKeySize. See KeyError.
	ErrKeyTooLarge = errors.New("recstore: key too large")
	// ErrNilCallback reports a nil function passed where recstore must be
	// able to call one: GetOrCreate's create, UpdateOrCreate's update and
	// create, Query.Update's function, and the function of DB.Update,
	// DB.View and Tx.Savepoint; or a nil context to a Context form. See
	// NilCallbackError.
	ErrNilCallback = errors.New("recstore: nil callback")
	// ErrInvalidLookup reports a condition or query that cannot run: a
	// record created by GetOrCreate that does not match its lookup, Prefix
	// on a non-string field, a negative Limit or Offset.
	ErrInvalidLookup = errors.New("recstore: invalid lookup")
	// ErrSliced reports a query changed after Limit or Offset took a
	// slice of it: Filter, Exclude, OrderBy, Earliest, Latest, InBulk,
	// GetOrCreate, or Get with conditions. See SliceError.
	ErrSliced = errors.New("recstore: query changed after a slice was taken")

	// Writing.

	// ErrUniqueViolation reports a write that would give two records the
	// same value of a unique index, the primary key included. See
	// UniqueViolationError.
	ErrUniqueViolation = errors.New("recstore: unique constraint violated")
	// ErrDuplicateValues reports that a unique index cannot be added over
	// records that already share its values. See DuplicatesError.
	ErrDuplicateValues = errors.New("recstore: records share values of a unique index")
	// ErrConflict reports a write that lost to concurrent writers more
	// times than recstore retries.
	ErrConflict = errors.New("recstore: too many conflicting concurrent writes")

	// Lifecycle.

	// ErrClosed reports a call on a closed DB.
	ErrClosed = errors.New("recstore: database is closed")
	// ErrTxDone reports a call on a transaction that has ended.
	ErrTxDone = errors.New("recstore: transaction has already been committed or rolled back")
	// ErrReadOnly reports a write inside a read-only transaction.
	ErrReadOnly = errors.New("recstore: write in a read-only transaction")
	// ErrOtherDB reports a table handle used with a transaction of
	// another DB.
	ErrOtherDB = errors.New("recstore: the transaction belongs to another database")
	// ErrOutsideTx reports a write that a transaction function made
	// outside its transaction: through a table handle not bound to it, or
	// a nested DB.Update. See Table.In.
	ErrOutsideTx = errors.New("recstore: write outside the transaction inside a transaction function (bind the table with Table.In(tx))")

	// ErrFellBehind reports a change feed read from a revision that the
	// feed no longer holds. See FeedError.
	ErrFellBehind = errors.New("recstore: the change feed fell behind")
	// ErrNoFeed reports a read of the change feed of a DB that keeps none:
	// see Options.FeedBuffer.
	ErrNoFeed = errors.New("recstore: the DB keeps no change feed (set Options.FeedBuffer)")

	// Snapshots.

	// ErrSnapshot reports a snapshot that Restore cannot load. See
	// SnapshotError.
	ErrSnapshot = errors.New("recstore: unusable snapshot")
)

// maxGetResults is how many matches Get counts before it reports "more than
// maxGetResults-1", as Django does.
const maxGetResults = 21

// NotFoundError is returned when a lookup that must match one record matches
// none. It matches ErrNotFound with errors.Is.
type NotFoundError struct {
	Table string // the table's name, e.g. "User"
}

// Error returns the message described on NotFoundError.
func (e *NotFoundError) Error() string { return e.Table + " matching query does not exist." }

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// MultipleReturnedError is returned when a lookup that must match one record
// matches several. It matches ErrMultipleReturned with errors.Is.
type MultipleReturnedError struct {
	Table string
	// Count is the number of matches, exact up to 20; 21 means "more than 20".
	Count int
}

// Error returns the message described on MultipleReturnedError.
func (e *MultipleReturnedError) Error() string {
	if e.Count >= maxGetResults {
		return fmt.Sprintf("get() returned more than one %s -- it returned more than %d!", e.Table, maxGetResults-1)
	}
	return fmt.Sprintf("get() returned more than one %s -- it returned %d!", e.Table, e.Count)
}

// Unwrap returns ErrMultipleReturned.
func (e *MultipleReturnedError) Unwrap() error { return ErrMultipleReturned }

// UniqueViolationError names the unique constraint a write would break, the
// values it would have duplicated and the record already holding them. It
// matches ErrUniqueViolation with errors.Is.
type UniqueViolationError struct {
	Table      string   // the table's name
	Constraint string   // the index's name; the primary key's is "primary"
	Fields     []string // the index's fields, in index order
	Values     []string // the offending values, formatted, one per field
	HeldBy     string   // the primary key of the record already there, formatted
	PKField    string   // the primary key's field name
	Existing   any      // a copy of the record already there (a T)
}

// Error returns the message described on UniqueViolationError.
func (e *UniqueViolationError) Error() string {
	return fmt.Sprintf("recstore: duplicate key value violates unique constraint %q on %s: (%s)=(%s) already held by %s %s",
		e.Constraint, e.Table, strings.Join(e.Fields, ", "), strings.Join(e.Values, ", "), e.PKField, e.HeldBy)
}

// Unwrap returns ErrUniqueViolation.
func (e *UniqueViolationError) Unwrap() error { return ErrUniqueViolation }

// SchemaError says what is wrong with a table declaration. It matches
// ErrSchema with errors.Is.
type SchemaError struct {
	Table  string
	Reason string
}

// Error returns the message described on SchemaError.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("recstore: invalid schema for table %q: %s", e.Table, e.Reason)
}

// Unwrap returns ErrSchema.
func (e *SchemaError) Unwrap() error { return ErrSchema }

// FieldError reports a condition or an order on a field that the table
// does not declare. It matches ErrUnknownField with errors.Is.
type FieldError struct {
	Table string
	Field string
	// Choices are the fields the table declares, in declaration order
	// (Django's "Choices are: …"). The message names the first
	// maxChoicesShown of them and counts the rest.
	Choices []string
}

// maxChoicesShown is how many of a FieldError's choices its message names.
const maxChoicesShown = 20

// Error returns the message described on FieldError.
func (e *FieldError) Error() string {
	shown := e.Choices[:min(len(e.Choices), maxChoicesShown)]
	more := ""
	if n := len(e.Choices) - len(shown); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf("recstore: table %s has no field %q (choices are: %s%s)", e.Table, e.Field, strings.Join(shown, ", "), more)
}

// Unwrap returns ErrUnknownField.
func (e *FieldError) Unwrap() error { return ErrUnknownField }

// KeyError reports a key value that cannot be used. It matches
// ErrInvalidKey or ErrKeyTooLarge with errors.Is.
type KeyError struct {
	Table  string // empty when the value was rejected before any table saw it
	Field  string
	Reason string
	Err    error // ErrInvalidKey or ErrKeyTooLarge
}

// Error returns the message described on KeyError.
func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Table != "" {
		b.WriteString(" in table " + e.Table)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " for field %q", e.Field)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// withContext fills in the table and field of a KeyError made where they
// were not known.
func withContext(err error, table, field string) error {
	var le *LookupError
	if errors.As(err, &le) && le.Table == "" {
		c := *le
		c.Table = table
		return &c
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		c := *ke
		if c.Table == "" {
			c.Table = table
		}
		if c.Field == "" {
			c.Field = field
		}
		return &c
	}
	return err
}

// LookupError reports why a lookup cannot drive GetOrCreate or
// UpdateOrCreate. It matches ErrInvalidLookup with errors.Is.
type LookupError struct {
	Table  string
	Reason string
}

// Error returns the message described on LookupError.
func (e *LookupError) Error() string {
	return fmt.Sprintf("recstore: invalid lookup on %s: %s", e.Table, e.Reason)
}

// Unwrap returns ErrInvalidLookup.
func (e *LookupError) Unwrap() error { return ErrInvalidLookup }

// SliceError reports a query changed after Limit or Offset took a slice
// of it, which Django refuses too: a slice fixes a query's records, and a
// condition or an order applied underneath it would change which records
// the slice holds. It matches ErrSliced with errors.Is. Apply Filter,
// Exclude and OrderBy before Limit and Offset.
type SliceError struct {
	Table string
	Call  string // the call refused: "Filter", "Exclude", "OrderBy", "Earliest", "Latest", "InBulk", "Get", "GetOrCreate"
}

// Error returns the message described on SliceError: Django's sentence
// for the call.
func (e *SliceError) Error() string {
	var what string
	switch e.Call {
	case "OrderBy":
		what = "cannot reorder a query once a slice has been taken"
	case "Earliest", "Latest":
		what = "cannot change a query once a slice has been taken"
	case "InBulk":
		what = "cannot use limit or offset with InBulk"
	default:
		what = "cannot filter a query once a slice has been taken"
	}
	return fmt.Sprintf("recstore: %s.%s: %s", e.Table, e.Call, what)
}

// Unwrap returns ErrSliced.
func (e *SliceError) Unwrap() error { return ErrSliced }

// CallbackError wraps an error returned by a user callback (create, update)
// so that the caller can tell it from recstore's own errors; errors.Is and
// errors.As reach the callback's error through it.
type CallbackError struct {
	Table    string
	Callback string // "create" or "update"
	Err      error
}

// Error returns the message described on CallbackError.
func (e *CallbackError) Error() string {
	return fmt.Sprintf("recstore: %s callback for %s failed: %v", e.Callback, e.Table, e.Err)
}

// Unwrap returns the callback's error.
func (e *CallbackError) Unwrap() error { return e.Err }

// AccessError reports a call on a table that cannot run where it was made:
// on a closed DB, a write through a bare handle inside a transaction
// function, in a transaction that has ended, a write in a read-only
// transaction, or through a transaction of another DB. It wraps ErrClosed,
// ErrOutsideTx, ErrTxDone, ErrReadOnly or ErrOtherDB, for errors.Is.
// Nothing was read or written.
type AccessError struct {
	Table string // the table called
	Err   error  // the sentinel
}

// Error returns the message described on AccessError.
func (e *AccessError) Error() string { return fmt.Sprintf("%v (table %s)", e.Err, e.Table) }

// Unwrap returns the sentinel.
func (e *AccessError) Unwrap() error { return e.Err }

// NilCallbackError reports a nil function passed where recstore must be
// able to call one, or a nil context.Context (Callback "ctx"). Nothing was
// read or written. It matches ErrNilCallback
// with errors.Is.
type NilCallbackError struct {
	Call     string // the call, e.g. "User.GetOrCreate" or "DB.Update"
	Callback string // the argument, e.g. "create" or "fn"
}

// Error returns the message described on NilCallbackError.
func (e *NilCallbackError) Error() string {
	return fmt.Sprintf("recstore: %s called with a nil %s", e.Call, e.Callback)
}

// Unwrap returns ErrNilCallback.
func (e *NilCallbackError) Unwrap() error { return ErrNilCallback }

// IndexNotFoundError reports an index name the table does not have
// (DropIndex). It matches ErrIndexNotFound with errors.Is.
type IndexNotFoundError struct {
	Table string
	Index string
}

// Error returns the message described on IndexNotFoundError.
func (e *IndexNotFoundError) Error() string {
	return fmt.Sprintf("recstore: table %s has no index named %q", e.Table, e.Index)
}

// Unwrap returns ErrIndexNotFound.
func (e *IndexNotFoundError) Unwrap() error { return ErrIndexNotFound }
