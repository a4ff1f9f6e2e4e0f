// Package mail owns delivery of the site's outbox (site/store): a Sender takes pending mails
// and hands them to SMTP when configured, or, in a demo with no SMTP server, writes them to
// the log (the verification link is in the body) and marks them delivered; the demo's
// /outbox page shows them too (site/web, behind -dev-outbox).
//
// This package must not touch: HTTP handlers, templates, sessions. It reads and marks the
// outbox only through the store.
package mail
