// Package callsig is call invitations (signaling) as an embeddable,
// in-process Go library, modelled on the call invitation feature of
// ZEGOCLOUD's ZIM SDK: a caller invites up to nine users, each may accept or
// reject, the caller may cancel, unanswered invitations time out, offline
// invitees get theirs when they log in, and a caller that drops cancels its
// unanswered call.
//
// callsig has no networking. A host (a chat, RTC or telephony server) feeds
// it commands from its own transport and delivers the events it hands back.
// Time comes from an injectable clock, so a test, a simulation or a replica
// drives time exactly.
//
// # Packages
//
//   - [github.com/callsig/callsig/call]: the Registry of live calls, its
//     commands, options and errors. Start here.
//   - [github.com/callsig/callsig/events]: the Event values the Registry
//     produces and the Sink a host implements to deliver them.
//   - [github.com/callsig/callsig/clock]: the Clock interface, the real clock,
//     and Manual, a deterministic clock for tests and simulations.
//   - [github.com/callsig/callsig/call/calltest]: the reference model of the
//     rules, rapid generators of commands and invariant checks over an event
//     stream, for a host's own property-based tests.
//
// The rules the library keeps are numbered (G1–G11, A1–A7, H1–H8, C1–C6,
// D1–D4, B1–B6) and defined in the repository's RULES.md; the godoc and the
// tests cite them by these codes. README.md has a quick start, docs/guide.md
// the rest of what a host needs to know.
package callsig
