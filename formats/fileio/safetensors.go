package fileio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// MaxSafetensorsHeader bounds the JSON header of a safetensors file (the reference
// implementation uses the same 100 MB limit).
const MaxSafetensorsHeader = 100 << 20

// stSizes maps every safetensors dtype to its element size; a file naming any other
// dtype is refused, since its sizes could not be checked.
var stSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// Safetensors is an open safetensors file; its header has been parsed and every tensor's
// offsets checked against the data buffer, its shape and its dtype.
type Safetensors struct {
	r        io.ReaderAt
	base     int64 // offset of the data buffer
	tensors  []stTensor
	byName   map[string]int
	Metadata map[string]string // the optional "__metadata__" strings
	closer   io.Closer
}

type stTensor struct {
	info       ArrayInfo
	begin, end int64
}

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// OpenSafetensors parses the header of the safetensors file in r (size bytes): the u64
// little-endian header length (bounded by the file and MaxSafetensorsHeader), the JSON
// header (strictly: known dtypes, no unknown fields, no duplicate names, nothing after
// it but spaces), and each tensor's data_offsets: in range, equal to shape×dtype size,
// and not overlapping another tensor.
func OpenSafetensors(r io.ReaderAt, size int64) (*Safetensors, error) {
	if size < 8 {
		return nil, bad("safetensors: %d bytes, too short for the header length", size)
	}
	var pre [8]byte
	if _, err := r.ReadAt(pre[:], 0); err != nil {
		return nil, bad("safetensors: reading the header length: %v", err)
	}
	hl := binary.LittleEndian.Uint64(pre[:])
	if hl > MaxSafetensorsHeader {
		return nil, bad("safetensors: header of %d bytes exceeds the %d-byte limit", hl, MaxSafetensorsHeader)
	}
	if int64(hl) > size-8 {
		return nil, bad("safetensors: header claims %d bytes, the file holds %d after the length", hl, size-8)
	}
	hdr := make([]byte, hl)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, bad("safetensors: reading the header: %v", err)
	}
	s := &Safetensors{r: r, base: 8 + int64(hl), byName: map[string]int{}}
	bufLen := size - s.base
	if err := s.parseHeader(hdr, bufLen); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Safetensors) parseHeader(hdr []byte, bufLen int64) error {
	trimmed := bytes.TrimRight(hdr, " ")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return bad("safetensors: header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad("safetensors: header is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad("safetensors: header JSON: %v", err)
		}
		name, ok := t.(string)
		if !ok {
			return bad("safetensors: header key is not a string")
		}
		if name == "__metadata__" {
			if s.Metadata != nil {
				return bad("safetensors: duplicate __metadata__")
			}
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return bad("safetensors: __metadata__ must map strings to strings: %v", err)
			}
			if md == nil {
				md = map[string]string{}
			}
			s.Metadata = md
			continue
		}
		if _, dup := s.byName[name]; dup {
			return bad("safetensors: duplicate tensor %q", name)
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return bad("safetensors: tensor %q: %v", name, err)
		}
		t2, err := checkEntrySt(name, e, bufLen)
		if err != nil {
			return err
		}
		s.byName[name] = len(s.tensors)
		s.tensors = append(s.tensors, t2)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return bad("safetensors: header JSON object not closed")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("safetensors: text after the header JSON object")
	}
	// No two tensors may share bytes.
	order := make([]int, len(s.tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ta, tb := s.tensors[order[a]], s.tensors[order[b]]
		if ta.begin != tb.begin {
			return ta.begin < tb.begin
		}
		return ta.end < tb.end
	})
	var prevEnd int64
	prevName := ""
	for _, i := range order {
		t := s.tensors[i]
		if t.begin < prevEnd {
			return bad("safetensors: tensor %q [%d, %d) overlaps tensor %q ending at %d", t.info.Name, t.begin, t.end, prevName, prevEnd)
		}
		if t.end > prevEnd {
			prevEnd, prevName = t.end, t.info.Name
		}
	}
	return nil
}

func checkEntrySt(name string, e stEntry, bufLen int64) (stTensor, error) {
	es, ok := stSizes[e.DType]
	if !ok {
		return stTensor{}, bad("safetensors: tensor %q: unknown dtype %q", name, e.DType)
	}
	if e.Shape == nil {
		return stTensor{}, bad("safetensors: tensor %q: missing shape", name)
	}
	if len(e.Shape) > maxRank {
		return stTensor{}, bad("safetensors: tensor %q: %d dimensions", name, len(e.Shape))
	}
	if len(e.DataOffsets) != 2 {
		return stTensor{}, bad("safetensors: tensor %q: data_offsets needs 2 values, has %d", name, len(e.DataOffsets))
	}
	n := int64(es)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d > math.MaxInt64 {
			return stTensor{}, bad("safetensors: tensor %q: dimension %d too large", name, d)
		}
		n, ok = formats.MulChecked(n, int64(d))
		if !ok || n > math.MaxInt64/2 {
			return stTensor{}, bad("safetensors: tensor %q: shape %v overflows", name, e.Shape)
		}
		shape[i] = int(d)
	}
	b, en := e.DataOffsets[0], e.DataOffsets[1]
	if b > en || en > uint64(bufLen) {
		return stTensor{}, bad("safetensors: tensor %q: data_offsets [%d, %d] outside the %d-byte data buffer", name, b, en, bufLen)
	}
	if int64(en-b) != n {
		return stTensor{}, bad("safetensors: tensor %q: data_offsets hold %d bytes, shape %v of %s needs %d", name, en-b, e.Shape, e.DType, n)
	}
	return stTensor{info: ArrayInfo{Name: name, DType: e.DType, Shape: shape}, begin: int64(b), end: int64(en)}, nil
}

