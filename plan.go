package recstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// access is how a plan reaches its candidates.
type access uint8

const (
	fullScan   access = iota // every entry of an index
	pointGet                 // one key of a unique index
	keyScan                  // every entry of one key of a plain index
	rangeScan                // the entries whose field n lies in a range, the fields before it fixed
	prefixScan               // the entries whose key starts with a prefix
	inScan                   // the entries of several keys of a one-field index
	unionScan                // the union of the plans of Or's branches
)

// plan says how to find the records that may match a condition; every
// candidate is checked against the whole condition unless exact. A scan
// reads its index in ascending order of the index's key, or descending if
// desc.
type plan[T any] struct {
	how   access
	index int
	// k is the key of pointGet and keyScan; for rangeScan and prefixScan,
	// the encoding of the n leading fields that equalities fix (a
	// composite index's).
	k key
	n int
	// lo, hi bound field n of a rangeScan (keys of that field alone).
	lo, hi bound
	// starts is the value of the Prefix condition on field n of a
	// prefixScan, as the condition holds it; hasStarts says there is one.
	starts    key
	hasStarts bool
	keys      []key // inScan
	union     []plan[T]
	exact     bool // the access alone decides the match
	desc      bool
}

// bound is one end of a range; a zero bound is unbounded.
type bound struct {
	k    key
	set  bool
	open bool // excludes k itself
}

// The planner. For a condition alone (Get, Count, Delete's lookups) it
// takes, in this order: a unique index all of whose fields equalities fix
// (a point lookup: the primary key first); else the best of, per index, a
// plain index all of whose fields are fixed (more fields first), an In on
// a one-field index, a range on the field after the fixed ones, a Prefix
// on it, the fixed leading fields alone, a partial index's records alone;
// else the union of indexed plans for the branches of an Or; else a full
// scan of the primary key. Between two of these, one whose access decides
// every condition that the other's decides, and more, wins whatever its
// rank: it reads a subset of the other's records.
//
// An index can serve a condition only if it holds every record the
// condition matches: a partial index when each conjunct of its Where is
// among the condition's conjuncts (the same operator, field and value; a
// Where predicate the same Cond), a unique index that leaves out nulls
// when the condition never matches a null in its optional fields (a
// condition on each of them other than IsNull, Ne and Not).
//
// For a query with an order (every query: none is primary key order), the
// planner then looks for an index that yields that order: the order's
// terms, less those on fields that equalities fix (constant), must follow
// the index's fields that are not fixed, all in one direction, which the
// scan takes. A plain index orders the records of one key by primary key,
// which then counts as its last field. When the order's leading terms
// follow the index and the rest do not (the primary key ascending under a
// descending scan, mixed directions), the scan yields runs of records
// equal in the leading terms, and each run is sorted alone: only a run is
// held. A plan that yields the order, whole or in runs, replaces the
// condition's plan if it narrows the records at least as much: as many
// fields fixed by equality (a partial index's Where counting its
// equalities), then a range, In or Prefix on the next field. Otherwise
// the query reads its records and sorts them.

// candidate is one way to read a condition's matches, and what the
// planner weighs.
type candidate[T any] struct {
	p     plan[T]
	score int
	eq    int    // fields fixed by equality that the access uses
	bound bool   // a range, In or Prefix narrows the access further
	uses  uint64 // the conditions (by index among the conjuncts, the first 64) that the access decides
}

// better reports whether the planner prefers c to o: c's access decides
// every condition that o's does and more (it reads a subset of o's
// records), or neither's conditions contain the other's and c scores
// higher.
func (c *candidate[T]) better(o *candidate[T]) bool {
	switch {
	case c.uses != o.uses && c.uses&o.uses == o.uses:
		return true
	case c.uses != o.uses && c.uses&o.uses == c.uses:
		return false
	}
	return c.score > o.score
}

// narrower reports whether c narrows the records at least as much as o.
func (c *candidate[T]) narrower(o *candidate[T]) bool {
	return c.eq > o.eq || c.eq == o.eq && (c.bound || !o.bound)
}

