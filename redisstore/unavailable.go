package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// unavailableHook marks every command that failed because Redis could not be reached, or
// cannot serve for now, as governance.ErrUnavailable, so that the adapters answer "try again"
// (503) rather than an internal error, whichever store method failed.
type unavailableHook struct{}

var _ redis.Hook = unavailableHook{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return markUnavailable(next(ctx, cmd), cmd)
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return markUnavailable(next(ctx, cmds), cmds...)
	}
}

// markUnavailable wraps err, and the error of each command (callers read that one), when it
// says Redis is out of reach.
func markUnavailable(err error, cmds ...redis.Cmder) error {
	for _, cmd := range cmds {
		if unreachable(cmd.Err()) {
			cmd.SetErr(fmt.Errorf("%w: %w", governance.ErrUnavailable, cmd.Err()))
		}
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", governance.ErrUnavailable, err)
	}
	return err
}

// busyPrefixes are Redis's own answers for "not now": loading its data, a failover under way,
// a cluster slot moving.
var busyPrefixes = []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"}

func unreachable(err error) bool {
	if err == nil || errors.Is(err, governance.ErrUnavailable) {
		return false
	}
	var netErr net.Error // refused, reset, timed out (a context deadline is one too)
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	for _, p := range busyPrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
