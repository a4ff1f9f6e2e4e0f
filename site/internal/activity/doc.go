// Package activity owns the members' "last active" times as presence moves them: it follows
// the watcher's events (online, offline, status) and writes the transition times into the
// store in batches (store.TouchActive), so the members list and search, sorted by activity,
// put the members online now first and "recently active" means what the dots showed.
//
// This package must not touch: HTTP, templates, Consul, or the watcher's internals (it reads
// only watcher.Event values).
package activity
