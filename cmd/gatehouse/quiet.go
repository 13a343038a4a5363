package main

import (
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// quietPeriod is how often one warning may repeat in the log.
const quietPeriod = 30 * time.Second

// quietCore writes a warning, then holds back the same warning (same logger, same message)
// for period, and writes the next one after that with the number it held back in the field
// "suppressed". When Redis goes away every background duty, every request and the Redis
// client itself warn every second; the log needs the first warning and then a heartbeat,
// not a hundred lines in six seconds. Errors and lower levels pass untouched.
type quietCore struct {
	zapcore.Core
	period time.Duration
	state  *quietState // shared by the cores With derives
}

type quietState struct {
	mu   sync.Mutex
	last map[string]time.Time // when each warning was last written
	held map[string]int       // how many of it were held back since
}

// maxQuietKeys bounds the memory of warnings seen: past it, warnings older than the period are
// forgotten.
const maxQuietKeys = 1024

func quiet(core zapcore.Core, period time.Duration) zapcore.Core {
	return quietCore{Core: core, period: period, state: &quietState{last: map[string]time.Time{}, held: map[string]int{}}}
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core {
	return quietCore{Core: c.Core.With(fields), period: c.period, state: c.state}
}

func (c quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level != zapcore.WarnLevel {
		return c.Core.Check(e, ce)
	}
	if !c.Enabled(e.Level) {
		return ce
	}
	key := e.LoggerName + "\x00" + e.Message
	s := c.state
	s.mu.Lock()
	defer s.mu.Unlock()
	// The entry's own time, not the wall clock: the logger's clock decides.
	if last, seen := s.last[key]; seen && e.Time.Sub(last) < c.period {
		s.held[key]++
		return ce
	}
	if len(s.last) >= maxQuietKeys {
		for k, t := range s.last {
			if e.Time.Sub(t) >= c.period {
				delete(s.last, k)
				delete(s.held, k)
			}
		}
	}
	s.last[key] = e.Time
	return ce.AddCore(e, c)
}

func (c quietCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	key := e.LoggerName + "\x00" + e.Message
	c.state.mu.Lock()
	held := c.state.held[key]
	delete(c.state.held, key)
	c.state.mu.Unlock()
	if held > 0 {
		fields = append(fields, zap.Int("suppressed", held))
	}
	return c.Core.Write(e, fields)
}
