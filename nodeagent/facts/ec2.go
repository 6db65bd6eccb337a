package facts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// EC2 defaults.
const (
	DefaultEC2BaseURL    = "http://169.254.169.254"
	DefaultEC2Timeout    = time.Second
	DefaultEC2RetryAfter = 10 * time.Minute
	ec2TokenTTL          = 6 * time.Hour
)

// EC2Options configure the EC2 source. Zero values take the defaults.
type EC2Options struct {
	// BaseURL of the instance metadata service; other clouds and tests
	// serve the same API elsewhere.
	BaseURL string
	// Timeout bounds one whole Gather, token and every path included.
	Timeout time.Duration
	// RetryAfter is how long the source stays off after a failure.
	RetryAfter time.Duration
	// Client makes the requests. The default never uses a proxy: metadata
	// is link-local and a proxy would answer for the wrong machine.
	Client *http.Client
}

// EC2 reads instance metadata over IMDSv2 (a session token from PUT
// /latest/api/token sent on every GET), falling back to IMDSv1 when the
// token PUT is refused with 403, 404 or 405.
//
// Off EC2 the endpoint does not answer. After a failed Gather the source
// returns an error at once, without network traffic, until RetryAfter has
// passed, so an agent on bare metal pays the timeout once per RetryAfter and
// not on every refresh. A successful Gather clears the back-off.
type EC2 struct {
	base       string
	timeout    time.Duration
	retryAfter time.Duration
	client     *http.Client
	now        func() time.Time // tests move time without sleeping

	mu          sync.Mutex // guards the fields below
	token       string
	tokenExpiry time.Time
	imdsV1      bool
	offUntil    time.Time
	lastErr     error
}

// NewEC2 returns an EC2 metadata source.
func NewEC2(opts EC2Options) *EC2 {
	e := &EC2{
		base:       strings.TrimRight(opts.BaseURL, "/"),
		timeout:    opts.Timeout,
		retryAfter: opts.RetryAfter,
		client:     opts.Client,
		now:        time.Now,
	}
	if e.base == "" {
		e.base = DefaultEC2BaseURL
	}
	if e.timeout <= 0 {
		e.timeout = DefaultEC2Timeout
	}
	if e.retryAfter <= 0 {
		e.retryAfter = DefaultEC2RetryAfter
	}
	if e.client == nil {
		e.client = &http.Client{Transport: &http.Transport{
			Proxy:       nil,
			DialContext: (&net.Dialer{}).DialContext,
		}}
	}
	return e
}

// Name is "ec2".
func (e *EC2) Name() string { return "ec2" }

// ec2Paths maps metadata paths to facts, with facter's names. instance-id
// is required: without it this is not an instance. The others are left out
// when the service answers 404 (public-ipv4 on a private instance,
// kernel-id on HVM, placement/region on old metadata versions).
func ec2Paths() []struct{ path, fact string } {
	return []struct{ path, fact string }{
		{"instance-id", "ec2_instance_id"},
		{"instance-type", "ec2_instance_type"},
		{"ami-id", "ec2_ami_id"},
		{"ami-launch-index", "ec2_ami_launch_index"},
		{"ami-manifest-path", "ec2_ami_manifest_path"},
		{"block-device-mapping/ami", "ec2_block_device_mapping_ami"},
		{"block-device-mapping/root", "ec2_block_device_mapping_root"},
		{"block-device-mapping/ephemeral0", "ec2_block_device_mapping_ephemeral0"},
		{"kernel-id", "ec2_kernel_id"},
		{"profile", "ec2_profile"},
		{"reservation-id", "ec2_reservation_id"},
		{"security-groups", "ec2_security_groups"},
		{"placement/availability-zone", "ec2_placement_availability_zone"},
		{"placement/region", "ec2_placement_region"},
		{"hostname", "ec2_hostname"},
		{"local-hostname", "ec2_local_hostname"},
		{"local-ipv4", "ec2_local_ipv4"},
		{"mac", "ec2_mac"},
		{"public-hostname", "ec2_public_hostname"},
		{"public-ipv4", "ec2_public_ipv4"},
		{"public-keys/0/openssh-key", "ec2_public_keys_0_openssh_key"},
	}
}

