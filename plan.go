package recstore

import (
	"fmt"
	"math"

	"strings"
)

// access is how a plan reaches its candidates.
type access uint8

const (
	fullScan   access = iota // every record, in primary key order
	pointGet                 // one key of a unique index
	keyScan                  // every entry of one key of a plain index
	rangeScan                // the entries between two keys of a one-field index
	prefixScan               // the entries whose key starts with a prefix
	inScan                   // the entries of several keys of a one-field index
	unionScan                // the union of the plans of Or's branches
)

// plan says how to find the records that may match a condition; every
// candidate is checked against the whole condition unless exact.
type plan[T any] struct {
	how    access
	index  int
	k      key   // pointGet, keyScan: the key; prefixScan: the prefix
	lo, hi bound // rangeScan
	keys   []key // inScan
	union  []plan[T]
	exact  bool // the access alone decides the match
}

// bound is one end of a range; a zero bound is unbounded.
type bound struct {
	k    key
	set  bool
	open bool // excludes k itself
}

// plan chooses how to read cond, which the caller validated (Cond.check):
// a unique index all of whose fields are fixed by equalities; else a plain
// one; else In, a range or a prefix on an index; else the longest leading
// run of fixed fields of a composite index; else the union of indexed
// plans for each branch of an Or; else a full scan of the primary key.
func (sch *tableSchema[T]) plan(cond *Cond[T]) plan[T] {
	// The hot path: one equality on a field a unique index covers alone.
	if cond.op() == opEq {
		if i, ok := sch.single[cond.col()]; ok {
			return plan[T]{how: pointGet, index: i, k: cond.k, exact: true}
		}
	}
	c := *cond // choose keeps pointers into it: the copy, so that cond stays on its caller's stack
	return sch.choose(&c)
}

// conjuncts flattens nested Ands.
func conjuncts[T any](c *Cond[T], dst []*Cond[T]) []*Cond[T] {
	if c.op() != opAnd {
		return append(dst, c)
	}
	subs := c.subs()
	for i := range subs {
		dst = conjuncts(&subs[i], dst)
	}
	return dst
}

func (sch *tableSchema[T]) choose(cond *Cond[T]) plan[T] {
	var buf [8]*Cond[T]
	terms := conjuncts(cond, buf[:0])
	eqOnly := true
	for _, t := range terms {
		eqOnly = eqOnly && (t.op() == opEq || t.op() == opAll)
	}
	best, score := plan[T]{how: fullScan}, 0
	consider := func(p plan[T], s int) {
		if s > score {
			best, score = p, s
		}
	}
	for i, d := range sch.indexes {
		if d.where != nil {
			continue // partial: misses records
		}
		n := fixedPrefix(d, terms)
		if n < len(d.cols) && !d.complete {
			continue // nulls-distinct unique: only a full key finds its records
		}
		if n == len(d.cols) {
			k := eqKey(d, terms)
			if d.unique {
				return plan[T]{how: pointGet, index: i, k: k, exact: eqOnly && len(terms) == n}
			}
			consider(plan[T]{how: keyScan, index: i, k: k}, 100+n) // more fields, fewer records
			continue
		}
		next := d.cols[n]
		if len(d.cols) == 1 {
			if in := termFor(terms, next, opIn); in != nil {
				consider(plan[T]{how: inScan, index: i, keys: in.h.keys}, 90)
			}
			if lo, hi, ok := rangeOf(terms, next); ok {
				consider(plan[T]{how: rangeScan, index: i, lo: lo, hi: hi, exact: onlyRanges(terms, next)}, 50)
			}
		}
		prefix := eqPrefix(d, terms, n)
		if p := termFor(terms, next, opPrefix); p != nil {
			if len(d.cols) > 1 && !next.optional {
				prefix = append(prefix, strings.TrimSuffix(string(next.appendKey(nil, p.k)), "\x00\x01")...)
			} else {
				prefix = append(prefix, p.k.s...)
			}
			consider(plan[T]{how: prefixScan, index: i, k: key{s: string(prefix)}}, 40+n)
		} else if n > 0 {
			consider(plan[T]{how: prefixScan, index: i, k: key{s: string(prefix)}}, 30+n)
		}
	}
	if score == 0 {
		for _, t := range terms {
			if t.op() == opOr {
				if u, ok := sch.unionOf(t); ok {
					return u
				}
			}
		}
	}
	return best
}

