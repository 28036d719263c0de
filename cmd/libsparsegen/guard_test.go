//go:build cgo

package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestGuard checks the export frame: a panic becomes SG_ERR_INTERNAL with a message on the
// calling thread, an error sets the message, success returns SG_OK.
func TestGuard(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := guard(func() error { panic("boom") }); int(rc) != int(codeInternal) {
		t.Errorf("panic: rc %d", rc)
	}
	if msg := lastError(); !strings.Contains(msg, "internal error") || !strings.Contains(msg, "boom") {
		t.Errorf("panic message %q", msg)
	}
	if len(lastError()) > 1023 {
		t.Errorf("message of %d bytes exceeds the buffer", len(lastError()))
	}
	var s []int
	if rc := guard(func() error { _ = s[3]; return nil }); int(rc) != int(codeInternal) {
		t.Errorf("index panic: rc %d", rc)
	}
	if rc := guard(func() error { return fail(codeShape, "too ×short") }); int(rc) != int(codeShape) || lastError() != "too ×short" {
		t.Errorf("error: rc %d, message %q", rc, lastError())
	}
	// A long message is cut at a UTF-8 boundary.
	long := strings.Repeat("×", 600)
	guard(func() error { return fail(codeArgument, "%s", long) })
	if msg := lastError(); len(msg) > 1023 || !strings.HasPrefix(long, msg) || len(msg) < 1000 {
		t.Errorf("truncated message: %d bytes, prefix ok %v", len(msg), strings.HasPrefix(long, msg))
	}
	if rc := guard(func() error { return nil }); rc != 0 {
		t.Errorf("ok: rc %d", rc)
	}
}
