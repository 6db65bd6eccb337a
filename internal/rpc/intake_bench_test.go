package rpc

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/ratelog"
	"github.com/pulseops/pulse/internal/security"
)

// BenchmarkReplyIntake is the client's own work for one reply, alone: the
// message handed to the decode workers, to the reply ready for the caller.
// "subject" is how a client believes a reply now, open bus or secured (the
// node is the one its subject names, which a secured broker lets only that
// node publish on: the same code either way); "signature" is how it did
// before the broker authenticated replies, verifying each against the
// node's pinned key. ns/op is per reply.
func BenchmarkReplyIntake(b *testing.B) {
	const n = 1000
	subj := protocol.Subjects{Collective: "pulse"}
	req := &protocol.Request{ID: "0123456789abcdef0123456789abcdef", Caller: "user=alice"}
	for _, signed := range []bool{false, true} {
		name := "subject"
		if signed {
			name = "signature"
		}
		b.Run(name, func(b *testing.B) {
			keys := map[string]string{}
			msgs := make([]*nats.Msg, n)
			for i := range msgs {
				id := fmt.Sprintf("node-%05d", i)
				var s *protocol.Signer
				if signed {
					s, _ = protocol.GenerateSigner()
					keys[id] = s.PublicKey()
				}
				data, err := protocol.EncodeReply(&protocol.Reply{RequestID: req.ID, Identity: id, Time: time.Now().UTC(),
					ReplyBody: protocol.ReplyBody{Agent: "rpcutil", Action: "ping", StatusMsg: "OK", Data: []byte(`{"pong":1764500000}`)}}, s)
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = &nats.Msg{Subject: subj.Reply(req.Caller, req.ID, id), Data: data}
			}
			log := slog.New(slog.DiscardHandler)
			c := &Client{opts: Options{Logger: log}, log: log, bad: ratelog.New(log, time.Minute)}
			if signed {
				nk, err := security.NewNodeKeys(keys, false)
				if err != nil {
					b.Fatal(err)
				}
				c.opts.VerifyReply = nk.Verify
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				col := &collector{c: c, req: req, raw: make(chan *nats.Msg, n), ch: make(chan *Reply, n), done: make(chan struct{}), seen: map[string]bool{}}
				for range runtime.GOMAXPROCS(0) {
					col.wg.Add(1)
					go col.decode()
				}
				for _, m := range msgs {
					col.raw <- m
				}
				for range n {
					<-col.ch
				}
				close(col.done)
				col.wg.Wait()
			}
		})
	}
}
