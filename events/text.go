package events

import "fmt"

// MarshalText gives the kind's name, so that JSON carries "InvitationReceived".
func (k Kind) MarshalText() ([]byte, error) {
	return marshalName(k.String(), uint8(k) < uint8(len(kindNames)) && k != 0)
}

// UnmarshalText parses a name MarshalText gave.
func (k *Kind) UnmarshalText(b []byte) error { return unmarshalName(b, "kind", ParseKind, k) }

// MarshalText gives the mode's name.
func (m Mode) MarshalText() ([]byte, error) { return marshalName(m.String(), m <= Advanced) }

// UnmarshalText parses a name MarshalText gave.
func (m *Mode) UnmarshalText(b []byte) error { return unmarshalName(b, "mode", ParseMode, m) }

// MarshalText gives the state's name.
func (s State) MarshalText() ([]byte, error) { return marshalName(s.String(), s <= NotYetReceived) }

// UnmarshalText parses a name MarshalText gave.
func (s *State) UnmarshalText(b []byte) error { return unmarshalName(b, "state", ParseState, s) }

// MarshalText gives the reason's bare name.
func (r Reason) MarshalText() ([]byte, error) { return marshalName(r.String(), r <= ReasonEmpty) }

// UnmarshalText parses a name MarshalText gave.
func (r *Reason) UnmarshalText(b []byte) error { return unmarshalName(b, "reason", ParseReason, r) }

func marshalName(name string, known bool) ([]byte, error) {
	if !known {
		return nil, fmt.Errorf("events: cannot encode unknown value %s", name)
	}
	return []byte(name), nil
}

func unmarshalName[T any](b []byte, what string, parse func(string) (T, bool), into *T) error {
	v, ok := parse(string(b))
	if !ok {
		return fmt.Errorf("events: unknown %s %q", what, b)
	}
	*into = v
	return nil
}