// plan chooses how to read cond, which the caller validated (Cond.check).
// See the planner's rules above.
func (sch *tableSchema[T]) plan(cond *Cond[T]) plan[T] {
	// The hot path: one equality on a field a unique index covers alone.
	if cond.op() == opEq {
		if i, ok := sch.single[cond.col()]; ok {
			return plan[T]{how: pointGet, index: i, k: cond.k, exact: true}
		}
	}
	c := *cond // choose keeps pointers into it: the copy, so that cond stays on its caller's stack
	var buf [8]*Cond[T]
	best, _ := sch.choose(conjuncts(&c, buf[:0]), nil)
	return best.p
}

// ordered chooses how to read a query's records in order (order's terms,
// validated): the plan, the order it must yield (see effectiveOrder), and
// how many of that order's leading terms the plan's scan yields in order:
// all of them (the records stream), some (runs of records equal in those
// terms are sorted alone) or none (every record is read and sorted).
func (sch *tableSchema[T]) ordered(cond *Cond[T], order []Order[T]) (plan[T], []Order[T], int) {
	var buf [8]*Cond[T]
	terms := conjuncts(cond, buf[:0])
	var cbuf [8]candidate[T] // enough for most schemas: kept off the heap
	best, cands := sch.choose(terms, cbuf[:0])
	eff := sch.effectiveOrder(order, terms)
	pick, sorted := best, sch.yields(best.p, eff, terms)
	if sorted < len(eff) && best.p.how != unionScan {
		for i := range cands {
			c := &cands[i]
			if !c.narrower(&best) {
				continue
			}
			if n := sch.yields(c.p, eff, terms); n > sorted || n == sorted && n > 0 && c.score > pick.score {
				pick, sorted = *c, n
			}
		}
	}
	p := pick.p
	p.desc = sorted > 0 && eff[0].desc && p.how != pointGet // one record has no direction
	return p, eff, sorted
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

// choose returns the best plan for the conjunction of terms. With a
// non-nil cands, it also returns cands with every candidate it weighed
// appended, full scans of every index it may read included, for ordered
// to choose from.
func (sch *tableSchema[T]) choose(terms []*Cond[T], cands []candidate[T]) (candidate[T], []candidate[T]) {
	eqOnly := true
	for _, t := range terms {
		eqOnly = eqOnly && (t.op() == opEq || t.op() == opAll)
	}
	best := candidate[T]{p: plan[T]{how: fullScan}}
	consider := func(c candidate[T]) {
		if c.better(&best) {
			best = c
		}
		if cands != nil {
			cands = append(cands, c)
		}
	}
	for i, d := range sch.indexes {
		where, whereEq, whereBound, ok := sch.usable(d, terms)
		if !ok {
			continue
		}
		extra := 0 // a partial index narrows by its Where
		if d.where != nil {
			extra = 5
		}
		n := fixedPrefix(d, terms)
		uses := where // the conditions the access decides
		for _, c := range d.cols[:n] {
			uses |= termBits(terms, termFor(terms, c, opEq))
		}
		if n == len(d.cols) {
			k := eqKey(d, terms)
			if d.unique {
				return candidate[T]{p: plan[T]{how: pointGet, index: i, k: k, exact: eqOnly && len(terms) == n}, score: math.MaxInt, uses: math.MaxUint64}, nil
			}
			consider(candidate[T]{p: plan[T]{how: keyScan, index: i, k: k}, score: 100 + n + extra, eq: n + whereEq, bound: whereBound, uses: uses}) // more fields, fewer records
			continue
		}
		var prefix []byte
		if len(d.cols) > 1 {
			prefix = eqPrefix(d, terms, n)
		}
		base := plan[T]{index: i, k: key{s: string(prefix)}, n: n}
		next := d.cols[n]
		if len(d.cols) == 1 {
			if in := termFor(terms, next, opIn); in != nil {
				p := base
				p.how, p.keys = inScan, in.h.keys
				consider(candidate[T]{p: p, score: 90 + extra, eq: whereEq, bound: true, uses: uses | termBits(terms, in)})
			}
		}
		if lo, hi, ok := rangeOf(terms, next); ok {
			p := base
			p.how, p.lo, p.hi = rangeScan, lo, hi
			p.exact = len(d.cols) == 1 && d.where == nil && onlyRanges(terms, next)
			consider(candidate[T]{p: p, score: 50 + n + extra, eq: n + whereEq, bound: true, uses: uses | rangeBits(terms, next)})
		}
		if t := termFor(terms, next, opPrefix); t != nil {
			p := base
			p.how, p.starts, p.hasStarts = prefixScan, t.k, true
			consider(candidate[T]{p: p, score: 40 + n + extra, eq: n + whereEq, bound: true, uses: uses | termBits(terms, t)})
		} else if n > 0 {
			p := base
			p.how = prefixScan
			consider(candidate[T]{p: p, score: 30 + n + extra, eq: n + whereEq, bound: whereBound, uses: uses})
		} else if d.where != nil || cands != nil {
			consider(candidate[T]{p: plan[T]{how: fullScan, index: i}, score: extra, eq: whereEq, bound: whereBound, uses: uses})
		}
	}
	if best.score == 0 {
		for _, t := range terms {
			if t.op() == opOr {
				if u, ok := sch.unionOf(t); ok {
					return candidate[T]{p: u}, nil
				}
			}
		}
	}
	return best, cands
}

// usable reports whether index d holds every record matching the
// conjunction of terms, and how its Where narrows it: the terms it
// decides (see termBits), the equalities among them, and whether it holds
// other conditions.
func (sch *tableSchema[T]) usable(d *indexDef[T], terms []*Cond[T]) (where uint64, whereEq int, whereBound, ok bool) {
	if d.complete {
		return 0, 0, false, true
	}
	if d.where != nil {
		var buf [8]*Cond[T]
		for _, w := range conjuncts(d.where, buf[:0]) {
			if w.op() == opAll {
				continue
			}
			i := slices.IndexFunc(terms, func(t *Cond[T]) bool { return sameCond(t, w) })
			if i < 0 {
				return 0, 0, false, false
			}
			where |= termBits(terms, terms[i])
			if w.op() == opEq {
				whereEq++
			} else {
				whereBound = true
			}
		}
	}
	if d.unique && !d.nullsNotDistinct {
		for _, c := range d.cols {
			if c.optional && !slices.ContainsFunc(terms, func(t *Cond[T]) bool { return t.col() == c && t.op().skipsNull() }) {
				return 0, 0, false, false
			}
		}
	}
	return where, whereEq, whereBound, true
}

// termBits is the bit of term t among terms (by identity), if one of the
// first 64.
func termBits[T any](terms []*Cond[T], t *Cond[T]) uint64 {
	for i, x := range terms[:min(len(terms), 64)] {
		if x == t {
			return 1 << i
		}
	}
	return 0
}

// rangeBits are the bits of the range conditions on c among terms.
func rangeBits[T any](terms []*Cond[T], c *col[T]) uint64 {
	var bits uint64
	for i, t := range terms[:min(len(terms), 64)] {
		switch t.op() {
		case opLt, opLe, opGt, opGe, opBetween:
			if t.col() == c {
				bits |= 1 << i
			}
		}
	}
	return bits
}

// skipsNull reports whether a condition of operator op on a field never
// matches a null.
func (op condOp) skipsNull() bool {
	switch op {
	case opEq, opLt, opLe, opGt, opGe, opBetween, opIn, opPrefix:
		return true
	}
	return false
}

// sameCond reports whether a and b are the same condition: the same
// operator, field and values, the same Where predicate (the same Cond),
// and the same conditions under And, Or and Not, in order.
func sameCond[T any](a, b *Cond[T]) bool {
	if a.h == b.h && a.k == b.k {
		return true
	}
	ha, hb := a.h, b.h
	if ha == nil || hb == nil || ha.op != hb.op || ha.col != hb.col || a.k != b.k || ha.err != nil || hb.err != nil {
		return false
	}
	switch ha.op {
	case opWhere:
		return false // two predicates: equal only as one Cond
	case opBetween:
		return ha.hi == hb.hi
	case opIn:
		return slices.Equal(ha.keys, hb.keys)
	case opAnd, opOr, opNot:
		if len(ha.subs) != len(hb.subs) {
			return false
		}
		for i := range ha.subs {
			if !sameCond(&ha.subs[i], &hb.subs[i]) {
				return false
			}
		}
	}
	return true
}

// unionOf plans each branch of or; it succeeds if none needs a full scan.
func (sch *tableSchema[T]) unionOf(or *Cond[T]) (plan[T], bool) {
	u := plan[T]{how: unionScan}
	subs := or.subs()
	for i := range subs {
		var buf [8]*Cond[T]
		b, _ := sch.choose(conjuncts(&subs[i], buf[:0]), nil)
		p := b.p
		if p.how == fullScan {
			return plan[T]{}, false
		}
		p.exact = false
		u.union = append(u.union, p)
	}
	return u, true
}

// effectiveOrder is the order a query's records must come in: its terms,
// less those on fields that the conjunction of terms fixes (an equality or
// IsNull makes them constant) or that an earlier term names, up to the
// first term on a field that tells records apart (the primary key, a
// field a complete unique index covers alone), else followed by the
// primary key ascending, which breaks ties.
func (sch *tableSchema[T]) effectiveOrder(order []Order[T], terms []*Cond[T]) []Order[T] {
	var eff []Order[T]
	for i, o := range order {
		if skipped(eff, terms, o) {
			continue
		}
		if len(eff) == i {
			eff = order[: i+1 : i+1] // the order's own leading terms: no copy
		} else {
			eff = append(eff, o) // eff's capacity is clipped: order stays as it is
		}
		if sch.identifies(o.col) {
			return eff
		}
	}
	return append(eff, Order[T]{col: sch.pk.cols[0]})
}

// skipped reports whether o adds nothing to an order after earlier: its
// field is fixed by terms or named already.
func skipped[T any](earlier []Order[T], terms []*Cond[T], o Order[T]) bool {
	return fixedField(terms, o.col) || slices.ContainsFunc(earlier, func(e Order[T]) bool { return e.col == o.col })
}

// fixedField reports whether an equality or IsNull among terms makes c
// constant over the records they match.
func fixedField[T any](terms []*Cond[T], c *col[T]) bool {
	return termFor(terms, c, opEq) != nil || termFor(terms, c, opIsNull) != nil
}

// identifies reports whether no two records share a value of c.
func (sch *tableSchema[T]) identifies(c *col[T]) bool {
	for _, d := range sch.indexes {
		if d.unique && d.complete && len(d.cols) == 1 && d.cols[0] == c {
			return true
		}
	}
	return false
}

// yields returns how many leading terms of eff (an effectiveOrder) the
// records come in when p's scan reads its index in the direction of the
// first term: len(eff) if they come in eff's order.
func (sch *tableSchema[T]) yields(p plan[T], eff []Order[T], terms []*Cond[T]) int {
	switch p.how {
	case pointGet:
		return len(eff) // one record at most
	case unionScan:
		return 0
	}
	// The index's order: its fields, then, if plain, the primary key.
	// Fixed fields are constant and skipped.
	d := sch.indexes[p.index]
	n := len(d.cols)
	if !d.unique {
		n++
	}
	k := 0
	for i := range n {
		c := sch.pk.cols[0]
		if i < len(d.cols) {
			c = d.cols[i]
		}
		if fixedField(terms, c) {
			continue
		}
		if k == len(eff) || eff[k].col != c || eff[k].desc != eff[0].desc {
			return k
		}
		k++
	}
	// Every field of the index follows the order, and they tell records
	// apart: the order's later terms cannot change it.
	return len(eff)
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

// edges returns where p's scan of index d starts and stops, in ascending
// order (hasLo or hasHi false: the index's end). Field n's keys are
// compared alone in a one-field index, and after the fixed fields'
// encoding in a composite one, where a component is self-delimiting: every key whose
// field n is v starts with the encoding of v, so "after v" is "after every
// key starting with it".
func (p *plan[T]) edges(d *indexDef[T]) (lo, hi edge, hasLo, hasHi bool) {
	one := len(d.cols) == 1
	at := func(k key) key { // field n's key k as the index compares it
		if one {
			return k
		}
		return key{s: p.k.s + string(d.cols[p.n].appendKey(nil, k))}
	}
	switch p.how {
	case keyScan:
		return before(p.k), after(p.k), true, true
	case rangeScan:
		switch {
		case p.lo.set && p.lo.open && one:
			lo, hasLo = after(p.lo.k), true
		case p.lo.set && p.lo.open:
			lo, hasLo = afterPrefix(at(p.lo.k).s), true
		case p.lo.set:
			lo, hasLo = before(at(p.lo.k)), true
		case p.n > 0:
			lo, hasLo = before(p.k), true
		}
		switch {
		case p.hi.set && p.hi.open:
			hi, hasHi = before(at(p.hi.k)), true
		case p.hi.set && one:
			hi, hasHi = after(p.hi.k), true
		case p.hi.set:
			hi, hasHi = afterPrefix(at(p.hi.k).s), true
		case p.n > 0:
			hi, hasHi = afterPrefix(p.k.s), true
		}
		return lo, hi, hasLo, hasHi
	case prefixScan:
		prefix := p.k.s
		if p.hasStarts {
			prefix += startsKey(d.cols[p.n], p.starts, one)
		}
		return before(key{s: prefix}), afterPrefix(prefix), true, true
	}
	return lo, hi, false, false // fullScan
}

// startsKey is how the keys of field c start when its value starts with
// the value of a Prefix condition whose key is k: in a one-field index,
// k itself; in a composite one, the encoding of the value without its
// terminator (an optional field's k is already that).
func startsKey[T any](c *col[T], k key, one bool) string {
	if one || c.optional {
		return k.s
	}
	return string(appendEscaped(nil, k.s))
}

// scan calls fn with every record of s that matches cond, in the order of
// the plan's index and direction (for unionScan: per branch), until fn
// returns false. It reports whether it ran to the end.
func (s *tableVersion[T]) scan(p plan[T], cond *Cond[T], fn func(*T) bool) bool {
	visit := func(r *T) bool {
		if p.exact || cond.match(r) {
			return fn(r)
		}
		return true
	}
	tr, d := s.trees[p.index], s.sch.indexes[p.index]
	switch p.how {
	case pointGet:
		if r, ok := tr.Find(d.probe(p.k)); ok {
			return visit(r)
		}
		return true
	case inScan:
		for i := range p.keys {
			k := p.keys[i]
			if p.desc {
				k = p.keys[len(p.keys)-1-i]
			}
			lo, hi := before(k), after(k)
			if !between(tr, d, &lo, &hi, p.desc, visit) {
				return false
			}
		}
		return true
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
		return true
	}
	lo, hi, hasLo, hasHi := p.edges(d)
	return between(tr, d, edgeIf(&lo, hasLo), edgeIf(&hi, hasHi), p.desc, visit)
}

// edgeIf is e if ok, else nil (no edge).
func edgeIf(e *edge, ok bool) *edge {
	if ok {
		return e
	}
	return nil
}

// between calls fn with the records of tr (index d) between edges lo and
// hi (nil: unbounded), ascending or descending, until fn returns false,
// and reports whether it ran to the end.
func between[T any](tr *tree[T], d *indexDef[T], lo, hi *edge, desc bool, fn func(*T) bool) bool {
	from, to, sign := lo, hi, 1
	if desc {
		from, to, sign = hi, lo, -1
	}
	var probe func(*T) int
	if from != nil {
		probe = func(r *T) int { return d.cmpEdge(from, r) }
	}
	var past func(*T) bool
	if to != nil {
		past = func(r *T) bool { return d.cmpEdge(to, r)*sign < 0 }
	}
	if desc {
		return tr.Descend(probe, past, fn)
	}
	return tr.Ascend(probe, past, fn)
}

// explain describes p for Query.Explain: the access, the index, the
// values it fixes or bounds by field, decoded, and the direction.
func (sch *tableSchema[T]) explain(p plan[T]) string {
	if p.how == unionScan {
		parts := make([]string, len(p.union))
		for i, b := range p.union {
			parts[i] = sch.explain(b)
		}
		return "union(" + strings.Join(parts, " | ") + ")"
	}
	d := sch.indexes[p.index]
	var s string
	switch p.how {
	case pointGet:
		s = fmt.Sprintf("point %s (%s)", d.name, strings.Join(fixedTerms(d, p.k, len(d.cols)), ", "))
	case keyScan:
		s = fmt.Sprintf("key scan %s (%s)", d.name, strings.Join(fixedTerms(d, p.k, len(d.cols)), ", "))
	case inScan:
		c := d.cols[0]
		s = fmt.Sprintf("in %s (%s in %s)", d.name, c.name, formatKeys(c, p.keys))
	case rangeScan:
		terms := fixedTerms(d, p.k, p.n)
		c := d.cols[p.n]
		if p.lo.set {
			switch {
			case p.lo.k == nullKey && p.lo.open && c.optional:
				terms = append(terms, c.name+" is not null")
			case p.lo.open:
				terms = append(terms, c.name+" > "+formatKey(c, p.lo.k))
			default:
				terms = append(terms, c.name+" >= "+formatKey(c, p.lo.k))
			}
		}
		if p.hi.set {
			op := " <= "
			if p.hi.open {
				op = " < "
			}
			terms = append(terms, c.name+op+formatKey(c, p.hi.k))
		}
		s = fmt.Sprintf("range %s (%s)", d.name, strings.Join(terms, ", "))
	case prefixScan:
		terms := fixedTerms(d, p.k, p.n)
		if p.hasStarts {
			terms = append(terms, d.cols[p.n].name+" starts with "+formatStarts(d.cols[p.n], p.starts))
		}
		s = fmt.Sprintf("prefix %s (%s)", d.name, strings.Join(terms, ", "))
	default:
		s = "full scan " + d.name
	}
	if p.desc {
		s += " descending"
	}
	return s
}

// fixedTerms renders the first n fields of d's key k ("org=\"acme\""):
// a one-field key, or a composite key's encoding, decoded.
func fixedTerms[T any](d *indexDef[T], k key, n int) []string {
	terms := make([]string, 0, n+1)
	if len(d.cols) == 1 {
		if n == 1 {
			terms = append(terms, d.cols[0].name+"="+formatKey(d.cols[0], k))
		}
		return terms
	}
	rest := k.s
	for _, c := range d.cols[:n] {
		var v string
		v, rest = decodeField(c, rest)
		terms = append(terms, c.name+"="+v)
	}
	return terms
}

// decodeField renders the value of field c at the start of a composite
// key's encoding b, and returns the bytes after it.
func decodeField[T any](c *col[T], b string) (string, string) {
	if c.optional {
		if strings.HasPrefix(b, "\x00") {
			return "null", b[1:]
		}
		if len(b) > 0 {
			b = b[1:]
		}
	}
	k, rest, ok := decodeComponent(c.kind, b)
	if !ok {
		return quoteShort(b), ""
	}
	return formatValue(c.kind, k), rest
}

// formatKey renders a key of field c alone (a condition's value) for
// people: strings quoted, times in RFC 3339, null for null.
func formatKey[T any](c *col[T], k key) string {
	if !c.optional {
		return formatValue(c.kind, k)
	}
	v, _ := decodeField(c, k.s)
	return v
}

// formatStarts renders the value of a Prefix condition on field c whose
// key is k.
func formatStarts[T any](c *col[T], k key) string {
	if !c.optional {
		return quoteShort(k.s)
	}
	s := strings.ReplaceAll(strings.TrimPrefix(k.s, "\x01"), "\x00\xff", "\x00")
	return quoteShort(s)
}

// maxValueShown is the longest string value that messages and Explain
// show whole; a longer one shows its start and its length, so that they
// stay short whatever the data.
const maxValueShown = 64

// quoteShort quotes s, or its start and its length if it is long.
func quoteShort(s string) string {
	if len(s) <= maxValueShown {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:maxValueShown-16]), len(s))
}

