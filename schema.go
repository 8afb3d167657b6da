package recstore

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// col is what a table knows of a field, whatever its Go type.
type col[T any] struct {
	name     string
	kind     kind
	extract  func(*T) (key, error) // the record's value as a key
	compare  func(a, b *T) int     // two stored records' values, as their keys order
	hasKey   func(*T, key) bool    // whether the record's value has key k (the live indexes' probe)
	format   func(*T) string       // the record's value for messages
	isZero   func(*T) bool         // whether the record's value is V's zero value
	isNull   func(*T) bool         // whether an optional field is null
	valueLen func(*T) int          // an optional field's key length, as a required field of its type has it
	// piece is the record's value as a composite key holds it (appendKey
	// of its key) without building the key, so that comparing a record
	// with an encoded key allocates nothing, times included.
	piece    func(r *T) piece
	optional bool   // declared by OptionalField
	problem  string // why the declaration is unusable, if it is
}

func (c *col[T]) nameOrNil() string {
	if c == nil {
		return "<nil>"
	}
	return c.name
}

// appendKey appends the field's key k to a composite key.
func (c *col[T]) appendKey(buf []byte, k key) []byte {
	if c.optional { // already self-delimiting bytes
		return append(buf, k.s...)
	}
	return appendComponent(buf, c.kind, k)
}

// keyLen is the length of the field's key k in a composite key.
func (c *col[T]) keyLen(k key) int {
	if c.optional {
		return len(k.s)
	}
	return componentLen(c.kind, k)
}

// pkColumn is a table's primary key as a ColumnOf, for orders by it.
type pkColumn[T any] struct{ c *col[T] }

// Name returns the primary key's field name.
func (p pkColumn[T]) Name() string { return p.c.name }

func (p pkColumn[T]) meta() *col[T] { return p.c }

// Column is a typed field of records of type T, declared once with Field and
// used to declare indexes and to build conditions. A Column is immutable and
// safe for concurrent use by multiple goroutines; one Column may serve
// several tables of the same record type.
type Column[T any, V Key] struct {
	c   col[T]
	get func(*T) V  // a required field's accessor
	opt func(*T) *V // an optional field's accessor
	enc func(V) (key, error)
	// heads are the heads of this field's conditions of one value, by
	// operator (see condHead); Between and In, whose heads hold more,
	// build their own.
	heads [opIsNull + 1]condHead[T]
}

// ColumnOf is any Column of records of type T, whatever its value type. It
// lets one index span fields of different types.
type ColumnOf[T any] interface {
	// Name returns the field's name.
	Name() string
	meta() *col[T]
}

// Field declares a field of records of type T: its name (used in messages
// and errors, e.g. "email") and an accessor returning its value. The
// accessor must be a pure function of the record; recstore calls it when it
// stores, compares or checks records.
//
// A Field with an empty name or a nil accessor is reported as a schema
// error by NewTable.
func Field[T any, V Key](name string, get func(*T) V) *Column[T, V] {
	c := newColumn[T, V](name, get == nil)
	c.get = get
	if get != nil {
		c.c.compare = comparer(c.c.kind, get)
		pc := piecer[V](c.c.kind)
		c.c.piece = func(r *T) piece { return pc(piece{}, get(r)) }
		if c.c.kind == kindString { // the common unique key: no key built
			c.c.hasKey = func(r *T, k key) bool {
				v := get(r)
				return k.n == 0 && *(*string)(unsafe.Pointer(&v)) == k.s
			}
		}
	}
	return c
}

