package recstore

import (
	"cmp"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"
)

// MaxKeySize is the largest encoded index key, in bytes, that recstore
// stores. A string field counts its length; a composite key counts the
// encoded length of all its fields. A record with a longer key in any of
// its indexes is rejected with ErrKeyTooLarge before anything is written.
// Conditions may hold longer values: they match no indexed record, and may
// match unindexed fields.
const MaxKeySize = 4096

// Key is the set of Go types a field may have to be used in an index or a
// condition: strings, signed and unsigned integers, floats, bools and
// time.Time, including named types whose underlying type is one of these.
type Key interface {
	~string | ~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64 | ~bool | time.Time
}

// Integer is the set of key types an auto-assigned primary key may have.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// key is the order-preserving form of one index key. Every key type maps
// onto (s, n) so that comparing (s, n) lexicographically orders the values
// as Go would: strings use s alone, numbers and bools use n alone, times and
// composite keys use an order-preserving byte encoding in s.
type key struct {
	s string
	n uint64
}

func (a key) compare(b key) int {
	if c := strings.Compare(a.s, b.s); c != 0 {
		return c // one pass over the bytes; != then < would make two
	}
	return cmp.Compare(a.n, b.n)
}

// kind says how a field's values map onto a key.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindUint
	kindFloat
	kindBool
	kindTime
)

// String names the kind, as a snapshot's signature of a table does.
func (k kind) String() string {
	return [...]string{"string", "int", "uint", "float", "bool", "time"}[k]
}

const timeKeyLen = 12

// kindOf classifies V once, when a field is declared; the hot path never
// reflects.
func kindOf[V Key]() kind {
	t := reflect.TypeFor[V]()
	if t == reflect.TypeFor[time.Time]() {
		return kindTime
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindUint
	case reflect.Float32, reflect.Float64:
		return kindFloat
	default:
		return kindBool
	}
}

// encoder returns the function that turns a V into its key. V's underlying
// type is known from k, so the value is read through unsafe at that type:
// no reflection and no allocation per call (time.Time excepted).
func encoder[V Key](k kind) func(V) (key, error) {
	size := reflect.TypeFor[V]().Size()
	switch k {
	case kindString:
		return func(v V) (key, error) { return key{s: *(*string)(unsafe.Pointer(&v))}, nil }
	case kindInt:
		return func(v V) (key, error) { return key{n: uint64(intAt(unsafe.Pointer(&v), size)) ^ (1 << 63)}, nil }
	case kindUint:
		return func(v V) (key, error) { return key{n: uintAt(unsafe.Pointer(&v), size)}, nil }
	case kindFloat:
		return func(v V) (key, error) { return floatKey(floatAt(unsafe.Pointer(&v), size)) }
	case kindBool:
		return func(v V) (key, error) {
			if *(*bool)(unsafe.Pointer(&v)) {
				return key{n: 1}, nil
			}
			return key{}, nil
		}
	default:
		return func(v V) (key, error) { return timeKey(*(*time.Time)(unsafe.Pointer(&v))), nil }
	}
}

// comparer returns the function that orders two records by a field that
// get reads, of kind k, as their keys order (floats without NaN, which no
// stored record holds), without building the keys: the comparison the
// index trees make at every step of a search.
func comparer[T any, V Key](k kind, get func(*T) V) func(a, b *T) int {
	size := reflect.TypeFor[V]().Size()
	switch k {
	case kindString:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			return strings.Compare(*(*string)(unsafe.Pointer(&va)), *(*string)(unsafe.Pointer(&vb)))
		}
	case kindInt:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			return cmp.Compare(intAt(unsafe.Pointer(&va), size), intAt(unsafe.Pointer(&vb), size))
		}
	case kindUint:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			return cmp.Compare(uintAt(unsafe.Pointer(&va), size), uintAt(unsafe.Pointer(&vb), size))
		}
	case kindFloat:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			return cmp.Compare(floatAt(unsafe.Pointer(&va), size), floatAt(unsafe.Pointer(&vb), size)) // -0 == +0, as floatKey has them
		}
	case kindBool:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			ba, bb := *(*bool)(unsafe.Pointer(&va)), *(*bool)(unsafe.Pointer(&vb))
			switch {
			case ba == bb:
				return 0
			case bb:
				return -1
			}
			return 1
		}
	default:
		return func(a, b *T) int {
			va, vb := get(a), get(b)
			return compareTimes(*(*time.Time)(unsafe.Pointer(&va)), *(*time.Time)(unsafe.Pointer(&vb)))
		}
	}
}

