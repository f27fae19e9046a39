package container

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// statePaused is the status the freezer gives (runc's "paused"; the spec
// leaves it to the runtime).
const statePaused = specs.ContainerState("paused")

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	switch s := c.Status(); s {
	case specs.StateRunning, specs.StateCreated:
	case specs.StateStopped:
		return errors.New("container not running")
	default:
		return fmt.Errorf("cannot pause a container in the %s state", s)
	}
	if err := c.cgroups().Freeze(); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	switch s := c.Status(); s {
	case statePaused:
	case specs.StateStopped:
		return errors.New("container not running")
	default:
		return fmt.Errorf("container is not paused (%s)", s)
	}
	if err := c.cgroups().Thaw(); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return nil
}

// Processes lists the host PIDs of every process in the container's
// cgroups.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == specs.StateStopped {
		return nil, errors.New("container not running")
	}
	pids, err := c.cgroups().Pids()
	if err != nil {
		return nil, fmt.Errorf("list container processes: %w", err)
	}
	return pids, nil
}
