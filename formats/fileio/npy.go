package fileio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// ErrFormat is wrapped by every error about a malformed, truncated, hostile or unsupported
// file; test with errors.Is.
var ErrFormat = errors.New("fileio: bad file")

// ErrTooLarge is wrapped by errors about data larger than a limit allows (an npz member
// that would inflate past its archive's budget, NPZOptions.MaxInflate).
var ErrTooLarge = errors.New("fileio: too large")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

const (
	npyMagic = "\x93NUMPY"
	// MaxNPYHeader bounds the header dict of a .npy array (numpy itself refuses more than
	// 10000 bytes by default).
	MaxNPYHeader = 1 << 16
	// maxRank bounds the number of dimensions we parse.
	maxRank = 32
)

// array is one parsed .npy array: its dtype, shape and either its raw element bytes or,
// when read as floats, its values converted to float32 (C order unless fortran is set).
type array struct {
	dt       dtype
	shape    []int
	fortran  bool
	raw      []byte
	f32      []float32
	overflow bool // a finite float64 became ±Inf in f32
}

func (a *array) count() int {
	n := 1
	for _, s := range a.shape {
		n *= s
	}
	return n
}

// npyHeader is what the header dict says.
type npyHeader struct {
	dt      dtype
	descr   string
	shape   []int
	fortran bool
	nbytes  int64 // element bytes the shape and dtype need
}

// readNPYHeader reads the magic, version and header dict from r. avail is the number of
// bytes the source holds from the current position (the file or entry size); every length
// is checked against it. It returns the header and the number of bytes consumed.
func readNPYHeader(r io.Reader, avail int64) (npyHeader, int64, error) {
	var pre [10]byte
	if avail < 10 {
		return npyHeader{}, 0, bad("npy: %d bytes, too short for a header", avail)
	}
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return npyHeader{}, 0, bad("npy: reading the preamble: %v", err)
	}
	if string(pre[:6]) != npyMagic {
		return npyHeader{}, 0, bad("npy: missing magic \\x93NUMPY")
	}
	major, minor := pre[6], pre[7]
	if minor != 0 || major < 1 || major > 3 {
		return npyHeader{}, 0, bad("npy: version %d.%d not 1.0, 2.0 or 3.0", major, minor)
	}
	var hlen int64
	used := int64(10)
	if major == 1 {
		hlen = int64(binary.LittleEndian.Uint16(pre[8:10]))
	} else {
		if avail < 12 {
			return npyHeader{}, 0, bad("npy: %d bytes, too short for a v%d header", avail, major)
		}
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return npyHeader{}, 0, bad("npy: reading the header length: %v", err)
		}
		hlen = int64(binary.LittleEndian.Uint32(append(pre[8:10:10], ext[:]...)))
		used = 12
	}
	if hlen > MaxNPYHeader {
		return npyHeader{}, 0, bad("npy: header of %d bytes exceeds the %d-byte limit", hlen, MaxNPYHeader)
	}
	if hlen > avail-used {
		return npyHeader{}, 0, bad("npy: header claims %d bytes, only %d remain", hlen, avail-used)
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return npyHeader{}, 0, bad("npy: reading the header: %v", err)
	}
	used += hlen
	h, err := parseHeaderDict(string(buf))
	if err != nil {
		return npyHeader{}, 0, err
	}
	return h, used, nil
}