// unionOf plans each branch of or; it succeeds if none needs a full scan.
func (sch *tableSchema[T]) unionOf(or *Cond[T]) (plan[T], bool) {
	u := plan[T]{how: unionScan}
	subs := or.subs()
	for i := range subs {
		p := sch.choose(&subs[i])
		if p.how == fullScan {
			return plan[T]{}, false
		}
		p.exact = false
		u.union = append(u.union, p)
	}
	return u, true
}

// fixedPrefix counts the leading fields of d that equalities fix.
func fixedPrefix[T any](d *indexDef[T], terms []*Cond[T]) int {
	for n, c := range d.cols {
		if termFor(terms, c, opEq) == nil {
			return n
		}
	}
	return len(d.cols)
}

func termFor[T any](terms []*Cond[T], c *col[T], op condOp) *Cond[T] {
	for _, t := range terms {
		if t.col() == c && t.op() == op {
			return t
		}
	}
	return nil
}

// eqKey is d's key for the values that equalities fix for all its fields.
func eqKey[T any](d *indexDef[T], terms []*Cond[T]) key {
	if len(d.cols) == 1 {
		return termFor(terms, d.cols[0], opEq).k
	}
	return key{s: string(eqPrefix(d, terms, len(d.cols)))} // each field's key was checked alone
}

// eqPrefix encodes the first n fields of d, which equalities fix.
func eqPrefix[T any](d *indexDef[T], terms []*Cond[T], n int) []byte {
	var b []byte
	for _, c := range d.cols[:n] {
		b = c.appendKey(b, termFor(terms, c, opEq).k)
	}
	return b
}

// rangeOf intersects the range conditions on c; ok is false if there are
// none.
func rangeOf[T any](terms []*Cond[T], c *col[T]) (lo, hi bound, ok bool) {
	for _, t := range terms {
		if t.col() != c {
			continue
		}
		switch t.op() {
		case opLt, opLe:
			hi, ok = tighter(hi, bound{k: t.k, set: true, open: t.op() == opLt}, 1), true
		case opGt, opGe:
			lo, ok = tighter(lo, bound{k: t.k, set: true, open: t.op() == opGt}, -1), true
		case opBetween:
			lo, ok = tighter(lo, bound{k: t.k, set: true}, -1), true
			hi = tighter(hi, bound{k: t.h.hi, set: true}, 1)
		}
	}
	if ok && c.optional && !lo.set { // nulls sort first; ranges never match them
		lo = bound{k: nullKey, set: true, open: true}
	}
	return lo, hi, ok
}

// onlyRanges reports whether every term is a range on c, so that a range
// scan of c's index alone decides the match.
func onlyRanges[T any](terms []*Cond[T], c *col[T]) bool {
	for _, t := range terms {
		switch t.op() {
		case opLt, opLe, opGt, opGe, opBetween:
			if t.col() == c {
				continue
			}
		}
		return false
	}
	return true
}

// tighter returns the narrower of two bounds: for a low bound (dir -1) the
// larger, for a high bound (dir 1) the smaller.
func tighter(a, b bound, dir int) bound {
	if !a.set {
		return b
	}
	c := a.k.compare(b.k) * dir
	if c < 0 || c == 0 && a.open {
		return a
	}
	return b
}

// successor is the smallest key greater than k.
func successor(k key) key {
	if k.n == math.MaxUint64 {
		return key{s: k.s + "\x00"}
	}
	return key{s: k.s, n: k.n + 1}
}