// OptionalField declares a field that may be null, read through a pointer:
// its accessor returns nil for null. Conditions on it may test IsNull;
// other conditions never match a null. In a unique index, records with a
// null never conflict, unless the index is declared NullsNotDistinct.
func OptionalField[T any, V Key](name string, get func(*T) *V) *Column[T, V] {
	c := newColumn[T, V](name, get == nil)
	c.opt = get
	c.c.optional = true
	c.c.isNull = func(r *T) bool { return get(r) == nil }
	c.c.valueLen = func(r *T) int {
		k, _ := c.enc(*get(r)) // checked by extract
		return len(k.s)
	}
	c.c.compare = func(a, b *T) int { // nulls first, as their keys sort
		ka, _ := c.extract(a)
		kb, _ := c.extract(b)
		return ka.compare(kb)
	}
	if get != nil {
		pc := piecer[V](c.c.kind)
		c.c.piece = func(r *T) piece {
			v := get(r)
			if v == nil {
				return piece{n: 1} // 0x00
			}
			return pc(piece{b: [1 + timeKeyLen]byte{1}, n: 1}, *v)
		}
	}
	return c
}

func newColumn[T any, V Key](name string, nilGet bool) *Column[T, V] {
	k := kindOf[V]()
	c := &Column[T, V]{enc: encoder[V](k)}
	c.c = col[T]{name: name, kind: k, extract: c.extract, format: c.format, isZero: c.isZero, isNull: func(*T) bool { return false }}
	c.c.hasKey = func(r *T, k key) bool {
		kr, _ := c.extract(r) // stored records have valid keys
		return kr == k
	}
	for op := range c.heads {
		c.heads[op] = condHead[T]{op: condOp(op), col: &c.c}
	}
	switch {
	case name == "":
		c.c.problem = "a field has an empty name"
	case nilGet:
		c.c.problem = fmt.Sprintf("field %q has a nil accessor", name)
	}
	return c
}

// nullKey is the key of a null optional field: it sorts before every
// value, which optional fields encode behind a 0x01 byte.
var nullKey = key{s: "\x00"}

func (c *Column[T, V]) optional() bool { return c.c.optional }

// valueKey is the key of value v of this field.
func (c *Column[T, V]) valueKey(v V) (key, error) {
	k, err := c.enc(v)
	if err != nil || !c.optional() {
		return k, err
	}
	return key{s: string(appendComponent([]byte{1}, c.c.kind, k))}, nil
}

// Name returns the field's name.
func (c *Column[T, V]) Name() string { return c.c.name }

func (c *Column[T, V]) meta() *col[T] {
	if c == nil {
		return nil
	}
	return &c.c
}

// value returns the field's value in r (V's zero value for a null).
func (c *Column[T, V]) value(r *T) V {
	if !c.optional() {
		return c.get(r)
	}
	if p := c.opt(r); p != nil {
		return *p
	}
	var zero V
	return zero
}

func (c *Column[T, V]) extract(r *T) (key, error) {
	if !c.optional() {
		return c.enc(c.get(r))
	}
	p := c.opt(r)
	if p == nil {
		return nullKey, nil
	}
	return c.valueKey(*p)
}

func (c *Column[T, V]) format(r *T) string {
	if !c.optional() {
		return fmt.Sprint(c.get(r))
	}
	if p := c.opt(r); p != nil {
		return fmt.Sprint(*p)
	}
	return "NULL"
}

func (c *Column[T, V]) isZero(r *T) bool {
	if c.optional() {
		p := c.opt(r)
		return p == nil || isZeroValue(*p)
	}
	return isZeroValue(c.get(r))
}

// isZeroValue reports whether v is its type's zero value as a key: a zero
// time.Time in any location is the zero instant, and -0.0 is 0.
func isZeroValue[V Key](v V) bool {
	if t, ok := any(v).(time.Time); ok {
		return t.IsZero()
	}
	var zero V
	return v == zero
}

// indexDef describes one index of a table. It is immutable once the table
// exists.
type indexDef[T any] struct {
	name    string
	cols    []*col[T]
	unique  bool
	primary bool
	where   *Cond[T] // a partial index holds only the records matching it
	// nullsNotDistinct makes nulls collide in a unique index; by default
	// (SQL's rule) a record with a null in any field of a unique index is
	// not in it, so it collides with nothing.
	nullsNotDistinct bool
	// complete says every record is in the index, so that a scan of it
	// sees the whole table (set by addIndex, from the fields above).
	complete bool
}

