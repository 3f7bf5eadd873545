// Package events defines what callsig hands back to its host: the [Event]
// value, its enumerations ([Kind], [Mode], [State], [Reason]) and the [Sink]
// a host implements to deliver events over its own transport.
//
// An Event says to whom it goes ([Event.To], narrowed to one device by
// [Event.ToDevice]), whether that user was offline when it was produced
// ([Event.Offline]: send a push built from [Event.Push], or drop it), and
// where it stands in its call ([Event.Seq], 1, 2, 3, … per call in the order
// produced, whoever receives it). A host that delivers events of one call in
// Seq order to each recipient gives every client the same story.
//
// Which fields each Kind fills:
//
//	Kind                     To       From             Data        Push        Deadline                 Members              Reason
//	InvitationCreated        caller   caller           invite's    —           latest invitee deadline  all members          None
//	InvitationReceived       invitee  its inviter      invite's    invite's    its deadline             all members          None
//	InvitationCancelled      invitee  caller           cancel's    cancel's    —                        [that invitee]       Cancelled / CallerOffline
//	InvitationAccepted       caller   invitee          accept's    —           —                        [that invitee]       None
//	InvitationRejected       caller   invitee          reject's    —           —                        [that invitee]       Rejected / Busy
//	InvitationTimeout        invitee  —                —           invite's    —                        [that invitee]       Timeout
//	InviteesAnsweredTimeout  caller   —                —           —           —                        those timed out      Timeout
//	UserStateChanged         member   actor            actor's     —           —                        the changed members  that change's
//	InvitationEnded          member   who ended        end's       —           —                        all members          Ended / Empty
//
// When the caller's last device logs out (rule G7), InvitationCancelled
// carries Reason CallerOffline, no Data and the invite's Push. Where the
// table says "invite's" Push, an invitee that an advanced call's
// CallingInvite rang gets that command's Push instead. RULES.md (§3) has
// the full table and the rules behind it.
//
// Events are plain values: a Sink receives them by value and may keep them.
// [Event.Members] and [Event.Push] are shared between the events of one
// change and must be treated as read-only. A Registry made with
// call.Options.TransientMembers reuses the memory of Members once Emit
// returns: a Sink of such a Registry that keeps an event keeps
// [Event.Detach] of it, as [Recorder] does.
//
// # JSON
//
// Event, [Member] and [Push] encode with encoding/json as a wire protocol
// carries them, in snake_case:
//
//	{"kind":"InvitationReceived","to":"bob","call_id":"c1","seq":2,
//	 "at":"2026-11-27T09:00:00Z","mode":"General","caller":"alice","from":"alice",
//	 "data":"video","push":{"title":"Alice is calling"},"deadline":"2026-11-27T09:00:30Z",
//	 "members":[{"user":"alice","state":"Accepted","data":"video"},
//	            {"user":"bob","state":"Received","inviter":"alice","deadline":"2026-11-27T09:00:30Z"}]}
//
// The rules of that form:
//
//   - Kind, Mode, State and Reason are their String names; decoding refuses
//     any other name with an error, and encoding refuses a value that has
//     no name.
//   - Empty fields are left out: empty strings, false, a nil Push, no
//     Members, zero times, ReasonNone. Kind, Seq and Mode are always
//     written, as are a Member's user and state.
//   - Times are RFC 3339 with nanoseconds (trailing zeros cut), as
//     time.Time's MarshalJSON writes them; a Registry's times are UTC, so
//     they end in "Z". A time outside the years 0 to 9999, which RFC 3339
//     cannot write, fails to encode.
//   - Decoding what was encoded gives back the same value, == field by
//     field, for every event a Registry emits, with two limits that JSON
//     sets: a string that is not valid UTF-8 (extended data may be any
//     bytes) comes back with U+FFFD in place of each bad byte, so a host
//     that carries binary data encodes it (base64) itself; and an empty,
//     non-nil Members comes back nil.
//
// Because the names are struct tags, a host may embed Event in its own
// message type, e.g. struct{ Type string `json:"type"`; events.Event },
// and get one flat object.
package events
