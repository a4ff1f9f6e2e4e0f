package tcp

import (
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"
)

func netipOf(gc gnet.Conn) (netip.AddrPort, bool) {
	if a, ok := gc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

// zapGnetLogger routes gnet's own logs to zap.
type zapGnetLogger struct{ l *zap.SugaredLogger }

func (z zapGnetLogger) Debugf(f string, a ...any) { z.l.Debugf(f, a...) }
func (z zapGnetLogger) Infof(f string, a ...any)  { z.l.Infof(f, a...) }
func (z zapGnetLogger) Warnf(f string, a ...any)  { z.l.Warnf(f, a...) }
func (z zapGnetLogger) Errorf(f string, a ...any) { z.l.Errorf(f, a...) }
func (z zapGnetLogger) Fatalf(f string, a ...any) { z.l.Fatalf(f, a...) }
