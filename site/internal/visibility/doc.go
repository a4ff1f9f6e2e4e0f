// Package visibility is the site's side of presence privacy: it decides, from the member
// database, what each viewer's grant says about the members they ask for (privacy.Basis:
// none when the member blocks the viewer, member, or match), seals grants for apps, and
// publishes members' choices (visibility mode) and revocations (block, unmatch) to the
// privacy records in Consul KV, from which every site and gateway process enforces them
// within a second. The rule itself is protocol/privacy.Allowed; the live view of the
// records is agent/privacywatch.View.
//
// It owns no HTTP handlers and no templates (site/web calls it), and never writes presence.
package visibility
