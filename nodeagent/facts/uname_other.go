//go:build !linux

package facts

// unameMachine has no portable source off Linux; callers fall back to
// runtime.GOARCH.
func unameMachine() string { return "" }