// parseHeaderDict parses the Python dict literal of a .npy header strictly: exactly the keys
// 'descr' (a simple type string), 'fortran_order' (True/False) and 'shape' (a tuple of
// non-negative integers), an optional trailing comma, then only whitespace.
func parseHeaderDict(s string) (npyHeader, error) {
	p := &dictParser{s: s}
	var h npyHeader
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return h, p.fail("want '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, p.fail("duplicate key %q", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, p.fail("want ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() != '\'' && p.peek() != '"' {
				return h, p.fail("descr is not a simple type string (structured dtypes are not supported)")
			}
			v, err := p.str()
			if err != nil {
				return h, err
			}
			dt, err := parseDescr(v)
			if err != nil {
				return h, bad("npy header: %v", err)
			}
			h.dt, h.descr = dt, v
		case "fortran_order":
			switch {
			case strings.HasPrefix(p.s[p.i:], "True"):
				h.fortran = true
				p.i += 4
			case strings.HasPrefix(p.s[p.i:], "False"):
				p.i += 5
			default:
				return h, p.fail("fortran_order is not True or False")
			}
		case "shape":
			sh, err := p.tuple()
			if err != nil {
				return h, err
			}
			h.shape = sh
		default:
			return h, p.fail("unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return h, p.fail("want ',' or '}'")
	}
	for p.i < len(p.s) {
		if c := p.s[p.i]; c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != 0 {
			return h, p.fail("trailing text after the dict")
		}
		p.i++
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, bad("npy header: missing key %q", k)
		}
	}
	n := int64(h.dt.size)
	for _, d := range h.shape {
		var ok bool
		n, ok = formats.MulChecked(n, int64(d))
		if !ok || n > math.MaxInt64/2 {
			return h, bad("npy header: shape %v of %s overflows", h.shape, h.descr)
		}
	}
	h.nbytes = n
	return h, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) fail(format string, args ...any) error {
	return bad("npy header at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *dictParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *dictParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *dictParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// str parses a quoted string without escapes.
func (p *dictParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.fail("want a quoted string")
	}
	p.i++
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != q {
		if p.s[p.i] == '\\' || p.s[p.i] < 0x20 || p.s[p.i] >= 0x7f {
			return "", p.fail("unsupported character in a string")
		}
		p.i++
	}
	if p.i >= len(p.s) {
		return "", p.fail("unterminated string")
	}
	v := p.s[start:p.i]
	p.i++
	return v, nil
}

// tuple parses "()", "(n,)", "(n, m)", … of non-negative decimal integers (an "L" suffix
// from Python 2 files is allowed).
func (p *dictParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail("shape is not a tuple")
	}
	var out []int
	commas := 0
	for {
		p.space()
		if p.eat(')') {
			break
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, p.fail("shape holds a non-integer")
		}
		if p.i-start > 18 {
			return nil, p.fail("shape dimension too large")
		}
		v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil || v > math.MaxInt32*int64(1<<20) {
			return nil, p.fail("shape dimension %q out of range", p.s[start:p.i])
		}
		p.eat('L')
		out = append(out, int(v))
		if len(out) > maxRank {
			return nil, p.fail("more than %d dimensions", maxRank)
		}
		p.space()
		if p.eat(',') {
			commas++
			continue
		}
		p.space()
		if p.eat(')') {
			break
		}
		return nil, p.fail("want ',' or ')' in the shape")
	}
	if len(out) == 1 && commas == 0 {
		// "(3)" is an int in Python, not a tuple; numpy never writes it.
		return nil, p.fail("one-element shape needs a trailing comma")
	}
	return out, nil
}

// readNPY parses one .npy array from r, which holds exactly avail bytes. It checks the
// element bytes the header claims against avail before allocating anything, and refuses
// trailing bytes. asFloat converts a float array to float32 while streaming (no copy of
// the raw bytes is kept) and refuses other dtypes. trusted says avail is a real byte count
// (a file), so the output may be allocated at once; otherwise (a decompressing stream) it
// grows as data arrives.
func readNPY(r io.Reader, avail int64, asFloat, trusted bool) (*array, error) {
	return readNPYChecked(r, avail, asFloat, trusted, nil)
}

// readNPYChecked is readNPY with admit, when not nil, called with the data size the header
// declares before any data is read (an npz member's inflate budget).
func readNPYChecked(r io.Reader, avail int64, asFloat, trusted bool, admit func(nbytes int64) error) (*array, error) {
	h, used, err := readNPYHeader(r, avail)
	if err != nil {
		return nil, err
	}
	left := avail - used
	if h.nbytes > left {
		return nil, bad("npy: shape %v of %s needs %d data bytes, only %d remain (truncated or lying header)", h.shape, h.descr, h.nbytes, left)
	}
	if h.nbytes < left {
		return nil, bad("npy: %d trailing bytes after the %d data bytes of shape %v", left-h.nbytes, h.nbytes, h.shape)
	}
	if admit != nil {
		if err := admit(h.nbytes); err != nil {
			return nil, err
		}
	}
	a := &array{dt: h.dt, shape: h.shape, fortran: h.fortran}
	if asFloat {
		if !h.dt.isFloat() {
			return nil, bad("npy: dtype %s is not float16, float32 or float64", h.descr)
		}
		a.f32, a.overflow, err = readFloats(r, h.dt, h.nbytes/int64(h.dt.size), trusted)
	} else {
		a.raw, err = readExactly(r, h.nbytes)
	}
	if err != nil {
		return nil, bad("npy: reading %d data bytes: %v", h.nbytes, err)
	}
	return a, nil
}

