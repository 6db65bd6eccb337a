//go:build !agentonly

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/hub"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestFormatEvent(t *testing.T) {
	at := time.Date(2025, 6, 1, 9, 12, 1, 0, time.Local)
	tests := []struct {
		e    protocol.Event
		want string
	}{
		{protocol.Event{Type: protocol.EventCheckState, Time: at, Identity: "ip-10-0-1-12", Check: "check_nginx", Status: 2, Previous: 0,
			Message: "check_nginx on ip-10-0-1-12 changed from OK to CRITICAL: NGINX CRITICAL - nginx is not running"},
			"09:12:01 ip-10-0-1-12 check_nginx OK → CRITICAL  NGINX CRITICAL - nginx is not running"},
		{protocol.Event{Type: protocol.EventCheckState, Time: at, Identity: "n1", Check: "c", Status: 3, Previous: 1, Message: "other words"},
			"09:12:01 n1 c WARNING → UNKNOWN  other words"},
		{protocol.Event{Type: protocol.EventNodeDown, Time: at, Identity: "n1", Message: "n1 is down"}, "09:12:01 n1 node_down  n1 is down"},
		{protocol.Event{Type: protocol.EventAction, Time: at, Message: "action a1 service#stop started"}, "09:12:01 action  action a1 service#stop started"},
		{protocol.Event{Type: protocol.EventRemediation, Time: at, Identity: "n2", Message: "restarted"}, "09:12:01 n2 remediation  restarted"},
		{protocol.Event{Type: protocol.EventChange, Time: at, Identity: "n2", Message: "package install shop 1.0.0 → 1.1.0 on n2 by user=alice (rollout 5f1c2a): ok"},
			"09:12:01 n2 change  package install shop 1.0.0 → 1.1.0 on n2 by user=alice (rollout 5f1c2a): ok"},
		{protocol.Event{Type: protocol.EventRollout, Time: at, Message: "rollout 5f1c2a of shop 1.1.0 rolled_back: probes failed on n2: …"},
			"09:12:01 rollout  rollout 5f1c2a of shop 1.1.0 rolled_back: probes failed on n2: …"},
	}
	for _, tt := range tests {
		if got := formatEvent(tt.e); got != tt.want {
			t.Errorf("formatEvent\n got %q\nwant %q", got, tt.want)
		}
	}
}

func TestWatchAgainstHub(t *testing.T) {
	h := hub.New(hub.Options{Token: "tok"})
	hctx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(hctx) }()
	defer func() {
		stopHub()
		<-hubDone
	}()
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/events", h.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A wrong token is final, and says what to do.
	f := &watchFlags{collector: srv.URL}
	u, err := f.url()
	if err != nil {
		t.Fatal(err)
	}
	err = watch(context.Background(), u, "nope", false, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "PULSE_TOKEN") {
		t.Fatalf("wrong token: %v", err)
	}

	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		out, errw := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
		done := make(chan error, 1)
		go func() { done <- watch(ctx, u, "tok", asJSON, out, errw) }()
		deadline := time.Now().Add(10 * time.Second)
		for h.Stats().Clients != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("watch never connected: %s", errw.String())
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
		h.Publish(protocol.Event{Type: protocol.EventNodeUp, Time: time.Date(2025, 6, 1, 9, 0, 0, 0, time.Local), Identity: "n1", Message: "n1 is up"})
		want := "09:00:00 n1 node_up  n1 is up\n"
		if asJSON {
			want = `"identity":"n1","message":"n1 is up"}` + "\n"
		}
		for !strings.HasSuffix(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("json=%v: output %q, want it to end with %q", asJSON, out.String(), want)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("watch after cancel: %v", err)
		}
		for h.Stats().Clients != 0 {
			if time.Now().After(deadline) {
				t.Fatal("watch did not disconnect")
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
}

func TestWatchFilterFlags(t *testing.T) {
	tests := []struct {
		f    watchFlags
		want string
	}{
		{watchFlags{collector: "http://127.0.0.1:9780"}, "ws://127.0.0.1:9780/api/v1/events"},
		{watchFlags{collector: "https://c.example/pulse/", filterFlags: filterFlags{with: []string{"role=web"}, sel: "not x"}}, "wss://c.example/pulse/api/v1/events?filter=role%3Dweb&select=not+x"},
		{watchFlags{collector: "http://h", recent: 20}, "ws://h/api/v1/events?recent=20"},
		{watchFlags{collector: "http://h", recent: -1}, "--recent -1: give a count of past events, such as --recent 20"},
		{watchFlags{collector: "127.0.0.1:9780"}, `--collector "127.0.0.1:9780" is not a URL such as http://127.0.0.1:9780`},
		{watchFlags{collector: "ftp://h"}, `--collector "ftp://h": use an http:// or https:// URL`},
		{watchFlags{collector: "http://h", filterFlags: filterFlags{with: []string{"role="}}}, `with filter "role=": expected a value after "=" at column 6, found end of input`},
	}
	for _, tt := range tests {
		got, err := tt.f.url()
		if err != nil {
			got = err.Error()
			if exitCode(err) != exitUsage {
				t.Errorf("%+v: exit %d, want 2", tt.f, exitCode(err))
			}
		}
		if got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.f, got, tt.want)
		}
	}
}