// member reports whether r belongs in the index.
func (d *indexDef[T]) member(r *T) bool {
	if d.complete {
		return true
	}
	if d.where != nil && !d.where.match(r) {
		return false
	}
	if d.unique && !d.nullsNotDistinct {
		for _, c := range d.cols {
			if c.optional && c.isNull(r) {
				return false
			}
		}
	}
	return true
}

// isComplete reports whether every record is in the index.
func (d *indexDef[T]) isComplete() bool {
	if d.where != nil {
		return false
	}
	if d.unique && !d.nullsNotDistinct {
		for _, c := range d.cols {
			if c.optional {
				return false
			}
		}
	}
	return true
}

func (d *indexDef[T]) fieldNames() []string {
	names := make([]string, len(d.cols))
	for i, c := range d.cols {
		names[i] = c.name
	}
	return names
}

// keyOf computes the record's key in this index: a field's key, or the
// encoding of a composite key's fields.
func (d *indexDef[T]) keyOf(r *T) (key, error) {
	if len(d.cols) == 1 {
		return d.cols[0].extract(r)
	}
	b, err := d.appendKey(nil, r)
	return key{s: string(b)}, err
}

// appendKey appends the encoding of r's composite key in this index to buf.
func (d *indexDef[T]) appendKey(buf []byte, r *T) ([]byte, error) {
	for _, c := range d.cols {
		k, err := c.extract(r)
		if err != nil {
			return buf, withContext(err, "", c.name)
		}
		buf = c.appendKey(buf, k)
	}
	return buf, nil
}

// keySize is the length of r's key in this index, as MaxKeySize counts it:
// a one-field key's own length (a string's bytes, whether or not the field
// is optional), else the length of appendKey's encoding, which it does
// not build.
func (d *indexDef[T]) keySize(r *T) (int, error) {
	if len(d.cols) == 1 {
		c := d.cols[0]
		k, err := c.extract(r)
		if err == nil && c.optional && k != nullKey {
			return c.valueLen(r), nil
		}
		return len(k.s), err
	}
	n := 0
	for _, c := range d.cols {
		k, err := c.extract(r)
		if err != nil {
			return n, withContext(err, "", c.name)
		}
		n += c.keyLen(k)
	}
	return n, nil
}

// autoPK assigns primary keys to records stored with a zero one, from a
// sequence shared by every writer of the table: keys are taken when a
// record is prepared, before it commits, so a write that fails or a
// transaction that rolls back leaves a gap (as SQL sequences do).
type autoPK[T any] struct {
	set  func(r *T, id uint64) // stores id, converted to the field's type
	max  uint64                // the largest key the field's type holds
	last atomic.Uint64         // the largest key assigned or stored
}

// next takes the next key of the sequence, or fails once the field's type
// has no larger value.
func (a *autoPK[T]) next() (uint64, bool) {
	for {
		last := a.last.Load()
		if last >= a.max {
			return 0, false
		}
		if a.last.CompareAndSwap(last, last+1) {
			return last + 1, true
		}
	}
}

// note keeps the sequence past id, a key a user chose.
func (a *autoPK[T]) note(id uint64) {
	for {
		last := a.last.Load()
		if id <= last || a.last.CompareAndSwap(last, id) {
			return
		}
	}
}

// schema is a table's declaration, validated by NewTable.
type schema[T any] struct {
	table   string
	cols    []*col[T]      // every declared field, in declaration order
	indexes []*indexDef[T] // indexes[0] is the primary key
	auto    *autoPK[T]
	codec   Codec[T] // the records' encoding in snapshots
	errs    []string
}

// maxIndexes is the most indexes a table may have, the primary key
// included.
const maxIndexes = 64

