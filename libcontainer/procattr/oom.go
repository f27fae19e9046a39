package procattr

import (
	"fmt"
	"strconv"
)

// SetOOMScoreAdj writes process.oomScoreAdj to /proc/self/oom_score_adj
// (a per-process value, inherited across fork and execve). nil leaves the
// inherited value. Lowering it below the current value needs
// CAP_SYS_RESOURCE, which this kind of host withholds: that fails with
// EPERM, reported as such.
func SetOOMScoreAdj(v *int) error {
	if v == nil {
		return nil
	}
	if *v < -1000 || *v > 1000 {
		return fmt.Errorf("process.oomScoreAdj: %d is outside [-1000, 1000]", *v)
	}
	if err := writeProcFile("self/oom_score_adj", strconv.Itoa(*v)); err != nil {
		return fmt.Errorf("process.oomScoreAdj: set %d: %w", *v, err)
	}
	return nil
}