// errNotFound marks a metadata path the service does not have.
var errNotFound = errors.New("not found")

// Gather reads the metadata facts, or fails fast while backing off.
func (e *EC2) Gather(ctx context.Context) (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock() // one gather at a time; they share the token
	if now := e.now(); now.Before(e.offUntil) {
		return nil, fmt.Errorf("ec2 metadata at %s is off until %s after: %w",
			e.base, e.offUntil.Format(time.RFC3339), e.lastErr)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	f, err := e.gather(ctx)
	if err != nil {
		e.offUntil = e.now().Add(e.retryAfter)
		e.lastErr = err
		return nil, fmt.Errorf("ec2 metadata at %s (retrying after %s): %w", e.base, e.retryAfter, err)
	}
	e.offUntil, e.lastErr = time.Time{}, nil
	return f, nil
}

// gather does the requests; e.mu must be held.
func (e *EC2) gather(ctx context.Context) (map[string]any, error) {
	// Take the token first so a refused PUT is reported as such, not as
	// the failure of whichever path came first.
	if _, err := e.sessionToken(ctx); err != nil {
		return nil, err
	}
	f := map[string]any{}
	for _, p := range ec2Paths() {
		v, err := e.get(ctx, p.path)
		switch {
		case errors.Is(err, errNotFound) && p.fact != "ec2_instance_id":
			continue
		case err != nil:
			return nil, fmt.Errorf("get %s: %w", p.path, err)
		}
		if p.fact == "ec2_security_groups" {
			// One group per line; facter joins them with commas.
			v = strings.Join(strings.Fields(v), ",")
		}
		f[p.fact] = v
	}
	// Old metadata versions lack placement/region; the zone names it.
	if _, ok := f["ec2_placement_region"]; !ok {
		if az, ok := f["ec2_placement_availability_zone"].(string); ok && len(az) > 1 {
			f["ec2_placement_region"] = strings.TrimRight(az, "abcdefghijklmnopqrstuvwxyz")
		}
	}
	return f, nil
}

// get fetches one meta-data path with the session token, fetching a new
// token once if the service says the current one has expired (401).
// e.mu must be held.
func (e *EC2) get(ctx context.Context, path string) (string, error) {
	for attempt := 0; ; attempt++ {
		tok, err := e.sessionToken(ctx)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/latest/meta-data/"+path, nil)
		if err != nil {
			return "", err
		}
		if tok != "" {
			req.Header.Set("X-aws-ec2-metadata-token", tok)
		}
		status, body, err := e.do(req)
		if err != nil {
			return "", err
		}
		switch {
		case status == http.StatusOK:
			return strings.TrimSpace(body), nil
		case status == http.StatusNotFound:
			return "", errNotFound
		case status == http.StatusUnauthorized && attempt == 0:
			e.token, e.imdsV1 = "", false
			continue
		default:
			return "", fmt.Errorf("HTTP %d: %s", status, truncate(strings.TrimSpace(body), 100))
		}
	}
}

// sessionToken returns a cached or new IMDSv2 token, or "" once the service
// has shown it only speaks IMDSv1. e.mu must be held.
func (e *EC2) sessionToken(ctx context.Context) (string, error) {
	if e.imdsV1 {
		return "", nil
	}
	if e.token != "" && e.now().Before(e.tokenExpiry) {
		return e.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.base+"/latest/api/token", nil)
	if err != nil {
		return "", fmt.Errorf("token request for %s: %w", e.base, err)
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", fmt.Sprint(int(ec2TokenTTL.Seconds())))
	status, body, err := e.do(req)
	if err != nil {
		return "", fmt.Errorf("put token: %w", err)
	}
	switch status {
	case http.StatusOK:
		e.token = strings.TrimSpace(body)
		// Renew a minute early so a token never expires mid-gather.
		e.tokenExpiry = e.now().Add(ec2TokenTTL - time.Minute)
		return e.token, nil
	case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		e.imdsV1 = true
		return "", nil
	default:
		return "", fmt.Errorf("put token: HTTP %d: %s", status, truncate(strings.TrimSpace(body), 100))
	}
}

func (e *EC2) do(req *http.Request) (int, string, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", fmt.Errorf("read %s %s: %w", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(b), nil
}