// TableOption declares part of a table: its primary key, an index or extra
// fields. Build options with PrimaryKey, AutoPrimaryKey, Unique, Index and
// Fields.
type TableOption[T any] interface {
	apply(*schema[T])
}

type optionFunc[T any] func(*schema[T])

func (f optionFunc[T]) apply(s *schema[T]) { f(s) }

// PrimaryKey declares the table's primary key. Every record must have a
// non-zero, unique value of it. A table has exactly one primary key.
func PrimaryKey[T any, V Key](c *Column[T, V]) TableOption[T] {
	return optionFunc[T](func(s *schema[T]) {
		s.addIndex(&indexDef[T]{name: "primary", cols: []*col[T]{c.meta()}, unique: true, primary: true})
	})
}

// AutoPrimaryKey declares an integer primary key that recstore assigns when
// a record is stored with a zero value, from a sequence that stays past
// every key the table has held. set stores the assigned key into the
// record.
func AutoPrimaryKey[T any, V Integer](c *Column[T, V], set func(r *T, id V)) TableOption[T] {
	return optionFunc[T](func(s *schema[T]) {
		PrimaryKey(c).apply(s)
		if set == nil {
			s.errs = append(s.errs, fmt.Sprintf("auto primary key %q has a nil setter", c.meta().nameOrNil()))
			return
		}
		bits := 8 * reflect.TypeFor[V]().Size()
		maxID := uint64(1)<<(bits-1) - 1 // signed
		if V(0)-1 > 0 {                  // unsigned
			maxID = maxID<<1 | 1
		}
		s.auto = &autoPK[T]{set: func(r *T, id uint64) { set(r, V(id)) }, max: maxID}
	})
}

// IndexSpec declares a unique or plain index; refine it with Where and
// NullsNotDistinct. It is a TableOption, for NewTable and Table.AddIndex.
type IndexSpec[T any] struct {
	def indexDef[T]
}

// Unique declares a unique index named name over one field or several
// together (Django's unique=True, unique_together and
// UniqueConstraint(fields=[...], name=...)). No two records in it may
// share its values.
func Unique[T any, V Key](name string, first *Column[T, V], rest ...ColumnOf[T]) *IndexSpec[T] {
	return indexSpec(name, true, first, rest)
}

// Index declares a plain (non-unique) index named name over one field or
// several together, for Get and Filter to use.
func Index[T any, V Key](name string, first *Column[T, V], rest ...ColumnOf[T]) *IndexSpec[T] {
	return indexSpec(name, false, first, rest)
}

func indexSpec[T any, V Key](name string, unique bool, first *Column[T, V], rest []ColumnOf[T]) *IndexSpec[T] {
	s := &IndexSpec[T]{def: indexDef[T]{name: name, unique: unique, cols: []*col[T]{first.meta()}}}
	for _, c := range rest {
		var m *col[T]
		if c != nil {
			m = c.meta()
		}
		s.def.cols = append(s.def.cols, m)
	}
	return s
}

// Where makes the index partial (Django's UniqueConstraint(condition=…)):
// only records matching cond are in it, so only they can collide. A record
// that an update moves into or out of cond moves into or out of the index.
// Queries do not read partial indexes.
func (s *IndexSpec[T]) Where(cond Cond[T]) *IndexSpec[T] {
	c := *s
	c.def.where = &cond
	return &c
}

// NullsNotDistinct makes null a value like any other in a unique index
// (Django's nulls_distinct=False): two records with a null in the same
// fields and equal other values collide.
func (s *IndexSpec[T]) NullsNotDistinct() *IndexSpec[T] {
	c := *s
	c.def.nullsNotDistinct = true
	return &c
}

func (s *IndexSpec[T]) apply(sch *schema[T]) {
	if s == nil {
		sch.errs = append(sch.errs, "an index spec is nil")
		return
	}
	d := s.def
	d.cols = slices.Clone(d.cols)
	sch.addIndex(&d)
	if d.where != nil { // the condition's fields are the table's too
		d.where.eachCol(sch.addCol)
	}
}

