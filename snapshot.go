package recstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// Codec encodes the records of one table for Snapshot and decodes them for
// Restore. Declare one with WithCodec; the default is JSONCodec.
type Codec[T any] interface {
	// Append appends the encoding of rec to dst and returns the result.
	Append(dst []byte, rec *T) ([]byte, error)
	// Decode sets rec from data, which Append wrote.
	Decode(data []byte, rec *T) error
}

// JSONCodec encodes records with encoding/json: every exported field, by
// its name or its json tag. It is every table's codec unless WithCodec
// declares another.
type JSONCodec[T any] struct{}

// Append is Codec's.
func (JSONCodec[T]) Append(dst []byte, rec *T) ([]byte, error) {
	b, err := json.Marshal(rec)
	return append(dst, b...), err
}

// Decode is Codec's.
func (JSONCodec[T]) Decode(data []byte, rec *T) error { return json.Unmarshal(data, rec) }

// WithCodec declares the codec of the table's records in snapshots.
func WithCodec[T any](c Codec[T]) TableOption[T] {
	return optionFunc[T](func(s *schema[T]) {
		if c == nil {
			s.errs = append(s.errs, "the codec is nil")
			return
		}
		s.codec = c
	})
}

// snapshotMagic opens every snapshot; snapshotFormat is the version of its
// layout, which Restore checks.
const (
	snapshotMagic  = "RECSTORE"
	snapshotFormat = 1
)

// Limits that keep a corrupt length from asking Restore for more memory
// than the input could hold: a name or signature, and one record.
const (
	maxSnapshotString = 1 << 16
	maxSnapshotRecord = 1 << 30
)

