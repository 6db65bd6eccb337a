package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
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

// Push gives the issuer's account (its revocations) to a running cluster
// over nc, which must be logged in as the system account's user, and then
// a second time, signed anew. The second time closes a race in nats-server
// (2.15): a server checks a login against the revocations before it adds
// the connection to the account, and an update checks the connections the
// account has. A revoked connection that the update dropped elsewhere and
// that reconnects to a member just as it applies the same update can pass
// the check before the revocation and join after the update looked: it
// stays, until the next update. Once every member answered the first
// round, each refuses the revoked login, and the second, newer account
// makes each look again at the connections it has. It returns the second
// round's answers (TestRevocationReachesEveryMember).
func (is *Issuer) Push(nc *nats.Conn, wait time.Duration) ([]PushResult, error) {
	first, err := PushAccount(nc, is.accountJWT, wait)
	if err != nil {
		return nil, err
	}
	for _, r := range first {
		if !r.OK {
			return first, nil
		}
	}
	// Servers take an account only when it was signed later than the one
	// they have, in whole seconds.
	if ac, err := jwt.DecodeAccountClaims(is.accountJWT); err == nil {
		time.Sleep(time.Until(time.Unix(ac.IssuedAt+1, 0)))
	}
	if err := is.resign(); err != nil {
		return first, err
	}
	return PushAccount(nc, is.accountJWT, wait)
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
