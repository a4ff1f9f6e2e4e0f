package main

import "time"

// Results mirrors the runner's results.json (only the fields the report uses).
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  struct {
		CPU       string `json:"cpu"`
		Cores     int    `json:"cores"`
		Kernel    string `json:"kernel"`
		GoVersion string `json:"go_version"`
		Load      string `json:"loadavg_at_start"`
	} `json:"machine"`
	Method []string `json:"method"`
	Reps   int      `json:"reps"`
	Cases  []*Case  `json:"cases"`
	Ratios []*Ratio `json:"ratios"`
	Notes  []string `json:"notes"`
}

// Case is one configuration's samples.
type Case struct {
	Name     string             `json:"name"`
	Group    string             `json:"group"`
	Desc     string             `json:"desc"`
	Server   string             `json:"server"`
	Env      []string           `json:"env"`
	Loadgen  string             `json:"loadgen"`
	Unit     string             `json:"unit"`
	Samples  []float64          `json:"samples"`
	Wall     []float64          `json:"wall_ns_per_datagram"`
	Stats    Stats              `json:"stats"`
	Accepted []uint64           `json:"accepted"`
	Errors   []string           `json:"errors"`
	Extra    map[string]float64 `json:"extra"`
}

// Ratio is num/den per repetition.
type Ratio struct {
	Name    string    `json:"name"`
	Num     string    `json:"num"`
	Den     string    `json:"den"`
	Target  string    `json:"target"`
	Samples []float64 `json:"samples"`
	Stats   Stats     `json:"stats"`
}

// Stats are min/median/max.
type Stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}
