package memstore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The table agrees with a Go map through random puts and removes, its
// index growing from empty and its probe runs shifted by removals (few
// keys in a small index make long runs that wrap around).
func TestTableMatchesMap(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 2))
		tb := newTable()
		want := map[recKey]uint64{}
		keys := 20 + rng.IntN(300)
		for step := range 3000 {
			k := recKey{key: fmt.Sprint(rng.IntN(keys)), kind: uint8(1 + rng.IntN(3))}
			switch rng.IntN(3) {
			case 0, 1:
				tb.put(k).fp = uint64(step)
				want[k] = uint64(step)
			default:
				tb.remove(k)
				delete(want, k)
			}
			if step%7 == 0 {
				tb.reserve(rng.IntN(4))
			}
			require.Equal(t, len(want), tb.len(), "seed %d step %d", seed, step)
		}
		for k, fp := range want {
			r := tb.get(k)
			require.NotNil(t, r, "seed %d: %v lost", seed, k)
			require.Equal(t, fp, r.fp)
			require.Equal(t, k, r.key)
		}
		for i := range keys {
			for kind := uint8(1); kind <= 3; kind++ {
				k := recKey{key: fmt.Sprint(i), kind: kind}
				if _, ok := want[k]; !ok {
					require.Nil(t, tb.get(k), "seed %d: removed %v found", seed, k)
				}
			}
		}
	}
}
