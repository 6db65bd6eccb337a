package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ServerConfig is the part of a nats-server configuration that makes a
// server (or every member of a cluster) trust this issuer: the operator,
// the system account, a full account resolver storing its JWTs in
// resolverDir (each server its own directory), and the accounts preloaded.
// `pulse broker --auth FILE` and a plain nats-server (`include FILE`) read
// the same text through nats-server's own parser.
//
// A full resolver is what lets a running cluster take a new account JWT —
// a revocation — pushed by PushAccount: the servers store it and pass it on
// to each other, and close the connections it revokes.
func (is *Issuer) ServerConfig(resolverDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pulse: trust for collective %q, from `pulse keys server-config`.\n", is.Collective)
	fmt.Fprintf(&b, "# Only public keys and JWTs: no secret is in this file.\n")
	fmt.Fprintf(&b, "operator: %s\n", is.operatorJWT)
	fmt.Fprintf(&b, "system_account: %s\n", is.systemPub)
	fmt.Fprintf(&b, "resolver: {\n  type: full\n  dir: %s\n  allow_delete: false\n  interval: \"2m\"\n}\n", strconv.Quote(resolverDir))
	fmt.Fprintf(&b, "resolver_preload: {\n  # %s\n  %s: %s\n  # %s\n  %s: %s\n}\n",
		systemName, is.systemPub, is.systemJWT, is.Collective, is.accountPub, is.accountJWT)
	return b.String()
}

// PushResult is one server's answer to an account update.
type PushResult struct {
	Server  string
	OK      bool
	Message string
}

// claimsUpdateSubject is where servers with a full resolver take new account
// JWTs (nats-server's $SYS.REQ.CLAIMS.UPDATE).
const claimsUpdateSubject = "$SYS.REQ.CLAIMS.UPDATE"

// PushAccount gives the account JWT to a running cluster over nc, which
// must be logged in as the system account's user (SystemCreds). Every
// server that stores account JWTs answers; it collects answers for wait
// and returns them. No answer at all is an error.
func PushAccount(nc *nats.Conn, accountJWT string, wait time.Duration) ([]PushResult, error) {
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("subscribe for answers: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(claimsUpdateSubject, inbox, []byte(accountJWT)); err != nil {
		return nil, fmt.Errorf("push account: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("push account: %w", err)
	}
	var out []PushResult
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m := <-ch:
			var r struct {
				Server struct {
					Name string `json:"name"`
				} `json:"server"`
				Data *struct {
					Message string `json:"message"`
				} `json:"data"`
				Error *struct {
					Description string `json:"description"`
				} `json:"error"`
			}
			if err := json.Unmarshal(m.Data, &r); err != nil {
				out = append(out, PushResult{Message: "unreadable answer: " + err.Error()})
				continue
			}
			pr := PushResult{Server: r.Server.Name, OK: r.Error == nil}
			switch {
			case r.Error != nil:
				pr.Message = r.Error.Description
			case r.Data != nil:
				pr.Message = r.Data.Message
			}
			out = append(out, pr)
		case <-timer.C:
			if len(out) == 0 {
				return nil, errors.New("no server answered the account update: are the servers configured with `pulse keys server-config` (a full resolver), and is this the system account's user?")
			}
			return out, nil
		}
	}
}
