package lifecycle

import (
	"context"
	"testing"
)

func TestWork(t *testing.T) {
	var w Work
	if _, ok := w.Begin(); ok {
		t.Fatal("work began before Start")
	}
	w.Start(context.Background())
	ctx, ok := w.Begin()
	if !ok {
		t.Fatal("no work after Start")
	}
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	<-ctx.Done() // Stop cancels the running work…
	select {
	case <-stopped:
		t.Fatal("Stop returned while work was running")
	default:
	}
	w.Done()
	<-stopped // …and waits for it
	if _, ok := w.Begin(); ok {
		t.Fatal("work began after Stop")
	}
	w.Stop() // twice is fine
	w.Start(context.Background())
	if _, ok := w.Begin(); !ok {
		t.Fatal("no work after a second Start")
	}
	w.Done()
	w.Stop()
}