// scan calls fn with every record of s that matches cond, in the order of
// the plan's index (for unionScan and inScan: per branch or key), until fn
// returns false. It reports whether it ran to the end.
func (s *tableVersion[T]) scan(p plan[T], cond *Cond[T], fn func(*T) bool) bool {
	visit := func(r *T) bool {
		if p.exact || cond.match(r) {
			return fn(r)
		}
		return true
	}
	tr, d := s.trees[p.index], s.sch.indexes[p.index]
	more := true
	ascend := func(from key, while func(r *T) bool) {
		tr.Ascend(d.probe(from), func(r *T) bool {
			if !while(r) {
				return false
			}
			more = visit(r)
			return more
		})
	}
	switch p.how {
	case pointGet:
		if r, ok := tr.Find(d.probe(p.k)); ok {
			return visit(r)
		}
	case keyScan:
		ascend(p.k, func(r *T) bool { return d.compareKey(p.k, r) == 0 })
		return more
	case inScan:
		for _, k := range p.keys {
			ascend(k, func(r *T) bool { return d.compareKey(k, r) == 0 })
			if !more {
				return false
			}
		}
	case rangeScan:
		var from key
		if p.lo.set {
			from = p.lo.k
			if p.lo.open {
				from = successor(p.lo.k)
			}
		}
		ascend(from, func(r *T) bool {
			if !p.hi.set {
				return true
			}
			c := d.compareKey(p.hi.k, r) // the bound against the record
			return c > 0 || c == 0 && !p.hi.open
		})
	case prefixScan:
		ascend(p.k, func(r *T) bool { return d.hasPrefix(r, p.k.s) })
	case unionScan:
		seen := map[*T]bool{}
		for _, b := range p.union {
			if !s.scan(b, cond, func(r *T) bool {
				if seen[r] {
					return true
				}
				seen[r] = true
				return fn(r)
			}) {
				return false
			}
		}
	default:
		tr.Scan(func(r *T) bool {
			more = visit(r)
			return more
		})
	}
	return more
}

// explain describes p for Query.Explain.
func (sch *tableSchema[T]) explain(p plan[T]) string {
	d := sch.indexes[p.index]
	switch p.how {
	case pointGet:
		return fmt.Sprintf("point %s %s", d.name, sch.describe(d, p.k))
	case keyScan:
		return fmt.Sprintf("key scan %s %s", d.name, sch.describe(d, p.k))
	case inScan:
		vals := make([]string, len(p.keys))
		for i, k := range p.keys {
			vals[i] = sch.describe(d, k)
		}
		return fmt.Sprintf("in %s (%s)", d.name, strings.Join(vals, ", "))
	case rangeScan:
		lo, hi := "(-inf", "+inf)"
		if p.lo.set {
			lo = map[bool]string{false: "[", true: "("}[p.lo.open] + sch.describe(d, p.lo.k)
		}
		if p.hi.set {
			hi = sch.describe(d, p.hi.k) + map[bool]string{false: "]", true: ")"}[p.hi.open]
		}
		return fmt.Sprintf("range %s %s, %s", d.name, lo, hi)
	case prefixScan:
		return fmt.Sprintf("prefix %s %q", d.name, p.k.s)
	case unionScan:
		parts := make([]string, len(p.union))
		for i, b := range p.union {
			parts[i] = sch.explain(b)
		}
		return "union(" + strings.Join(parts, " | ") + ")"
	}
	return "full scan " + d.name
}

// describe renders a key of a one-field index for people; other keys as
// quoted bytes.
func (sch *tableSchema[T]) describe(d *indexDef[T], k key) string {
	if len(d.cols) > 1 || d.cols[0].optional {
		return fmt.Sprintf("%q", k.s)
	}
	switch d.cols[0].kind {
	case kindString:
		return fmt.Sprintf("%q", k.s)
	case kindInt:
		return fmt.Sprint(int64(k.n ^ 1<<63))
	case kindUint:
		return fmt.Sprint(k.n)
	case kindBool:
		return fmt.Sprint(k.n == 1)
	case kindFloat:
		b := k.n
		if b&(1<<63) != 0 {
			b &^= 1 << 63
		} else {
			b = ^b
		}
		return fmt.Sprint(math.Float64frombits(b))
	}
	return fmt.Sprintf("%x", k.s)
}
