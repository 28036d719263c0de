//go:build !linux && !darwin

package sysmem

func total() int64 { return 0 }
