package asm

// The assembly (*_avx512_amd64.s, *_avx2_amd64.s, *_neon_arm64.s) and its Go declarations
// (the .go files of the same names, with "Code generated" headers) come from the generator
// module in ../gen; `go generate ./...` rewrites them and `cd gen && go test ./...` fails if
// the committed files differ from what it generates (DESIGN §5.9).

//go:generate sh -c "cd ../gen && go run ./cmd/asmgen -out ../asm"
