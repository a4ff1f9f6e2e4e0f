// Command site is the Heartline dating site: a net/http process with the landing page, the
// members list with live green dots, and the login that issues heartbeat credentials to apps.
package main
