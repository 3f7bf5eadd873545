// Package web holds the browser app that callsigd serves at /, embedded
// in the binary so that it needs no CDN and works offline.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the app's files, index.html at its root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded above: fs.Sub cannot fail on it
	}
	return sub
}
