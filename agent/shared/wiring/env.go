package wiring

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable of a flag: -udp-addr <-> HEARTLINE_UDP_ADDR.
func EnvName(flagName string) string {
	return "HEARTLINE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs whose HEARTLINE_* variable lookup finds (os.LookupEnv in
// production). Call it before fs.Parse, so that the command line wins. The error names the
// first variable whose value the flag rejects.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvName(f.Name)
		if v, ok := lookup(env); ok && err == nil {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, serr)
			}
		}
	})
	return err
}
