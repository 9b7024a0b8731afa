package connkit

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readBody returns the whole body whether its announced size is right,
// unknown, too small or over the limit, and reads a body of the announced
// size in one allocation.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	for _, tc := range []struct {
		name string
		size int64
	}{{"exact", 10000}, {"unknown", -1}, {"announced too small", 10}, {"announced over the limit", 1 << 40}} {
		for _, r := range []func() io.Reader{
			func() io.Reader { return strings.NewReader(body) },
			func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) },
			func() io.Reader { return iotest.HalfReader(strings.NewReader(body)) },
		} {
			got, err := readBody(r(), tc.size, 1<<20)
			if err != nil || string(got) != body {
				t.Errorf("%s: read %d bytes, %v; want all %d", tc.name, len(got), err, len(body))
			}
		}
	}
	boom := errors.New("boom")
	if _, err := readBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10, 100); !errors.Is(err, boom) {
		t.Errorf("a read error: got %v, want it returned", err)
	}
	data := []byte(body)
	allocs := testing.AllocsPerRun(20, func() {
		b, _ := readBody(bytes.NewReader(data), int64(len(data)), 1<<20) // the reader, and the body
		_ = b
	})
	if allocs > 2 {
		t.Errorf("a body of the announced size took %v allocations, want 2: the reader and one buffer", allocs)
	}
}
