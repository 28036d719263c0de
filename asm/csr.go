package asm

// csrTileFunc is the generated CSR tile kernel (gen/kernels/csr.go documents it): one K
// block of nrows packed rows, U vectors wide, with the fused epilogue.
type csrTileFunc func(vals *float32, offs *uint16, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, tail int)
