package recstore

import (
	"hash/maphash"
	"slices"
	"strings"
)

type condOp uint8

const (
	opAll condOp = iota // the zero Cond: every record
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opBetween
	opIn
	opPrefix
	opIsNull
	opWhere
	opAnd
	opOr
	opNot
)

// Cond is a condition on records of type T. Build one from a Column (Eq,
// Lt, In, Prefix, …) or with Where, and combine them with And, Or and Not.
// The zero Cond matches every record. A Cond is an immutable value, safe to
// share between goroutines and to reuse.
//
// Conditions compare values as Go does (strings bytewise, NaN rejected, -0
// equal to +0, times as instants). A condition other than IsNull, Ne and
// Not never matches a null optional field. An empty range (Between(9, 1),
// or Gt(5) with Lt(3)) matches nothing; it is not an error.
type Cond[T any] struct {
	op  condOp
	col *col[T]
	k   key // the value of Eq, Ne, Lt, Le, Gt, Ge, Prefix; Between's low
	// more is what other conditions need; it is nil in a valid condition
	// of one operator and one value, the lookup of Get and GetOrCreate,
	// so that the Cond their hot path copies is 48 bytes.
	more *condMore[T]
}

type condMore[T any] struct {
	hi   key   // Between's high
	keys []key // In's values, sorted, distinct
	err  error // why the condition is unusable (NaN, too large, misuse)
	subs []Cond[T]
	pred func(*T) bool // Where
}

// ext returns c's condMore, allocating it if c has none. Only the
// functions that build a Cond call it, before anyone else holds the Cond.
func (c *Cond[T]) ext() *condMore[T] {
	if c.more == nil {
		c.more = new(condMore[T])
	}
	return c.more
}

// err is why c is unusable, or nil.
func (c *Cond[T]) err() error {
	if c.more == nil {
		return nil
	}
	return c.more.err
}

// subs are the conditions that And, Or and Not combine.
func (c *Cond[T]) subs() []Cond[T] {
	if c.more == nil {
		return nil
	}
	return c.more.subs
}

// cond is the condition "field op v". It builds its result in one
// expression and never takes its address: built field by field in memory
// and then copied whole, a Cond cost a stalled load (a wide read of narrow
// writes) on the hot path of Get.
func (c *Column[T, V]) cond(op condOp, v V) Cond[T] {
	k, err := c.valueKey(v)
	if err != nil {
		return Cond[T]{op: op, col: c.meta(), k: k, more: &condMore[T]{err: withContext(err, "", c.c.name)}}
	}
	return Cond[T]{op: op, col: c.meta(), k: k}
}

// Eq is the condition "field = v".
func (c *Column[T, V]) Eq(v V) Cond[T] { return c.cond(opEq, v) }

// Ne is the condition "field ≠ v"; a null optional field is not v.
func (c *Column[T, V]) Ne(v V) Cond[T] { return c.cond(opNe, v) }

// Lt is the condition "field < v".
func (c *Column[T, V]) Lt(v V) Cond[T] { return c.cond(opLt, v) }

// Le is the condition "field ≤ v".
func (c *Column[T, V]) Le(v V) Cond[T] { return c.cond(opLe, v) }

// Gt is the condition "field > v".
func (c *Column[T, V]) Gt(v V) Cond[T] { return c.cond(opGt, v) }

// Ge is the condition "field ≥ v".
func (c *Column[T, V]) Ge(v V) Cond[T] { return c.cond(opGe, v) }

// Between is the condition "lo ≤ field ≤ hi". With lo > hi it matches
// nothing.
func (c *Column[T, V]) Between(lo, hi V) Cond[T] {
	cd := c.cond(opBetween, lo)
	h, err := c.valueKey(hi)
	m := cd.ext()
	if err != nil && m.err == nil {
		m.err = withContext(err, "", c.c.name)
	}
	m.hi = h
	return cd
}

// In is the condition "field is one of vs". In() matches nothing.
func (c *Column[T, V]) In(vs ...V) Cond[T] {
	cd := Cond[T]{op: opIn, col: c.meta()}
	m := cd.ext()
	m.keys = make([]key, 0, len(vs))
	for _, v := range vs {
		k, err := c.valueKey(v)
		if err != nil {
			m.err = withContext(err, "", c.c.name)
			return cd
		}
		m.keys = append(m.keys, k)
	}
	slices.SortFunc(m.keys, key.compare)
	m.keys = slices.Compact(m.keys)
	return cd
}

