// Package snippet keeps the code a README shows equal to a file that is compiled and run.
//
// A checked block is a fenced code block preceded by a marker line
//
//	<!-- snippet: PATH -->
//	<!-- snippet: PATH from "TEXT" -->
//
// where PATH is relative to the README's folder. The block must equal the file (or, with
// from, the file from the first line holding TEXT on), compared line by line with runs of
// white space collapsed and blank lines ignored, so a tab-indented file may be shown with
// spaces. Tests call Check for each README.
package snippet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var markerRE = regexp.MustCompile(`^<!-- snippet: (\S+)(?: from "([^"]*)")? -->$`)

// Block is one marked code block of a README.
type Block struct {
	Path string // the file it shows, relative to the README's folder
	From string // the line text the shown part of the file starts at ("": the whole file)
	Line int    // the README line of the block's first line of code (1-based)
	Code string
}

// Blocks returns the marked code blocks of a README's text.
func Blocks(readme string) ([]Block, error) {
	lines := strings.Split(readme, "\n")
	var out []Block
	for i := 0; i < len(lines); i++ {
		m := markerRE.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[j]), "```") {
			return nil, fmt.Errorf("line %d: snippet marker for %s is not followed by a fenced code block", i+1, m[1])
		}
		fence := strings.TrimSpace(lines[j])
		fence = fence[:len(fence)-len(strings.TrimLeft(fence, "`"))]
		end := j + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != fence {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: the code block for %s is not closed", j+1, m[1])
		}
		out = append(out, Block{Path: m[1], From: m[2], Line: j + 2, Code: strings.Join(lines[j+1:end], "\n")})
		i = end
	}
	return out, nil
}

// Check reads the README at readmePath and compares every marked block with its file. It
// fails when a block differs, when a marked file is missing, or when one of want (paths
// relative to the README's folder) is shown by no block.
func Check(readmePath string, want ...string) error {
	text, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	blocks, err := Blocks(string(text))
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	shown := map[string]bool{}
	var errs []string
	for _, b := range blocks {
		shown[b.Path] = true
		src, err := os.ReadFile(filepath.Join(filepath.Dir(readmePath), b.Path))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %v", readmePath, b.Line, err))
			continue
		}
		part, ok := From(string(src), b.From)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s:%d: %s has no line holding %q", readmePath, b.Line, b.Path, b.From))
			continue
		}
		if d := Diff(b.Code, part); d != "" {
			errs = append(errs, fmt.Sprintf("%s:%d: the block differs from %s (update one from the other): %s", readmePath, b.Line, b.Path, d))
		}
	}
	for _, p := range want {
		if !shown[p] {
			errs = append(errs, fmt.Sprintf("%s shows no block of %s (want a fenced block after <!-- snippet: %s -->)", readmePath, p, p))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// From returns src from the first line holding text on (all of src when text is empty).
func From(src, text string) (string, bool) {
	if text == "" {
		return src, true
	}
	for off := 0; off < len(src); {
		end := strings.IndexByte(src[off:], '\n')
		if end < 0 {
			end = len(src) - off
		}
		if strings.Contains(src[off:off+end], text) {
			return src[off:], true
		}
		off += end + 1
	}
	return "", false
}

// normalize returns the non-blank lines of s with runs of white space collapsed to one space.
func normalize(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// Diff returns "" when shown and file agree up to white space and blank lines, else where
// they first differ.
func Diff(shown, file string) string {
	a, b := normalize(shown), normalize(file)
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return fmt.Sprintf("the block ends where the file goes on with %q", b[i])
		case i >= len(b):
			return fmt.Sprintf("the block goes on with %q after the file ends", a[i])
		case a[i] != b[i]:
			return fmt.Sprintf("code line %d: block %q, file %q", i+1, a[i], b[i])
		}
	}
	return ""
}