// OpenSafetensorsFile opens the safetensors file at path; Close it when done.
func OpenSafetensorsFile(path string) (*Safetensors, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	s, err := OpenSafetensors(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.closer = f
	return s, nil
}

// Close releases the file of OpenSafetensorsFile.
func (s *Safetensors) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// List returns the tensors in header order with names, dtypes and shapes.
func (s *Safetensors) List() []ArrayInfo {
	out := make([]ArrayInfo, len(s.tensors))
	for i, t := range s.tensors {
		out[i] = t.info
		out[i].Shape = append([]int(nil), t.info.Shape...)
	}
	return out
}

// Names lists the tensor names in header order.
func (s *Safetensors) Names() []string {
	out := make([]string, len(s.tensors))
	for i, t := range s.tensors {
		out[i] = t.info.Name
	}
	return out
}

// Dense reads one F32, F16, BF16 or F64 tensor of rank 2 (rank 1 reads as 1×n) as float32.
func (s *Safetensors) Dense(name string) (*formats.Dense, Info, error) {
	i, ok := s.byName[name]
	if !ok {
		return nil, Info{}, bad("safetensors: no tensor %q (have %s)", name, strings.Join(s.Names(), ", "))
	}
	t := s.tensors[i]
	var dt dtype
	switch t.info.DType {
	case "F32":
		dt = dtF32
	case "F16":
		dt = dtype{kind: 'f', size: 2}
	case "F64":
		dt = dtype{kind: 'f', size: 8}
	case "BF16":
		dt = dtype{kind: 'B', size: 2}
	default:
		return nil, Info{}, bad("safetensors: tensor %q has dtype %s; want F32, F16, BF16 or F64", name, t.info.DType)
	}
	var rows, cols int
	switch len(t.info.Shape) {
	case 1:
		rows, cols = 1, t.info.Shape[0]
	case 2:
		rows, cols = t.info.Shape[0], t.info.Shape[1]
	default:
		return nil, Info{}, bad("safetensors: tensor %q has shape %v; want 2-D (or 1-D as 1×n)", name, t.info.Shape)
	}
	n := (t.end - t.begin) / int64(dt.size) // checked against the file at open
	data, overflow, err := readFloats(io.NewSectionReader(s.r, s.base+t.begin, t.end-t.begin), dt, n, true)
	if err != nil {
		return nil, Info{}, bad("safetensors: reading tensor %q: %v", name, err)
	}
	d, err := formats.NewDense(rows, cols, data)
	if err != nil {
		return nil, Info{}, bad("safetensors: tensor %q: %v", name, err)
	}
	info := Info{Container: "safetensors", Layout: "dense", Name: name, DType: t.info.DType}
	if overflow {
		info.Overflow = true
		info.Notes = append(info.Notes, overflowNote)
	}
	return d, info, nil
}

// Tensor is one tensor for WriteSafetensors.
type Tensor struct {
	Name  string
	DType string         // "F32" (default when empty), "F16" or "BF16"; rounding is to nearest even
	Data  *formats.Dense // the values
	Shape []int          // optional: a shape with Rows·Cols elements (e.g. 1-D for a bias)
}

// WriteSafetensors writes the tensors, in order and contiguous, with an optional
// __metadata__ map; the header is padded with spaces to a multiple of 8 bytes.
func WriteSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if metadata != nil {
		mj, err := json.Marshal(metadata)
		if err != nil {
			return err
		}
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(mj)
		first = false
	}
	seen := map[string]bool{}
	var off int64
	blobs := make([][]byte, len(tensors))
	for i, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("fileio: bad or duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		if err := t.Data.Validate(); err != nil {
			return fmt.Errorf("fileio: tensor %q: %w", t.Name, err)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{t.Data.Rows, t.Data.Cols}
		}
		n := 1
		for _, s := range shape {
			if s < 0 {
				return fmt.Errorf("fileio: tensor %q: negative shape %v", t.Name, shape)
			}
			n *= s
		}
		if n != t.Data.Rows*t.Data.Cols {
			return fmt.Errorf("fileio: tensor %q: shape %v does not hold %d×%d values", t.Name, shape, t.Data.Rows, t.Data.Cols)
		}
		vals := rowMajor(t.Data)
		dt := t.DType
		if dt == "" {
			dt = "F32"
		}
		var blob []byte
		switch dt {
		case "F32":
			blob = encodeFloats(dtF32, vals)
		case "F16":
			blob = encodeFloats(dtype{kind: 'f', size: 2}, vals)
		case "BF16":
			blob = make([]byte, 2*n)
			for k, v := range vals {
				binary.LittleEndian.PutUint16(blob[2*k:], f32ToBF16(v))
			}
		default:
			return fmt.Errorf("fileio: tensor %q: dtype %q not F32, F16 or BF16", t.Name, dt)
		}
		blobs[i] = blob
		nj, _ := json.Marshal(t.Name)
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		hdr.Write(nj)
		hdr.WriteString(`:{"dtype":"` + dt + `","shape":[`)
		for k, s := range shape {
			if k > 0 {
				hdr.WriteByte(',')
			}
			hdr.WriteString(strconv.Itoa(s))
		}
		hdr.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + "," + strconv.FormatInt(off+int64(len(blob)), 10) + "]}")
		off += int64(len(blob))
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var pre [8]byte
	binary.LittleEndian.PutUint64(pre[:], uint64(hdr.Len()))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for _, b := range blobs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// SaveSafetensors writes the tensors to path atomically (see WriteSafetensors).
func SaveSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	return writeFileAtomic(path, func(w io.Writer) error { return WriteSafetensors(w, tensors, metadata) })
}