// compareTimes orders instants as timeKey does, by the wall clock.
// time.Time.Compare would use the monotonic readings of two times from
// time.Now, which disagree with the wall clock once it has been stepped.
func compareTimes(a, b time.Time) int {
	if c := cmp.Compare(a.Unix(), b.Unix()); c != 0 {
		return c
	}
	return cmp.Compare(a.Nanosecond(), b.Nanosecond())
}

// intAt reads a signed integer of size bytes at p.
func intAt(p unsafe.Pointer, size uintptr) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(p))
	case 2:
		return int64(*(*int16)(p))
	case 4:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

// uintAt reads an unsigned integer of size bytes at p.
func uintAt(p unsafe.Pointer, size uintptr) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// floatAt reads a float of size bytes at p.
func floatAt(p unsafe.Pointer, size uintptr) float64 {
	if size == 4 {
		return float64(*(*float32)(p))
	}
	return *(*float64)(p)
}

// floatKey maps a float onto an unsigned integer of the same order. NaN has
// no place in an order and is rejected; -0 and +0 are one key, as
// cmp.Compare has them equal.
func floatKey(f float64) (key, error) {
	if math.IsNaN(f) {
		return key{}, &KeyError{Reason: "NaN cannot be compared", Err: ErrInvalidKey}
	}
	if f == 0 {
		f = 0 // folds -0 into +0
	}
	b := math.Float64bits(f)
	if b&(1<<63) != 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return key{n: b}, nil
}

// timeKey orders instants: the location and monotonic reading are ignored,
// so two times that are Equal have one key.
func timeKey(t time.Time) key {
	var b [timeKeyLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return key{s: string(b[:])}
}

// appendComponent appends one field's key to a composite key so that byte
// order of the result is the lexicographic order of the fields. Strings are
// escaped (0x00 -> 0x00 0xff) and terminated by 0x00 0x01, so a shorter
// string sorts first and no field can run into the next.
func appendComponent(buf []byte, k kind, c key) []byte {
	// componentLen must count what this appends.
	switch k {
	case kindString:
		return append(appendEscaped(buf, c.s), 0, 1)
	case kindTime:
		return append(buf, c.s...)
	case kindBool:
		return append(buf, byte(c.n))
	default:
		return binary.BigEndian.AppendUint64(buf, c.n)
	}
}

// componentLen is the length of appendComponent's encoding of c.
func componentLen(k kind, c key) int {
	switch k {
	case kindString:
		return len(c.s) + strings.Count(c.s, "\x00") + 2
	case kindTime:
		return len(c.s)
	case kindBool:
		return 1
	default:
		return 8
	}
}

// appendEscaped appends s with each 0x00 escaped as 0x00 0xff: a string
// component without its terminator.
func appendEscaped(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		buf = append(buf, s[i])
		if s[i] == 0 {
			buf = append(buf, 0xff)
		}
	}
	return buf
}

// piece is a field's value as a composite key holds it, built without
// allocating: the fixed bytes (an optional field's 0x00 or 0x01, then a
// number's 8 bytes, a bool's 1, a time's 12), then, for a string, the
// string, escaped and terminated in the encoding. A field's piece function
// returns it by value, so that comparing one with an encoded key
// (piece.compare) builds nothing.
type piece struct {
	b   [1 + timeKeyLen]byte
	n   uint8
	str bool
	s   string
}