// Prefix is the condition "field starts with p", for string fields; on
// another field it is an error.
func (c *Column[T, V]) Prefix(p V) Cond[T] {
	if c.c.kind != kindString {
		return Cond[T]{op: opPrefix, col: c.meta(), more: &condMore[T]{err: &LookupError{Reason: "Prefix on field " + c.c.name + ", which is not a string"}}}
	}
	cd := c.cond(opPrefix, p)
	if cd.err() == nil {
		if c.optional() { // drop the terminator: a prefix of the encoding
			cd.k.s = strings.TrimSuffix(cd.k.s, "\x00\x01")
		}
	}
	return cd
}

// IsNull is the condition "field is null"; for a field declared with Field
// (never null) it matches nothing.
func (c *Column[T, V]) IsNull() Cond[T] {
	return Cond[T]{op: opIsNull, col: c.meta()}
}

// Where is the condition that pred holds: an escape hatch for what fields
// cannot say. recstore cannot use an index for it. pred must be a pure
// function of the record.
func Where[T any](pred func(r *T) bool) Cond[T] {
	c := Cond[T]{op: opWhere, more: &condMore[T]{pred: pred}}
	if pred == nil {
		c.more.err = &LookupError{Reason: "Where with a nil predicate"}
	}
	return c
}

// And is the condition that every one of conds holds (Django's Q & Q).
// And() matches every record.
func And[T any](conds ...Cond[T]) Cond[T] {
	return Cond[T]{op: opAnd, more: &condMore[T]{subs: slices.Clone(conds)}}
}

// Or is the condition that at least one of conds holds (Django's Q | Q).
// Or() matches nothing.
func Or[T any](conds ...Cond[T]) Cond[T] {
	return Cond[T]{op: opOr, more: &condMore[T]{subs: slices.Clone(conds)}}
}

// Not is the condition that c does not hold (Django's ~Q).
func Not[T any](c Cond[T]) Cond[T] {
	return Cond[T]{op: opNot, more: &condMore[T]{subs: []Cond[T]{c}}}
}

// match reports whether r satisfies c.
func (c *Cond[T]) match(r *T) bool {
	switch c.op {
	case opAll:
		return true
	case opIsNull:
		return c.col.isNull(r)
	case opWhere:
		return c.more.pred(r)
	case opAnd:
		for i := range c.subs() {
			if !c.more.subs[i].match(r) {
				return false
			}
		}
		return true
	case opOr:
		for i := range c.subs() {
			if c.more.subs[i].match(r) {
				return true
			}
		}
		return false
	case opNot:
		return !c.more.subs[0].match(r)
	}
	k, err := c.col.extract(r)
	if err != nil {
		return false
	}
	if c.op == opNe {
		return k != c.k
	}
	if k == nullKey && c.col.optional {
		return false
	}
	switch c.op {
	case opEq:
		return k == c.k
	case opLt:
		return k.compare(c.k) < 0
	case opLe:
		return k.compare(c.k) <= 0
	case opGt:
		return k.compare(c.k) > 0
	case opGe:
		return k.compare(c.k) >= 0
	case opBetween:
		return k.compare(c.k) >= 0 && k.compare(c.more.hi) <= 0
	case opIn:
		_, ok := slices.BinarySearchFunc(c.more.keys, k, key.compare)
		return ok
	case opPrefix:
		return strings.HasPrefix(k.s, c.k.s)
	}
	return false
}

// eachCol calls fn with the field of every condition in c.
func (c *Cond[T]) eachCol(fn func(*col[T])) {
	if c.col != nil {
		fn(c.col)
	}
	for i := range c.subs() {
		c.more.subs[i].eachCol(fn)
	}
}

// check returns the first reason c cannot be evaluated on table sch.
func (c *Cond[T]) check(sch *tableSchema[T]) error {
	if err := c.err(); err != nil {
		return withContext(err, sch.table, "")
	}
	if c.col != nil && !sch.hasCol(c.col) {
		return &FieldError{Table: sch.table, Field: c.col.name}
	}
	if c.op == opNot && len(c.subs()) != 1 {
		return &LookupError{Table: sch.table, Reason: "Not needs one condition"}
	}
	for i := range c.subs() {
		if err := c.more.subs[i].check(sch); err != nil {
			return err
		}
	}
	return nil
}

// hash is the same for equal conditions, whatever the order of And's
// terms: GetOrCreate's stripe choice.
func (c *Cond[T]) hash(seed maphash.Seed) uint64 {
	switch c.op {
	case opEq:
		return maphash.String(seed, c.k.s) ^ (c.k.n * 0x9e3779b97f4a7c15)
	case opAnd:
		var h uint64
		for i := range c.subs() {
			h += c.more.subs[i].hash(seed)
		}
		return h
	}
	return uint64(c.op)
}