// Fields declares fields that no index covers, so that conditions may use
// them. Fields of indexes are declared by their index.
func Fields[T any, V Key](first *Column[T, V], rest ...ColumnOf[T]) TableOption[T] {
	return optionFunc[T](func(s *schema[T]) {
		s.addCol(first.meta())
		for _, c := range rest {
			var m *col[T]
			if c != nil {
				m = c.meta()
			}
			s.addCol(m)
		}
	})
}

func (s *schema[T]) addCol(c *col[T]) {
	if c == nil {
		s.errs = append(s.errs, "a field is nil")
		return
	}
	for _, have := range s.cols {
		if have == c {
			return
		}
		if have.name == c.name {
			s.errs = append(s.errs, fmt.Sprintf("two different fields are named %q", c.name))
			return
		}
	}
	if c.problem != "" {
		s.errs = append(s.errs, c.problem)
	}
	s.cols = append(s.cols, c)
}

func (s *schema[T]) addIndex(d *indexDef[T]) {
	if d.primary {
		for _, have := range s.indexes {
			if have.primary {
				s.errs = append(s.errs, "two primary keys")
				return
			}
		}
		s.indexes = append([]*indexDef[T]{d}, s.indexes...)
	} else {
		s.indexes = append(s.indexes, d)
	}
	cols := d.cols[:0]
	for _, c := range d.cols {
		s.addCol(c) // reports a nil field
		if c != nil {
			cols = append(cols, c)
		}
	}
	d.cols = cols
	d.complete = d.isComplete()
}