// compare compares t with p's encoding (as appendComponent encodes it) over the
// bytes both hold, without encoding it: it returns the result, t against
// the encoding, and the encoding's length, or len(t)+1 where t ends before
// the encoding does. A string is compared a byte at a time, as it would
// be escaped: the comparison mostly decides within a few bytes.
func (p *piece) compare(t []byte) (int, int) {
	n := 0
	for _, b := range p.b[:p.n] {
		if c, done := compareByte(t, n, b); done {
			return c, len(t) + 1
		}
		n++
	}
	if !p.str {
		return 0, n
	}
	for i := 0; i <= len(p.s); i++ {
		b, next := byte(0), byte(0xff) // the terminator: 0x00 0x01
		if i == len(p.s) {
			next = 1
		} else {
			b = p.s[i]
		}
		if c, done := compareByte(t, n, b); done {
			return c, len(t) + 1
		}
		n++
		if b != 0 {
			continue
		}
		if c, done := compareByte(t, n, next); done {
			return c, len(t) + 1
		}
		n++
	}
	return 0, n
}

// compareByte compares t[n] with b: decided if they differ or t has no
// byte n (a zero result then: t ends first).
func compareByte(t []byte, n int, b byte) (int, bool) {
	switch {
	case n == len(t):
		return 0, true
	case t[n] < b:
		return -1, true
	case t[n] > b:
		return 1, true
	}
	return 0, false
}

// piecer returns the function that makes the piece of a value of kind k
// after the fixed bytes in p (an optional field's 0x01), without building
// its key: a time's key is a string, which encoder allocates.
func piecer[V Key](k kind) func(p piece, v V) piece {
	size := reflect.TypeFor[V]().Size()
	u64 := func(p piece, n uint64) piece {
		binary.BigEndian.PutUint64(p.b[p.n:], n)
		p.n += 8
		return p
	}
	switch k {
	case kindString:
		return func(p piece, v V) piece {
			p.str, p.s = true, *(*string)(unsafe.Pointer(&v))
			return p
		}
	case kindInt:
		return func(p piece, v V) piece { return u64(p, uint64(intAt(unsafe.Pointer(&v), size))^(1<<63)) }
	case kindUint:
		return func(p piece, v V) piece { return u64(p, uintAt(unsafe.Pointer(&v), size)) }
	case kindFloat:
		return func(p piece, v V) piece {
			k, _ := floatKey(floatAt(unsafe.Pointer(&v), size)) // stored values are not NaN
			return u64(p, k.n)
		}
	case kindBool:
		return func(p piece, v V) piece {
			if *(*bool)(unsafe.Pointer(&v)) {
				p.b[p.n] = 1
			}
			p.n++
			return p
		}
	default:
		return func(p piece, v V) piece {
			t := *(*time.Time)(unsafe.Pointer(&v))
			p = u64(p, uint64(t.Unix())^(1<<63))
			binary.BigEndian.PutUint32(p.b[p.n:], uint32(t.Nanosecond()))
			p.n += 4
			return p
		}
	}
}

// decodeComponent reads one component of kind k that appendComponent
// wrote at the start of b, and returns its key and the bytes after it;
// ok is false if b holds no whole component. For Explain: no hot path
// decodes keys.
func decodeComponent(k kind, b string) (c key, rest string, ok bool) {
	var n int
	switch k {
	case kindString:
		var s []byte
		for i := 0; i+1 < len(b); i++ {
			switch {
			case b[i] != 0:
				s = append(s, b[i])
			case b[i+1] == 0xff:
				s = append(s, 0)
				i++
			case b[i+1] == 1:
				return key{s: string(s)}, b[i+2:], true
			default:
				return key{}, "", false
			}
		}
		return key{}, "", false
	case kindTime:
		n = timeKeyLen
	case kindBool:
		n = 1
	default:
		n = 8
	}
	if len(b) < n {
		return key{}, "", false
	}
	switch k {
	case kindTime:
		return key{s: b[:n]}, b[n:], true
	case kindBool:
		return key{n: uint64(b[0])}, b[n:], true
	}
	return key{n: binary.BigEndian.Uint64([]byte(b[:n]))}, b[n:], true
}
