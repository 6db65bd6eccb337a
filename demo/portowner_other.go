//go:build !linux

package demo

// portOwner cannot tell who holds a port outside Linux.
func portOwner(string) (int, string) { return 0, "" }

// alive cannot tell outside Linux; it says no, so nothing is reported.
func alive(Child) bool { return false }
