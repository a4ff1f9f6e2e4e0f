// Package photo owns profile photo uploads: it accepts JPEG and PNG only, bounds the bytes
// and the pixel dimensions before decoding (a small file can declare a huge image),
// decodes with the standard library and re-encodes (image/jpeg, image/png), so nothing of
// the upload but its pixels survives: EXIF, GPS position, comments and any trailing data are
// gone. The result is named by the SHA-256 of its bytes, so its URL never changes meaning and
// can be cached forever.
//
// This package must not touch: HTTP, the database, or templates. Its errors carry a Chinese
// message for the page (Error.Message).
package photo
