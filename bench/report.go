package main

import (
	"fmt"
	"sort"
	"time"
)

// stats summarises one runtime's samples of one scenario.
type stats struct {
	n                      int
	medianMs, meanMs       float64
	minMs, maxMs           float64
	peakRSSMB, parkedRSSMB float64 // medians
}

func summarize(samples []sample) stats {
	if len(samples) == 0 {
		return stats{}
	}
	ms := make([]float64, len(samples))
	peak := make([]float64, len(samples))
	parked := make([]float64, len(samples))
	var sum float64
	for i, s := range samples {
		ms[i] = float64(s.elapsed) / float64(time.Millisecond)
		peak[i] = float64(s.peakRSSKB) / 1024
		parked[i] = float64(s.parkedKB) / 1024
		sum += ms[i]
	}
	sorted := append([]float64(nil), ms...)
	sort.Float64s(sorted)
	return stats{
		n:           len(samples),
		medianMs:    median(ms),
		meanMs:      sum / float64(len(ms)),
		minMs:       sorted[0],
		maxMs:       sorted[len(sorted)-1],
		peakRSSMB:   median(peak),
		parkedRSSMB: median(parked),
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints one table per scenario and the nsrun ratios.
func report(rts []*runtime, n int) {
	scenarios := []struct {
		title   string
		samples func(*runtime) []sample
		parked  bool
	}{
		{"run (create, start, wait, delete in one command)", func(r *runtime) []sample { return r.run }, false},
		{"create + start + wait for exit + delete", func(r *runtime) []sample { return r.cycle }, true},
	}
	for _, sc := range scenarios {
		fmt.Printf("\n%s, ms per container:\n", sc.title)
		header := fmt.Sprintf("  %-6s %4s %8s %8s %8s %8s %14s", "", "n", "median", "mean", "min", "max", "peak RSS (MB)")
		if sc.parked {
			header += fmt.Sprintf(" %16s", "parked RSS (MB)")
		}
		fmt.Println(header)
		all := map[string]stats{}
		for _, r := range rts {
			st := summarize(sc.samples(r))
			all[r.name] = st
			if st.n == 0 {
				fmt.Printf("  %-6s   no samples (%v)\n", r.name, r.failed)
				continue
			}
			line := fmt.Sprintf("  %-6s %4d %8.2f %8.2f %8.2f %8.2f %14.1f", r.name, st.n, st.medianMs, st.meanMs, st.minMs, st.maxMs, st.peakRSSMB)
			if sc.parked {
				line += fmt.Sprintf(" %16.1f", st.parkedRSSMB)
			}
			if st.n < n {
				line += "  (incomplete)"
			}
			fmt.Println(line)
		}
		ns, ok := all["nsrun"]
		if !ok || ns.n == 0 {
			fmt.Println("  ratios: no nsrun samples")
			continue
		}
		for _, other := range []string{"runc", "crun"} {
			st, ok := all[other]
			if !ok || st.n == 0 {
				continue
			}
			fmt.Printf("  nsrun/%s: %.2f (median), %.2f (mean)\n", other, ns.medianMs/st.medianMs, ns.meanMs/st.meanMs)
		}
	}
}
