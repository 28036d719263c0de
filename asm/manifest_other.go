//go:build purego || !(amd64 || arm64)

package asm

// generatedManifests is empty where no generated kernels are built (purego, other GOARCH).
var generatedManifests [][]Desc
