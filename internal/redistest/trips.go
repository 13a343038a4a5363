package redistest

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook that counts what a client sends to Redis (one per command or
// pipeline) and remembers the names of the commands, for tests that hold a path to a budget.
type RoundTrips struct {
	mu    sync.Mutex
	n     int
	names []string
}

var _ redis.Hook = (*RoundTrips)(nil)

// Start forgets what was counted so far.
func (c *RoundTrips) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.names = 0, nil
}

// Count is how many round trips were made since Start, and the commands they carried.
func (c *RoundTrips) Count() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, slices.Clone(c.names)
}

func (c *RoundTrips) saw(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.names = append(c.names, names...)
}

func (c *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.saw(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = cmd.Name()
		}
		c.saw(names...)
		return next(ctx, cmds)
	}
}
