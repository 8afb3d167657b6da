package recstore

import (
	"cmp"
	"fmt"
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
	h *condHead[T] // nil in the zero Cond
	k key          // the value of Eq, Ne, Lt, Le, Gt, Ge, Prefix; Between's low
}

// condHead is all of a condition but its value. A Column holds one head
// for each operator of one value (Column.heads), so that Eq and the like
// allocate nothing and their Cond is two fields in 32 bytes, which the
// compiler keeps in registers on the hot path of Get and GetOrCreate
// (built in memory and copied, a larger Cond cost a stalled load: a wide
// read of narrow writes).
type condHead[T any] struct {
	op   condOp
	col  *col[T]
	hi   key   // Between's high
	keys []key // In's values, sorted, distinct
	err  error // why the condition is unusable (NaN, too large, misuse)
	subs []Cond[T]
	pred func(*T) bool // Where
}

// op is c's operator.
func (c *Cond[T]) op() condOp {
	if c.h == nil {
		return opAll
	}
	return c.h.op
}

// col is the field that c tests, or nil.
func (c *Cond[T]) col() *col[T] {
	if c.h == nil {
		return nil
	}
	return c.h.col
}

// err is why c is unusable, or nil.
func (c *Cond[T]) err() error {
	if c.h == nil {
		return nil
	}
	return c.h.err
}

// subs are the conditions that And, Or and Not combine.
func (c *Cond[T]) subs() []Cond[T] {
	if c.h == nil {
		return nil
	}
	return c.h.subs
}

// cond is the condition "field op v", for an operator of one value.
func (c *Column[T, V]) cond(op condOp, v V) Cond[T] {
	k, err := c.valueKey(v)
	if err != nil {
		return Cond[T]{h: &condHead[T]{op: op, col: c.meta(), err: withContext(err, "", c.c.name)}, k: k}
	}
	return Cond[T]{h: &c.heads[op], k: k}
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
	kl, errLo := c.valueKey(lo)
	kh, errHi := c.valueKey(hi)
	h := &condHead[T]{op: opBetween, col: c.meta(), hi: kh}
	if err := cmp.Or(errLo, errHi); err != nil {
		h.err = withContext(err, "", c.c.name)
	}
	return Cond[T]{h: h, k: kl}
}

// In is the condition "field is one of vs". In() matches nothing.
func (c *Column[T, V]) In(vs ...V) Cond[T] {
	h := &condHead[T]{op: opIn, col: c.meta(), keys: make([]key, 0, len(vs))}
	for _, v := range vs {
		k, err := c.valueKey(v)
		if err != nil {
			h.err = withContext(err, "", c.c.name)
			return Cond[T]{h: h}
		}
		h.keys = append(h.keys, k)
	}
	slices.SortFunc(h.keys, key.compare)
	h.keys = slices.Compact(h.keys)
	return Cond[T]{h: h}
}

