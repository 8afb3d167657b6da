package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// User is the record every store holds. Email is the unique key of every
// store; the SQL and recstore tables also hold (Org, Name) unique.
type User struct {
	ID        int64
	Email     string
	Name, Org string
	Age       int
}

// Store is the get-or-create contract every benchmarked store implements.
// Implementations are safe for concurrent use by multiple goroutines.
type Store interface {
	// GetOrCreate returns the record with this email, or stores mk(email)
	// (with an ID the store assigns) if there is none. However many
	// goroutines race on one email, exactly one reports created, and all
	// return the same record. mk takes the email rather than closing over
	// it so that a call allocates no closure.
	GetOrCreate(email string, mk func(email string) User) (u User, created bool, err error)
	// Get returns the record with this email; ok is false if there is none.
	Get(email string) (u User, ok bool, err error)
	// Len returns the number of records. It may be O(n).
	Len() int
	// Close releases the store's resources.
	Close() error
}

// Snapshotter is implemented by the stores that can begin (and end) a
// consistent read view. Snapshot begins one and ends it at once.
type Snapshotter interface {
	Snapshot() error
}

// Ranger is implemented by the stores that keep email in order. Range
// reads every record with lo <= email < hi, as a caller would receive it,
// from one consistent view where the store has one, and returns how many
// it read.
type Ranger interface {
	Range(lo, hi string) (int, error)
}

// BulkLoader is implemented by stores that load many new records faster
// in one go than by GetOrCreate, for setting up benchmarks. Load stores
// mk(email) for each email; none may be present yet.
type BulkLoader interface {
	Load(emails []string, mk func(email string) User) error
}

// MemoryReporter is implemented by stores that keep records outside the Go
// heap. OffHeapBytes returns the bytes they hold there now.
type MemoryReporter interface {
	OffHeapBytes() int64
}

var constructors = map[string]func() (Store, error){}

// order is the order in which stores appear in benchmarks and reports:
// recstore first, then from the plainest hash map to the full databases.
var order = []string{"recstore", "syncmap", "xsync", "rwmap", "btree", "handwritten", "memdb", "buntdb", "sqlite"}

func register(name string, mk func() (Store, error)) {
	if !slices.Contains(order, name) {
		panic(fmt.Sprintf("bench: store %q is not in order", name))
	}
	constructors[name] = mk
}

// Names returns the names of every store, recstore first.
func Names() []string { return slices.Clone(order) }

// New returns a new, empty store of the named implementation.
func New(name string) (Store, error) {
	mk, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("bench: no store named %q (have %s)", name, strings.Join(order, ", "))
	}
	return mk()
}

// Email returns the i-th key of the key space: a fresh string, distinct
// for every i, whose local part is unique too (see NewUser).
func Email(i int) string {
	b := make([]byte, 0, 24)
	b = append(b, 'u')
	b = appendPadded(b, i, 8)
	b = append(b, "@org"...)
	b = appendPadded(b, i%100, 2)
	b = append(b, ".example"...)
	return string(b)
}

func appendPadded(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// Emails returns Email(i) for i in [0, n).
func Emails(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Email(i)
	}
	return keys
}

// NewUser builds the record for email without allocating: Name is the
// email's local part and Org its domain, so (Org, Name) is unique whenever
// email is. The store assigns ID.
func NewUser(email string) User {
	at := strings.IndexByte(email, '@')
	if at < 0 {
		at = len(email)
	}
	return User{Email: email, Name: email[:at], Org: email[min(at+1, len(email)):], Age: 18 + len(email)%60}
}
