//go:build !unix

package autotune

// lockDir is a no-op where flock is unavailable: concurrent tuners may then lose each
// other's entries (never corrupt the file: Save is atomic).
func lockDir(string) (func(), error) { return func() {}, nil }
