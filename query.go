package recstore

import (
	"strings"
)

type condOp uint8

const (
	opAll condOp = iota // the zero Cond: every record
	opEq
	opAnd
)

// Cond is a condition on records of type T. Build one from a Column (Eq)
// and combine several with And. The zero Cond matches every record. A Cond
// is an immutable value, safe to share between goroutines and to reuse.
type Cond[T any] struct {
	op   condOp
	col  *col[T]
	k    key
	err  error // why the condition's value is unusable (NaN, too large)
	subs []Cond[T]
}

// Eq is the condition "field = v".
func (c *Column[T, V]) Eq(v V) Cond[T] {
	k, err := c.enc(v)
	if err != nil {
		err = withContext(err, "", c.c.name)
	}
	return Cond[T]{op: opEq, col: c.meta(), k: k, err: err}
}

// And is the condition that every one of conds holds. And() matches every
// record.
func And[T any](conds ...Cond[T]) Cond[T] {
	return Cond[T]{op: opAnd, subs: conds}
}

// match reports whether r satisfies c.
func (c *Cond[T]) match(r *T) bool {
	switch c.op {
	case opEq:
		k, err := c.col.extract(r)
		return err == nil && k == c.k
	case opAnd:
		for i := range c.subs {
			if !c.subs[i].match(r) {
				return false
			}
		}
	}
	return true
}

// check returns the first reason c cannot be evaluated on table sch.
func (c *Cond[T]) check(sch *tableSchema[T]) error {
	if c.err != nil {
		return withContext(c.err, sch.table, "")
	}
	if c.col != nil && !sch.hasCol(c.col) {
		return &FieldError{Table: sch.table, Field: c.col.name}
	}
	for i := range c.subs {
		if err := c.subs[i].check(sch); err != nil {
			return err
		}
	}
	return nil
}

// eqTerms appends the "field = value" conditions that c requires of every
// match, and reports whether c holds nothing else.
func (c *Cond[T]) eqTerms(dst []*Cond[T]) ([]*Cond[T], bool) {
	switch c.op {
	case opEq:
		return append(dst, c), true
	case opAnd:
		exact := true
		for i := range c.subs {
			var ex bool
			dst, ex = c.subs[i].eqTerms(dst)
			exact = exact && ex
		}
		return dst, exact
	}
	return dst, c.op == opAll
}

// access is how a plan reaches its candidates.
type access uint8

const (
	fullScan   access = iota // every record, in primary key order
	pointGet                 // one key of a unique index
	keyScan                  // every entry of one key of a plain index
	prefixScan               // every entry whose key starts with a prefix
)

// plan says how to find the records matching a condition.
type plan[T any] struct {
	how   access
	index int
	k     key
	exact bool // the index access alone decides the match
}

// planFor validates cond against the table and chooses an index: a unique
// index all of whose fields are fixed by equalities, else a plain one, else
// the longest leading run of fixed fields of any composite index, else a
// full scan of the primary key.
func (sch *tableSchema[T]) planFor(cond *Cond[T]) (plan[T], error) {
	if err := cond.check(sch); err != nil {
		return plan[T]{}, err
	}
	// The hot path: one equality on a field a unique index covers alone.
	if cond.op == opEq {
		if i, ok := sch.single[cond.col]; ok {
			return plan[T]{how: pointGet, index: i, k: cond.k, exact: true}, nil
		}
	}
	var buf [8]*Cond[T]
	eqs, exact := cond.eqTerms(buf[:0])
	best, bestLen := plan[T]{how: fullScan, exact: cond.op == opAll}, 0
	for i, d := range sch.indexes {
		n := fixedPrefix(d, eqs)
		switch {
		case n == len(d.cols) && d.unique:
			return plan[T]{how: pointGet, index: i, k: eqKey(d, eqs), exact: exact && len(eqs) == n}, nil
		case n == len(d.cols) && best.how != keyScan:
			best, bestLen = plan[T]{how: keyScan, index: i, k: eqKey(d, eqs), exact: exact && len(eqs) == n}, n
		case n > bestLen && best.how != keyScan:
			var b []byte
			for _, c := range d.cols[:n] {
				b = appendComponent(b, c.kind, eqFor(eqs, c).k)
			}
			best, bestLen = plan[T]{how: prefixScan, index: i, k: key{s: string(b)}}, n
		}
	}
	return best, nil
}

// fixedPrefix counts the leading fields of d that eqs fix.
func fixedPrefix[T any](d *indexDef[T], eqs []*Cond[T]) int {
	for n, c := range d.cols {
		if eqFor(eqs, c) == nil {
			return n
		}
	}
	return len(d.cols)
}

func eqFor[T any](eqs []*Cond[T], c *col[T]) *Cond[T] {
	for _, e := range eqs {
		if e.col == c {
			return e
		}
	}
	return nil
}

// eqKey is d's key for the values that eqs fix for all its fields.
func eqKey[T any](d *indexDef[T], eqs []*Cond[T]) key {
	if len(d.cols) == 1 {
		return eqFor(eqs, d.cols[0]).k
	}
	var b []byte
	for _, c := range d.cols {
		b = appendComponent(b, c.kind, eqFor(eqs, c).k)
	}
	return key{s: string(b)} // each field's key was checked on its own
}

// scan calls fn with every record of s that matches cond, in the order of
// the plan's index, until fn returns false.
func (s *tableState[T]) scan(p plan[T], cond *Cond[T], fn func(*T) bool) {
	visit := func(it item[T]) bool {
		if p.exact || cond.match(it.rec) {
			return fn(it.rec)
		}
		return true
	}
	tr := s.trees[p.index]
	switch p.how {
	case pointGet:
		if it, ok := tr.Get(item[T]{k: p.k}); ok {
			visit(it)
		}
	case keyScan:
		tr.Ascend(item[T]{k: p.k}, func(it item[T]) bool {
			return it.k == p.k && visit(it)
		})
	case prefixScan:
		tr.Ascend(item[T]{k: p.k}, func(it item[T]) bool {
			return strings.HasPrefix(it.k.s, p.k.s) && visit(it)
		})
	default:
		tr.Scan(visit)
	}
}

// getOne returns the single record of s matching cond: the core of Get.
func (s *tableState[T]) getOne(cond *Cond[T]) (*T, error) {
	p, err := s.sch.planFor(cond)
	if err != nil {
		return nil, err
	}
	return s.find(p, cond)
}

// find is getOne with the plan made.
func (s *tableState[T]) find(p plan[T], cond *Cond[T]) (*T, error) {
	r, n := s.matches(p, cond)
	switch n {
	case 0:
		return nil, &NotFoundError{Table: s.sch.table}
	case 1:
		return r, nil
	}
	return nil, &MultipleReturnedError{Table: s.sch.table, Count: n}
}

// matches returns a record matching cond and how many match, counting up
// to maxGetResults. It allocates nothing for the point lookup of a unique
// index, hit or miss.
func (s *tableState[T]) matches(p plan[T], cond *Cond[T]) (*T, int) {
	if p.how == pointGet && p.exact {
		if it, ok := s.trees[p.index].Get(item[T]{k: p.k}); ok {
			return it.rec, 1
		}
		return nil, 0
	}
	var found *T
	n := 0
	s.scan(p, cond, func(r *T) bool {
		found = r
		n++
		return n < maxGetResults
	})
	return found, n
}
