// Package fileio reads and writes sparsegen's weight files: numpy .npy and .npz, the
// scipy.sparse npz layout for CSR and BSR, sparsegen's own npz layout for N:M, and
// safetensors.
//
// # Safety
//
// Every reader works over an io.ReaderAt with a known size (path helpers Load…/Open…File
// wrap os.File) and checks each header, shape and size before allocating: a truncated,
// hostile or huge-claiming file returns an error wrapping ErrFormat, never a panic, and
// never an allocation beyond what the file can hold. In .npz files each zip entry's claimed
// uncompressed size must be consistent with its compressed size (equal when stored, at most
// MaxDeflateRatio:1 when deflated); reads are capped at the claimed size with
// io.LimitReader, the .npy inside must fill the entry exactly, and archive/zip checks the
// CRC at the end. The ratio check alone does not stop a decompression bomb (zeros deflate
// at about 1028:1, so 2 MB may honestly inflate to 2 GiB): every archive has an inflate
// budget (NPZOptions.MaxInflate, by default DefaultMaxInflate: a quarter of this machine's
// memory) that bounds the bytes all its members inflate to. A member whose .npy header
// declares more data than the budget has left is refused (ErrTooLarge) before its data is
// inflated, and the bytes inflated are counted against the budget as they stream. Float arrays are
// converted to float32 while they stream in (no second copy of the raw bytes), and output
// read from a decompressing stream grows as data arrives, so a lying size costs only what
// the stream really produced. Sparse shapes must fit int32 in both M and K.
//
// # .npy
//
// ReadNPY/LoadNPY read one 2-D array (1-D reads as 1×K, e.g. a bias) of dtype '<f2', '<f4',
// '<f8' or their big-endian forms into a *formats.Dense (float32), format versions 1.0, 2.0
// and 3.0. The header dict is parsed by our own strict parser: exactly the keys 'descr',
// 'fortran_order' and 'shape'. A Fortran-order array is transposed into row-major C order
// (Info.Notes says so). WriteNPY/SaveNPY write '<f4', C order, version 1.0; WriteNPYAs
// writes any of NPYDTypes.
//
// # .npz
//
// OpenNPZ/OpenNPZFile list arrays (names without ".npy", as numpy shows them), read their
// headers (Info, List) and read them (Dense). Entries may be stored or deflated.
// OpenNPZWith/OpenNPZFileWith take NPZOptions (the inflate budget).
// NPZWriter writes archives of either kind.
//
// # scipy.sparse npz (CSR, BSR)
//
// WriteCSR and WriteBSR write the arrays scipy.sparse.save_npz writes: "indices", "indptr"
// (int32 when nnz and K fit, else int64), "format" (a 0-d '|S3' byte string "csr"/"bsr", as
// scipy writes it; scipy's load_npz also accepts '<U3', and so do we), "shape" (int64 (2,)),
// "data" (float32; (nnz,) for CSR, (blocks, R, C) for BSR), and for BSR also "blocksize"
// (int64 (2,); scipy infers it from data and ignores the key). scipy.sparse.load_npz reads
// these files. A ragged BSR (M % R ≠ 0 or K % C ≠ 0) cannot be expressed in scipy's layout:
// WriteBSR and SaveMatrix return ErrRaggedBSR, which suggests CSR.
//
// NPZ.Matrix reads what scipy's save_npz writes, compressed or not, float16/32/64 data,
// int32 or int64 indices, and canonicalizes: indices are range-checked and narrowed to
// int32, unsorted rows (block rows) are sorted, duplicate entries (blocks) are summed in
// float64, entries past indptr[-1] are dropped; each of these is reported in Info.Notes.
// csc/coo/dia matrices are refused with a hint to convert with .tocsr().
//
// A CSR whose "data" is in low precision is read in that dtype, as a formats.CSRLP, never
// widened: '<f2' is f16, '<u2' bf16 bit patterns (NPZWriter.WriteDenseLP's convention:
// numpy has no bfloat16), '|i1' int8 with one float32 scale per row in the 1-D array
// "data_scale" ("data"+LPScaleSuffix, as WriteDenseLP names a DenseLP's scales); scales
// must be finite and one per row. WriteCSRLP (and SaveMatrix for a CSRLP) writes that
// layout; scipy.sparse.load_npz reads its pattern and stored values (bf16 as uint16, int8
// without the scales). Duplicates are summed without leaving the dtype: int8 exactly (an
// error past int8's range), bf16/f16 in float64 rounded once to the dtype. A BSR likewise:
// "data" (blocks, R, C) in '<f2', '<u2' or '|i1' reads as a formats.BSRLP, int8 with one
// scale per matrix row (not per block row) in "data_scale"; WriteBSRLP (and SaveMatrix for
// a BSRLP) writes it, ragged grids refused as for BSR.
//
// # N:M npz (sparsegen's layout)
//
//	format  0-d '|S2' "nm"
//	shape   int64 (2,)       M, K
//	keep    0-d int64        N of N:M (formats.NM.Keep)
//	group   0-d int64        M of N:M (formats.NM.Group)
//	data    float32 (M, S)   slot values, S = NM.SlotsPerRow() (partial last group included)
//	pos     uint8 (M, S)     each slot's position inside its group
//
// The reader accepts float32/64 data and one-element arrays for keep and group. An
// N:M matrix in low precision (formats.NMLP, WriteNMLP) has "data" in its own dtype, as a
// CSRLP's: '<u2' bf16 bit patterns or '|i1' int8 with the float32 row scales "data_scale";
// NPZ.Matrix reads those back as an NMLP, never widened. '<f2' data is read as an f16
// NMLP too (a float16 N:M npz written before NMLP existed now keeps its dtype).
//
// # safetensors
//
// OpenSafetensors/OpenSafetensorsFile parse the header: its u64 little-endian length is
// bounded by the file size and MaxSafetensorsHeader; the JSON is parsed strictly (known
// dtypes only, no unknown fields, no duplicate names, only spaces after it); every tensor's
// data_offsets must lie in the data buffer, hold exactly shape×dtype-size bytes and not
// overlap another tensor. List gives names, dtypes and shapes; Dense reads an F32, F16,
// BF16 or F64 tensor of rank 2 (rank 1 as 1×n) as float32. WriteSafetensors writes F32,
// F16 or BF16 tensors (round to nearest even).
//
// # One call
//
// LoadMatrix(path, name) detects the container from the file's first bytes and returns a
// formats.Matrix (*Dense, *CSR, *BSR or *NM; *DenseLP, *CSRLP or *BSRLP for low-precision
// weights) with an Info; SaveMatrix(path, m) picks the
// layout from the extension and m's format (see their docs). ReadMatrix is LoadMatrix over
// an io.ReaderAt. ListFile lists the arrays or tensors of any of the three containers from
// their headers alone.
package fileio
