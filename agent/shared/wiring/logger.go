package wiring

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// CheckLogLevel reports whether level is one a process accepts for -log-level; config
// validation calls it so that a bad level stops the process before it starts anything.
func CheckLogLevel(level string) error {
	if _, err := parseLevel(level); err != nil {
		return err
	}
	return nil
}

func parseLevel(level string) (zapcore.Level, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return 0, fmt.Errorf("-log-level %q: use debug, info, warn or error", level)
	}
	return lvl, nil
}

// Logger is zap's production JSON logger at level. Its sampler (per message, per second:
// the first 100, then every 100th) keeps hot-path warnings such as a failing recvmmsg from
// flooding the log.
func Logger(level string) (*zap.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	return zc.Build()
}