// Prefix is the condition "field starts with p", for string fields; on
// another field it is an error.
func (c *Column[T, V]) Prefix(p V) Cond[T] {
	if c.c.kind != kindString {
		return Cond[T]{h: &condHead[T]{op: opPrefix, col: c.meta(), err: &LookupError{Reason: "Prefix on field " + c.c.name + ", which is not a string"}}}
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
	return Cond[T]{h: &c.heads[opIsNull]}
}

// Where is the condition that pred holds: an escape hatch for what fields
// cannot say. recstore cannot use an index for it. pred must be a pure
// function of the record.
func Where[T any](pred func(r *T) bool) Cond[T] {
	h := &condHead[T]{op: opWhere, pred: pred}
	if pred == nil {
		h.err = &LookupError{Reason: "Where with a nil predicate"}
	}
	return Cond[T]{h: h}
}

// And is the condition that every one of conds holds (Django's Q & Q).
// And() matches every record.
func And[T any](conds ...Cond[T]) Cond[T] {
	return Cond[T]{h: &condHead[T]{op: opAnd, subs: slices.Clone(conds)}}
}

// Or is the condition that at least one of conds holds (Django's Q | Q).
// Or() matches nothing.
func Or[T any](conds ...Cond[T]) Cond[T] {
	return Cond[T]{h: &condHead[T]{op: opOr, subs: slices.Clone(conds)}}
}

// Not is the condition that c does not hold (Django's ~Q).
func Not[T any](c Cond[T]) Cond[T] {
	return Cond[T]{h: &condHead[T]{op: opNot, subs: []Cond[T]{c}}}
}

// match reports whether r satisfies c.
func (c *Cond[T]) match(r *T) bool {
	switch c.op() {
	case opAll:
		return true
	case opIsNull:
		return c.col().isNull(r)
	case opWhere:
		return c.h.pred(r)
	case opAnd:
		subs := c.subs()
		for i := range subs {
			if !subs[i].match(r) {
				return false
			}
		}
		return true
	case opOr:
		subs := c.subs()
		for i := range subs {
			if subs[i].match(r) {
				return true
			}
		}
		return false
	case opNot:
		return !c.subs()[0].match(r)
	}
	k, err := c.col().extract(r)
	if err != nil {
		return false
	}
	if c.op() == opNe {
		return k != c.k
	}
	if k == nullKey && c.col().optional {
		return false
	}
	switch c.op() {
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
		return k.compare(c.k) >= 0 && k.compare(c.h.hi) <= 0
	case opIn:
		_, ok := slices.BinarySearchFunc(c.h.keys, k, key.compare)
		return ok
	case opPrefix:
		return strings.HasPrefix(k.s, c.k.s)
	}
	return false
}

// eachCol calls fn with the field of every condition in c.
func (c *Cond[T]) eachCol(fn func(*col[T])) {
	if c.col() != nil {
		fn(c.col())
	}
	subs := c.subs()
	for i := range subs {
		subs[i].eachCol(fn)
	}
}

// check returns the first reason c cannot be evaluated on table sch.
func (c *Cond[T]) check(sch *tableSchema[T]) error {
	if err := c.err(); err != nil {
		return withContext(err, sch.table, "")
	}
	if c.col() != nil && !sch.hasCol(c.col()) {
		return sch.unknownField(c.col().name)
	}
	if c.op() == opNot && len(c.subs()) != 1 {
		return &LookupError{Table: sch.table, Reason: "Not needs one condition"}
	}
	subs := c.subs()
	for i := range subs {
		if err := subs[i].check(sch); err != nil {
			return err
		}
	}
	return nil
}

// hash is the same for equal conditions, whatever the order of And's
// terms: GetOrCreate's stripe choice.
func (c *Cond[T]) hash(seed maphash.Seed) uint64 {
	switch c.op() {
	case opEq:
		return maphash.String(seed, c.k.s) ^ (c.k.n * 0x9e3779b97f4a7c15)
	case opAnd:
		var h uint64
		subs := c.subs()
		for i := range subs {
			h += subs[i].hash(seed)
		}
		return h
	}
	return uint64(c.op())
}

// String-like rendering of a condition on a field, for messages, in the
// grammar of Explain: name="Kim", age > 18, age between 1 and 5,
// age in [1, 2], name starts with "K", nick is null, age != 3. ok is
// false for a condition on no field (And, Or, Not, Where, the zero Cond).
func (c *Cond[T]) describe() (s string, ok bool) {
	f := c.col()
	if f == nil {
		return "", false
	}
	switch op := c.op(); op {
	case opEq, opNe, opLt, opLe, opGt, opGe:
		return f.name + opSymbols[op] + formatKey(f, c.k), true
	case opBetween:
		return f.name + " between " + formatKey(f, c.k) + " and " + formatKey(f, c.h.hi), true
	case opIn:
		return f.name + " in " + formatKeys(f, c.h.keys), true
	case opPrefix:
		return f.name + " starts with " + formatStarts(f, c.k), true
	case opIsNull:
		return f.name + " is null", true
	}
	return "", false
}

// opSymbols are the comparisons as describe and Explain write them.
var opSymbols = [...]string{opEq: "=", opNe: " != ", opLt: " < ", opLe: " <= ", opGt: " > ", opGe: " >= "}

// mismatch says why r does not match c, a conjunction: the first of its
// conditions on a field that r fails, with r's value, or a generic reason
// if the first condition r fails is an Or, a Not or a Where.
func (c *Cond[T]) mismatch(r *T) string {
	var buf [8]*Cond[T]
	for _, t := range conjuncts(c, buf[:0]) {
		if t.match(r) {
			continue
		}
		d, ok := t.describe()
		if !ok {
			break
		}
		f := t.col()
		v := f.format(r)
		if k, err := f.extract(r); err == nil {
			v = formatKey(f, k)
		}
		return fmt.Sprintf("the created record has %s %s, which does not match %s", f.name, v, d)
	}
	return "the created record does not match the lookup"
}
