// Package browsertest drives callsigd's browser app in a real, headless
// Chromium: its tests start a server in-process on a loopback port and a
// manual clock, sign two or three users in from isolated browser contexts
// and call between them, writing a screenshot of each screen.
//
// Run them with
//
//	go test ./callsigd/internal/browsertest -v
//
// They need chromium (Debian: apt-get install chromium), found on PATH or
// named by CALLSIGD_CHROMIUM. Without it they skip, unless CI=true, where a
// missing browser fails. Screenshots go to a temporary directory, or to
// CALLSIGD_SCREENSHOTS when it is set; the test log names it.
package browsertest
