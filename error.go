package parley

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers. Each transport maps a Code to its own
// representation exactly once (HTTP status, WebSocket error frame, close code).
type Code string

// The error codes of the public API (API.md, "Conventions").
const (
	CodeInvalid      Code = "invalid"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeTooLarge     Code = "too_large"
	CodeRateLimited  Code = "rate_limited"
	CodeInternal     Code = "internal"
)

// Error is a domain error: a code that callers may branch on and a message
// that is safe to show to users. Internal failures are wrapped as Err and
// never shown; their message is always "internal error".
type Error struct {
	Code    Code
	Message string
	Err     error // underlying cause, if any; not shown to users
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a domain error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the user-facing message of err: the message of a
// domain error, "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Message
	}
	return "internal error"
}

// Common errors, compared with errors.Is through their code.
var (
	ErrNotFound     = &Error{Code: CodeNotFound, Message: "not found"}
	ErrUnauthorized = &Error{Code: CodeUnauthorized, Message: "unauthorized"}
)

// Is reports whether target is a domain error with the same code, so that
// errors.Is(err, parley.ErrNotFound) holds for any not_found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