// validate reports every mistake in the declaration at once.
func (s *schema[T]) validate() error {
	errs := s.errs
	if k := reflect.TypeFor[T]().Kind(); k != reflect.Struct {
		errs = append(errs, fmt.Sprintf("records must be structs, not %s", k))
	}
	if s.table == "" {
		errs = append(errs, "the table has no name")
	}
	if len(s.indexes) == 0 || !s.indexes[0].primary {
		errs = append(errs, "no primary key")
	} else if pk := s.indexes[0].cols; len(pk) == 1 && pk[0].optional {
		errs = append(errs, fmt.Sprintf("primary key %q is an optional field", pk[0].name))
	}
	if len(s.indexes) > maxIndexes {
		errs = append(errs, fmt.Sprintf("%d indexes, over the limit of %d", len(s.indexes), maxIndexes))
	}
	seen := map[string]bool{}
	for _, d := range s.indexes {
		if d.name == "" {
			errs = append(errs, "an index has an empty name")
		}
		if seen[d.name] {
			errs = append(errs, fmt.Sprintf("two indexes are named %q", d.name))
		}
		seen[d.name] = true
		if len(d.cols) == 0 {
			errs = append(errs, fmt.Sprintf("index %q has no fields", d.name))
		}
		if d.where != nil {
			if err := d.where.check(&tableSchema[T]{schema: s}); err != nil {
				errs = append(errs, fmt.Sprintf("index %q: %v", d.name, err))
			}
		}
		if d.nullsNotDistinct && !d.unique {
			errs = append(errs, fmt.Sprintf("index %q: NullsNotDistinct on a plain index", d.name))
		}
		dup := map[*col[T]]bool{}
		for _, c := range d.cols {
			if dup[c] {
				errs = append(errs, fmt.Sprintf("index %q names field %q twice", d.name, c.name))
			}
			dup[c] = true
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &SchemaError{Table: s.table, Reason: strings.Join(errs, "; ")}
}

// hasCol reports whether c is declared in the table.
func (s *schema[T]) hasCol(c *col[T]) bool {
	for _, have := range s.cols {
		if have == c {
			return true
		}
	}
	return false
}

// unknownField is the error for a field named name that the table does
// not declare: it lists the fields it does.
func (s *schema[T]) unknownField(name string) *FieldError {
	choices := make([]string, len(s.cols))
	for i, c := range s.cols {
		choices[i] = c.name
	}
	return &FieldError{Table: s.table, Field: name, Choices: choices}
}

// tableSchema is a table's declaration with the lookups its queries need.
type tableSchema[T any] struct {
	*schema[T]
	pk *indexDef[T]
	// single maps a field to the unique index (primary key first) that
	// covers it alone: the zero-allocation point lookup of Get and
	// GetOrCreate.
	single map[*col[T]]int
}

func newTableSchema[T any](s *schema[T]) *tableSchema[T] {
	ts := &tableSchema[T]{schema: s, pk: s.indexes[0], single: map[*col[T]]int{}}
	for i, d := range s.indexes {
		if d.unique && len(d.cols) == 1 && d.where == nil {
			if _, ok := ts.single[d.cols[0]]; !ok {
				ts.single[d.cols[0]] = i
			}
		}
	}
	return ts
}

// stored returns the entry of a stored record, whose keys are valid.
func (sch *tableSchema[T]) stored(r *T) entry[T] {
	var out uint64
	for i, d := range sch.indexes {
		if !d.member(r) {
			out |= 1 << i
		}
	}
	return entry[T]{rec: r, out: out, sch: sch}
}

// notePK keeps the auto-assigned keys past r's, a key the user may have
// chosen.
func (sch *tableSchema[T]) notePK(r *T) {
	if n, ok := sch.chosenPK(r); ok {
		sch.auto.note(n)
	}
}

// chosenPK returns r's primary key as the auto-assigned key sequence counts
// it, if the table has one and the key is in its range.
func (sch *tableSchema[T]) chosenPK(r *T) (uint64, bool) {
	if sch.auto == nil {
		return 0, false
	}
	k, _ := sch.pk.cols[0].extract(r) // checked by entryOf
	n := k.n
	if sch.pk.cols[0].kind == kindInt {
		if n < 1<<63 { // negative
			return 0, false
		}
		n ^= 1 << 63
	}
	return n, true
}

// prepare takes r for storing (the caller hands over a copy no one else
// holds), assigns it a primary key if the table auto-assigns them and r's
// is zero, and computes its keys.
func (sch *tableSchema[T]) prepare(r *T) (entry[T], error) {
	if sch.auto != nil && sch.pk.cols[0].isZero(r) {
		id, ok := sch.auto.next()
		if !ok {
			return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "the auto-assigned key sequence is exhausted", Err: ErrInvalidKey}
		}
		sch.auto.set(r, id)
	}
	return sch.entryOf(r)
}

// entryOf checks every index key of r and notes the indexes r is in.
func (sch *tableSchema[T]) entryOf(r *T) (entry[T], error) {
	var out uint64
	for i, d := range sch.indexes {
		if !d.member(r) {
			out |= 1 << i
			continue
		}
		if err := d.checkKey(r, sch.table); err != nil {
			return entry[T]{}, err
		}
	}
	if sch.pk.cols[0].isZero(r) {
		return entry[T]{}, &KeyError{Table: sch.table, Field: sch.pk.cols[0].name, Reason: "the primary key is zero", Err: ErrInvalidKey}
	}
	return entry[T]{rec: r, out: out, sch: sch}, nil
}

// checkKey returns why r's key in index d cannot be stored (NaN, over
// MaxKeySize), or nil.
func (d *indexDef[T]) checkKey(r *T, table string) error {
	n, err := d.keySize(r)
	if err == nil && n > MaxKeySize {
		err = &KeyError{Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", n, MaxKeySize), Err: ErrKeyTooLarge}
	}
	if err != nil {
		field := ""
		if len(d.cols) == 1 {
			field = d.cols[0].name
		}
		return withContext(err, table, field)
	}
	return nil
}
