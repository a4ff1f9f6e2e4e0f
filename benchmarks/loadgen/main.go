package main

import (
	"fmt"
	"os"
)

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		usageError(err)
	}
	var sum *Summary
	if o.Mode == "drain" {
		sum, err = drainMode(o)
	} else {
		sum, err = runMode(o)
	}
	if sum != nil {
		if err != nil {
			sum.Errors = append(sum.Errors, err.Error())
		}
		if werr := writeSummary(o.Out, sum); werr != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
