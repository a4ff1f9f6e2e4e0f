// Package demoid is the id range of the site's demo members, the one fact about the site's
// data that a tool outside the site process must agree with: scripts/demo heartbeats as
// demo members and has the site seed a member for every user it drives. It is a narrow,
// exported seam; everything else about members is private to the site
// (site/internal/members, which takes its constants from here).
//
// It owns these constants only and must not grow members' data or logic.
package demoid

// Demo members are First … First+n-1 (n ≤ Max); accounts created by sign-up start at
// FirstSignup, so the ranges never meet.
const (
	First       uint64 = 100001
	Max                = 1_000_000
	FirstSignup uint64 = 5_000_001
)
