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
package events