// maxKeysShown is how many values of an In messages and Explain show.
const maxKeysShown = 10

// formatKeys renders In's keys on field c ("[1, 2, 3]"): the first
// maxKeysShown, then how many there are.
func formatKeys[T any](c *col[T], keys []key) string {
	vals := make([]string, 0, min(len(keys), maxKeysShown)+1)
	for _, k := range keys[:min(len(keys), maxKeysShown)] {
		vals = append(vals, formatKey(c, k))
	}
	if len(keys) > maxKeysShown {
		vals = append(vals, fmt.Sprintf("…(%d values)", len(keys)))
	}
	return "[" + strings.Join(vals, ", ") + "]"
}

// formatValue renders a key of a required field of kind k.
func formatValue(k kind, v key) string {
	switch k {
	case kindString:
		return quoteShort(v.s)
	case kindInt:
		return strconv.FormatInt(int64(v.n^1<<63), 10)
	case kindUint:
		return strconv.FormatUint(v.n, 10)
	case kindBool:
		return strconv.FormatBool(v.n == 1)
	case kindFloat:
		b := v.n
		if b&(1<<63) != 0 {
			b &^= 1 << 63
		} else {
			b = ^b
		}
		return strconv.FormatFloat(math.Float64frombits(b), 'g', -1, 64)
	}
	if len(v.s) != timeKeyLen {
		return quoteShort(v.s)
	}
	sec := int64(binary.BigEndian.Uint64([]byte(v.s[:8])) ^ 1<<63)
	nsec := int64(binary.BigEndian.Uint32([]byte(v.s[8:])))
	return time.Unix(sec, nsec).UTC().Format(time.RFC3339Nano)
}