// Snapshot writes one version of every table of db to w, as Restore reads
// it: the state after some commit, whole, while writers go on. Records
// are encoded by each table's codec (see WithCodec). The snapshot starts
// with a header naming its format and ends with a checksum of everything
// before it. Snapshot returns w's first error, or a codec's.
//
// Layout: "RECSTORE", the format (uint16, little-endian) and the number
// of tables (uvarint); then for each table its name, its signature (its
// fields and indexes, which Restore compares with the target's), the
// number of records (uvarint) and each record's encoding, each string
// prefixed by its length (uvarint); then the CRC-32C of all that
// (uint32, little-endian).
func (db *DB) Snapshot(w io.Writer) error {
	sw := &snapWriter{w: bufio.NewWriter(w), crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
	err := db.View(func(tx *Tx) error {
		db.namesMu.Lock()
		tables := db.decls
		db.namesMu.Unlock()
		sw.bytes([]byte(snapshotMagic))
		sw.bytes(binary.LittleEndian.AppendUint16(nil, snapshotFormat))
		sw.uvarint(uint64(len(tables)))
		for _, t := range tables {
			if err := t.dump(tx, sw); err != nil {
				return err
			}
		}
		return sw.err
	})
	if err != nil {
		return err
	}
	if _, err := sw.w.Write(binary.LittleEndian.AppendUint32(nil, sw.crc.Sum32())); err != nil {
		return err
	}
	return sw.w.Flush()
}

// Restore loads a snapshot that Snapshot wrote into db, in one atomic
// step. db must declare the same tables as the snapshot's DB (by name,
// fields and indexes, in any order), each empty. Restore reads and checks
// the whole input before it writes anything: a truncated or corrupt
// snapshot, one of another format or schema, or a record its codec
// cannot decode is a *SnapshotError, and db is left as it was. The
// records are then inserted as InsertMany would, every constraint
// checked: a violation is returned and nothing is written.
func (db *DB) Restore(r io.Reader) error {
	if db.closed.Load() {
		return ErrClosed
	}
	loads, err := newSnapReader(r).read(db.tables(), true)
	if err != nil {
		return err
	}
	return db.insertLoads(loads)
}

// tables returns db's tables, in the order declared.
func (db *DB) tables() []anyTable {
	db.namesMu.Lock()
	defer db.namesMu.Unlock()
	return db.decls
}

// read reads and checks a whole snapshot against tables, and returns the
// loads of its tables' records. A whole snapshot (Restore's) holds every
// one of tables, and loads into them empty; else (SnapshotFixture's) it
// may hold some, and add to what they hold.
func (sr *snapReader) read(tables []anyTable, whole bool) ([]fixtureLoad, error) {
	magic := sr.bytes(len(snapshotMagic))
	if sr.err == nil && string(magic) != snapshotMagic {
		return nil, &SnapshotError{Reason: "the input is not a recstore snapshot"}
	}
	if f := sr.bytes(2); sr.err == nil && binary.LittleEndian.Uint16(f) != snapshotFormat {
		return nil, &SnapshotError{Reason: fmt.Sprintf("format %d, and this recstore reads format %d", binary.LittleEndian.Uint16(f), snapshotFormat)}
	}
	n := sr.uvarint()
	if sr.err == nil && whole && n != uint64(len(tables)) {
		return nil, &SnapshotError{Reason: fmt.Sprintf("it holds %d tables, the DB declares %d", n, len(tables))}
	}
	var loads []fixtureLoad
	seen := map[string]bool{}
	for i := uint64(0); i < n && sr.err == nil; i++ {
		name := sr.string()
		sig := sr.string()
		if sr.err != nil {
			break
		}
		t := tableNamed(tables, name)
		switch {
		case t == nil:
			return nil, &SnapshotError{Table: cut(name), Reason: "the DB declares no such table"}
		case seen[name]:
			return nil, &SnapshotError{Table: name, Reason: "it holds the table twice"}
		case sig != t.signature():
			return nil, &SnapshotError{Table: name, Reason: fmt.Sprintf("its schema is %s, the DB's %s", bounded(sig), bounded(t.signature()))}
		}
		seen[name] = true
		load, err := t.decode(sr, whole)
		if err != nil {
			return nil, err
		}
		loads = append(loads, fixtureLoad{t, load})
	}
	if sr.err != nil {
		return nil, sr.failed()
	}
	sum := sr.crc.Sum32()
	trailer := make([]byte, 4)
	if _, err := io.ReadFull(sr.r, trailer); err != nil {
		return nil, &SnapshotError{Reason: "it is truncated: the checksum is missing", Err: err}
	}
	if binary.LittleEndian.Uint32(trailer) != sum {
		return nil, &SnapshotError{Reason: "the checksum does not match: the input is corrupt"}
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		return nil, &SnapshotError{Reason: "bytes follow the checksum"}
	}
	return loads, nil
}

// bounded is s quoted and cut to a length an error message may carry.
func bounded(s string) string { return strconv.Quote(cut(s)) }

// cut is s cut to a length an error message may carry: a snapshot's
// strings come from its input.
func cut(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func tableNamed(tables []anyTable, name string) anyTable {
	for _, t := range tables {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

// SnapshotError reports a snapshot that Restore cannot load: not a
// snapshot, truncated, corrupt, of another format, or of a schema other
// than the DB's. Nothing was written. It matches ErrSnapshot with
// errors.Is, and unwraps to the cause (a read error, a codec's) too.
type SnapshotError struct {
	Table  string // the table concerned, if one is
	Reason string
	Err    error // the cause, if any
}

// Error returns the message described on SnapshotError.
func (e *SnapshotError) Error() string {
	var b strings.Builder
	b.WriteString("recstore: cannot restore the snapshot")
	if e.Table != "" {
		fmt.Fprintf(&b, " (table %s)", e.Table)
	}
	b.WriteString(": " + e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns ErrSnapshot and the cause.
func (e *SnapshotError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrSnapshot, e.Err}
	}
	return []error{ErrSnapshot}
}

// dump is anyTable's: the table's name, signature, record count and
// records, as tx sees them.
func (t *Table[T]) dump(tx *Tx, w *snapWriter) error {
	in := t.In(tx)
	w.string(t.Name())
	w.string(t.signature())
	w.uvarint(uint64(in.Len()))
	codec := t.eng.schema().codec
	var buf []byte
	for r, err := range in.Filter().All() {
		if err != nil {
			return err
		}
		if buf, err = codec.Append(buf[:0], &r); err != nil {
			return &CallbackError{Table: t.Name(), Callback: "codec", Err: err}
		}
		w.uvarint(uint64(len(buf)))
		w.bytes(buf)
	}
	return w.err
}

// decode is anyTable's: the table's records, read from r and decoded,
// and how to insert them: into the table empty, if fresh.
func (t *Table[T]) decode(r *snapReader, fresh bool) (func(tx *Tx) error, error) {
	n := r.uvarint()
	codec := t.eng.schema().codec
	var recs []T
	for i := uint64(0); i < n && r.err == nil; i++ {
		data := r.record()
		if r.err != nil {
			break
		}
		var rec T
		if err := codec.Decode(data, &rec); err != nil {
			return nil, &SnapshotError{Table: t.Name(), Reason: fmt.Sprintf("record %d does not decode", i), Err: err}
		}
		recs = append(recs, rec)
	}
	if r.err != nil {
		return nil, r.failed()
	}
	return func(tx *Tx) error {
		in := t.In(tx)
		if n := in.Len(); fresh && n > 0 {
			return &SnapshotError{Table: t.Name(), Reason: fmt.Sprintf("the table holds %d records: Restore loads into empty tables", n)}
		}
		_, err := in.InsertMany(recs, OnConflict[T]{})
		return err
	}, nil
}

// signature is anyTable's: the table's fields and indexes, as a snapshot
// records them and Restore compares them.
func (t *Table[T]) signature() string {
	sch := t.eng.schema()
	var b strings.Builder
	for i, c := range sch.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s", c.name, c.kind)
		if c.optional {
			b.WriteByte('?')
		}
	}
	for _, d := range sch.indexes {
		fmt.Fprintf(&b, ";%s(%s)", d.name, strings.Join(d.fieldNames(), ","))
		switch {
		case d.primary:
			b.WriteString(" primary")
		case d.unique:
			b.WriteString(" unique")
		}
		if d.nullsNotDistinct {
			b.WriteString(" nulls-not-distinct")
		}
		if d.where != nil {
			b.WriteString(" partial")
		}
	}
	if sch.auto != nil {
		b.WriteString(";auto")
	}
	return b.String()
}

// snapWriter writes a snapshot, summing what it writes; it keeps the first
// error and writes nothing after it.
type snapWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	err error
}

func (w *snapWriter) bytes(b []byte) {
	if w.err != nil {
		return
	}
	w.crc.Write(b)
	_, w.err = w.w.Write(b)
}

func (w *snapWriter) uvarint(n uint64) { w.bytes(binary.AppendUvarint(nil, n)) }

func (w *snapWriter) string(s string) {
	w.uvarint(uint64(len(s)))
	w.bytes([]byte(s))
}

// snapReader reads a snapshot, summing what it reads; it keeps the first
// error and reads nothing after it.
type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
	buf bytes.Buffer
}

func newSnapReader(r io.Reader) *snapReader {
	return &snapReader{r: bufio.NewReader(r), crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
}

// failed is the reader's error as a *SnapshotError.
func (r *snapReader) failed() error {
	var se *SnapshotError
	if errors.As(r.err, &se) {
		return se
	}
	if errors.Is(r.err, io.EOF) || errors.Is(r.err, io.ErrUnexpectedEOF) {
		return &SnapshotError{Reason: "it is truncated", Err: r.err}
	}
	return &SnapshotError{Reason: "reading it failed", Err: r.err}
}

// ReadByte is io.ByteReader's, for binary.ReadUvarint.
func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.r.ReadByte()
	if err == nil {
		r.crc.Write([]byte{c})
	}
	return c, err
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	n, err := binary.ReadUvarint(r)
	r.err = err
	return n
}

// bytes reads n bytes, growing its buffer as they arrive, so that a
// corrupt length costs no more memory than the input holds.
func (r *snapReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	r.buf.Reset()
	got, err := io.CopyN(&r.buf, r.r, int64(n))
	if err == nil && got != int64(n) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		r.err = err
		return nil
	}
	b := r.buf.Bytes()
	r.crc.Write(b)
	return b
}

// lengthOf reads a length prefix of at most max.
func (r *snapReader) lengthOf(what string, max uint64) int {
	n := r.uvarint()
	if r.err == nil && n > max {
		r.err = &SnapshotError{Reason: fmt.Sprintf("a %s of %d bytes, over the limit of %d: the input is corrupt", what, n, max)}
	}
	return int(n)
}

func (r *snapReader) string() string { return string(r.bytes(r.lengthOf("string", maxSnapshotString))) }

// record returns the next record's encoding, valid until the next read.
func (r *snapReader) record() []byte { return r.bytes(r.lengthOf("record", maxSnapshotRecord)) }