// readFloats reads n elements of the float dtype dt from r and converts them to float32
// chunk by chunk. Unless trusted, the output grows (doubling, capped at n) as data arrives.
func readFloats(r io.Reader, dt dtype, n int64, trusted bool) ([]float32, bool, error) {
	const chunk = 16 << 10 // elements per read
	if n > int64(math.MaxInt) {
		return nil, false, fmt.Errorf("%d elements exceed this platform's address space", n)
	}
	c := n
	if !trusted {
		c = min(n, 4<<20)
	}
	out := make([]float32, 0, c)
	buf := make([]byte, min(n, chunk)*int64(dt.size))
	overflow := false
	for int64(len(out)) < n {
		k := int(min(chunk, n-int64(len(out))))
		b := buf[:k*dt.size]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, false, err
		}
		if cap(out)-len(out) < k {
			nb := make([]float32, len(out), min(2*int64(cap(out))+int64(k), n))
			copy(nb, out)
			out = nb
		}
		l := len(out)
		out = out[:l+k]
		if floatsFrom(dt, b, out[l:]) {
			overflow = true
		}
	}
	return out, overflow, nil
}

// readExactly reads n bytes, growing its buffer in chunks so that a source that ends early
// (a lying size) costs only what it actually produced.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	const chunk = 16 << 20
	if n <= chunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	if n > int64(math.MaxInt) {
		return nil, fmt.Errorf("%d bytes exceed this platform's address space", n)
	}
	buf := make([]byte, 0, chunk)
	for int64(len(buf)) < n {
		k := min(int64(chunk), n-int64(len(buf)))
		if int64(cap(buf)-len(buf)) < k {
			nc := min(int64(cap(buf))*2, n)
			nb := make([]byte, len(buf), nc)
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+int(k)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// toDense converts a float array (read with asFloat) of rank 1 (1×K) or 2 to a Dense,
// transposing Fortran order into row-major.
func (a *array) toDense(what string) (*formats.Dense, error) {
	if !a.dt.isFloat() || a.f32 == nil && a.count() > 0 {
		return nil, bad("%s: dtype %s is not float16, float32 or float64", what, a.dt)
	}
	var rows, cols int
	switch len(a.shape) {
	case 1:
		rows, cols = 1, a.shape[0]
	case 2:
		rows, cols = a.shape[0], a.shape[1]
	default:
		return nil, bad("%s: %d-D array with shape %v; want 2-D (or 1-D as 1×K)", what, len(a.shape), a.shape)
	}
	data := a.f32[:rows*cols] // the length was checked against the file
	if a.fortran && rows > 1 && cols > 1 {
		t := make([]float32, len(data))
		for j := 0; j < cols; j++ {
			for i, v := range data[j*rows : (j+1)*rows] {
				t[i*cols+j] = v
			}
		}
		data = t
	}
	d, err := formats.NewDense(rows, cols, data)
	if err != nil {
		return nil, bad("%s: %v", what, err)
	}
	return d, nil
}

// ints converts an integer array of any rank to int64.
func (a *array) ints(what string) ([]int64, error) {
	if !a.dt.isInt() {
		return nil, bad("%s: dtype %s is not an integer type", what, a.dt)
	}
	n := a.count()
	out := make([]int64, n)
	if !a.dt.big && a.dt.kind == 'i' && (a.dt.size == 4 || a.dt.size == 8) { // the common cases
		for i := range out {
			if a.dt.size == 4 {
				out[i] = int64(int32(binary.LittleEndian.Uint32(a.raw[4*i:])))
			} else {
				out[i] = int64(binary.LittleEndian.Uint64(a.raw[8*i:]))
			}
		}
		return out, nil
	}
	for i := range out {
		v, ok := intAt(a.dt, a.raw, i)
		if !ok {
			return nil, bad("%s: element %d exceeds int64", what, i)
		}
		out[i] = v
	}
	return out, nil
}

// text returns a 0-d (or one-element) 'U' or 'S' array as a Go string (trailing NULs cut).
func (a *array) text(what string) (string, error) {
	if a.count() != 1 || len(a.shape) > 1 {
		return "", bad("%s: want a single string, got shape %v", what, a.shape)
	}
	switch a.dt.kind {
	case 'S':
		return strings.TrimRight(string(a.raw), "\x00"), nil
	case 'U':
		o := a.dt.order()
		var sb strings.Builder
		for i := 0; i+4 <= len(a.raw); i += 4 {
			c := o.Uint32(a.raw[i:])
			if c == 0 {
				break
			}
			if c > 0x10ffff {
				return "", bad("%s: invalid code point %#x", what, c)
			}
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	}
	return "", bad("%s: dtype %s is not a string type", what, a.dt)
}

// encodeNPY writes a v1.0 .npy (v2.0 if the header needs it) with the given dtype, shape
// and raw element bytes in C order.
func encodeNPY(w io.Writer, dt dtype, shape []int, raw []byte) error {
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(dt.String())
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, s := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	dict := sb.String()
	pre := 10
	major := byte(1)
	if len(dict)+1+pre > math.MaxUint16 {
		pre, major = 12, 2
	}
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	var head bytes.Buffer
	head.WriteString(npyMagic)
	head.WriteByte(major)
	head.WriteByte(0)
	if major == 1 {
		_ = binary.Write(&head, binary.LittleEndian, uint16(hlen))
	} else {
		_ = binary.Write(&head, binary.LittleEndian, uint32(hlen))
	}
	head.WriteString(dict)
	head.WriteString(strings.Repeat(" ", pad))
	head.WriteByte('\n')
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(raw)
	return err
}

// NPYDTypes are the dtypes WriteNPYAs accepts.
var NPYDTypes = []string{"<f2", "<f4", "<f8", ">f2", ">f4", ">f8"}

// encodeFloats encodes v as the float dtype dt.
func encodeFloats(dt dtype, v []float32) []byte {
	o := dt.order()
	raw := make([]byte, len(v)*dt.size)
	for i, x := range v {
		switch dt.size {
		case 2:
			o.PutUint16(raw[2*i:], f32ToF16(x))
		case 4:
			o.PutUint32(raw[4*i:], math.Float32bits(x))
		case 8:
			o.PutUint64(raw[8*i:], math.Float64bits(float64(x)))
		}
	}
	return raw
}

func denseRaw(dt dtype, d *formats.Dense) []byte {
	return encodeFloats(dt, rowMajor(d))
}

// rowMajor returns d's values row after row (d's own slice when it is already compact).
func rowMajor(d *formats.Dense) []float32 {
	n := d.Rows * d.Cols
	if n == 0 {
		return nil
	}
	if d.Stride == d.Cols || d.Rows == 1 {
		return d.Data[:n]
	}
	out := make([]float32, 0, n)
	for i := 0; i < d.Rows; i++ {
		out = append(out, d.Row(i)...)
	}
	return out
}

// WriteNPY writes d as a little-endian float32 ('<f4') C-order .npy, format version 1.0.
func WriteNPY(w io.Writer, d *formats.Dense) error { return WriteNPYAs(w, d, "<f4") }

// WriteNPYAs writes d as a 2-D C-order .npy with the given float dtype (one of NPYDTypes).
// float16 rounds to nearest even.
func WriteNPYAs(w io.Writer, d *formats.Dense, descr string) error {
	if err := d.Validate(); err != nil {
		return err
	}
	dt, err := parseDescr(descr)
	if err != nil || !dt.isFloat() {
		return fmt.Errorf("fileio: WriteNPYAs: dtype %q not one of %v", descr, NPYDTypes)
	}
	return encodeNPY(w, dt, []int{d.Rows, d.Cols}, denseRaw(dt, d))
}

// ReadNPY reads a .npy holding a 2-D (or 1-D, read as 1×K) float16/32/64 array of either
// byte order from r, which holds exactly size bytes. Fortran-order arrays are transposed
// into row-major C order. The header is parsed strictly and its claimed size is checked
// against size before any allocation.
func ReadNPY(r io.ReaderAt, size int64) (*formats.Dense, Info, error) {
	if size < 0 {
		return nil, Info{}, bad("npy: negative size")
	}
	a, err := readNPY(io.NewSectionReader(r, 0, size), size, true, true)
	if err != nil {
		return nil, Info{}, err
	}
	return arrayDense(a, "npy", "")
}

func arrayDense(a *array, container, name string) (*formats.Dense, Info, error) {
	what := container
	if name != "" {
		what += " " + strconv.Quote(name)
	}
	d, err := a.toDense(what)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Container: container, Layout: "dense", Name: name, DType: a.dt.String()}
	if a.fortran && d.Rows > 1 && d.Cols > 1 {
		info.Notes = append(info.Notes, "Fortran-order array transposed into row-major C order")
	}
	if a.overflow {
		info.Overflow = true
		info.Notes = append(info.Notes, overflowNote)
	}
	return d, info, nil
}

// LoadNPY reads the .npy file at path (see ReadNPY).
func LoadNPY(path string) (*formats.Dense, Info, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	d, info, err := ReadNPY(f, size)
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", path, err)
	}
	info.Path = path
	return d, info, nil
}

// SaveNPY writes d to path as a float32 .npy (see WriteNPY), atomically.
func SaveNPY(path string, d *formats.Dense) error {
	return writeFileAtomic(path, func(w io.Writer) error { return WriteNPY(w, d) })
}

func openSized(path string) (*os.File, int64, error) {
	// Refuse a FIFO, device or directory before opening it: opening a FIFO for reading
	// blocks until a writer comes. The check after opening catches a swap in between.
	if st, err := os.Stat(path); err != nil {
		return nil, 0, err
	} else if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", path)
	}
	return f, st.Size(), nil
}
