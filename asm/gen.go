package asm

// The amd64 assembly (*_amd64.s) and its Go declarations (*_amd64.go with "Code generated"
// headers) come from the generator module in ../gen; `go generate ./...` rewrites them and
// `cd gen && go test ./...` fails if the committed files differ from what it generates.

//go:generate sh -c "cd ../gen && go run ./cmd/asmgen -out ../asm"
