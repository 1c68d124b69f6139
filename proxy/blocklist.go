package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/proxy/clientip"
	"github.com/edgeguard/edgeguard/proxy/config"
)

// The dynamic blocklist is one per process: it outlives config reloads,
// applies to every route before routing, and is persisted in data_dir. The
// abuse detector is rebuilt with each config (its scores start afresh).

func (g *Gateway) openBlocklist(cfg *config.Config) error {
	l, err := blocklist.Open(blocklist.Options{Dir: cfg.DataDir, MaxEntries: cfg.Blocklist.MaxEntries,
		Metrics: g.metrics.set, Logger: g.log})
	var ce *blocklist.CorruptError
	if errors.As(err, &ce) {
		g.log.Warn("blocklist file is corrupt; starting with what could be read", "err", err)
	} else if err != nil {
		return fmt.Errorf("cannot open the blocklist in %s: %w", cfg.DataDir, err)
	}
	l.OnChange(func(c blocklist.Change) {
		if c.Op == blocklist.Expired && g.audit != nil {
			g.audit.Write(&AuditEntry{Time: time.Now().UTC(), Who: "blocklist", Method: "EXPIRE", Path: "/blocklist/" + c.Entry.Prefix.String(),
				Status: 200, Result: "expired", Detail: c.Entry.Reason})
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	g.stopBlocklist = cancel
	g.blocklistDone = make(chan struct{})
	go func() { l.Run(ctx); close(g.blocklistDone) }()
	g.blocklist = l
	return nil
}

// newDetector builds the abuse detector of a config.
func (g *Gateway) newDetector(cfg *config.Config) (*blocklist.Detector, error) {
	return blocklist.NewDetector(cfg.Abuse, g.blocklist, blocklist.DetectorOptions{
		Metrics: g.metrics.set,
		OnBlock: func(b blocklist.AbuseBlock) {
			g.log.Warn("IP blocked for abuse", "ip", b.Addr.String(), "prefix", b.Entry.Prefix.String(), "score", b.Score,
				"threshold", b.Threshold, "status", b.Status, "rejected_by", b.RejectedBy, "expires_at", b.Entry.ExpiresAt)
			g.audit.Write(&AuditEntry{Time: time.Now().UTC(), Who: "abuse-detector", Method: "BLOCK", Path: "/blocklist/" + b.Entry.Prefix.String(),
				Status: 200, Result: "blocked", Detail: fmt.Sprintf("score %.0f > %.0f (last event %d from %s)", b.Score, b.Threshold, b.Status, orCore(b.RejectedBy))})
		},
	})
}

func orCore(s string) string {
	if s == "" {
		return "upstream"
	}
	return s
}

func (g *Gateway) closeBlocklist() {
	if g.stopBlocklist != nil {
		g.stopBlocklist()
		<-g.blocklistDone
	}
}

type blockRequest struct {
	IP     string `json:"ip"`
	TTL    string `json:"ttl"`
	Reason string `json:"reason"`
}

type blockView struct {
	IP        string `json:"ip"`
	Reason    string `json:"reason,omitempty"`
	Source    string `json:"source,omitempty"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at,omitempty"`
	TTL       string `json:"ttl_remaining,omitempty"`
}

func viewOf(e blocklist.Entry, now time.Time) blockView {
	v := blockView{IP: e.Prefix.String(), Reason: e.Reason, Source: e.Source, CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339)}
	if e.Prefix.IsSingleIP() {
		v.IP = e.Prefix.Addr().String()
	}
	if !e.ExpiresAt.IsZero() {
		v.ExpiresAt = e.ExpiresAt.UTC().Format(time.RFC3339)
		v.TTL = e.ExpiresAt.Sub(now).Round(time.Second).String()
	}
	return v
}

func (g *Gateway) registerBlocklistAdmin() {
	g.HandleAdmin("GET /blocklist", func(rc *fasthttp.RequestCtx, a *AuditEntry) {
		now := time.Now()
		out := []blockView{}
		for _, e := range g.blocklist.List() {
			out = append(out, viewOf(e, now))
		}
		b, _ := json.MarshalIndent(map[string]any{"entries": out, "total": len(out)}, "", "  ")
		rc.SetBody(b)
	})
	g.HandleAdmin("POST /blocklist", func(rc *fasthttp.RequestCtx, a *AuditEntry) {
		var req blockRequest
		dec := json.NewDecoder(strings.NewReader(string(rc.PostBody())))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			a.Detail = "bad JSON"
			adminError(rc, fasthttp.StatusBadRequest, "body must be JSON {\"ip\": \"203.0.113.7\" or a CIDR, \"ttl\": \"1h\", \"reason\": \"...\"}: "+err.Error())
			return
		}
		p, err := clientip.ParsePrefix(req.IP)
		if err != nil {
			adminError(rc, fasthttp.StatusBadRequest, "ip: "+err.Error())
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			if ttl, err = blocklist.ParseTTL(req.TTL); err != nil {
				adminError(rc, fasthttp.StatusBadRequest, err.Error())
				return
			}
		}
		if len(req.Reason) > blocklist.MaxTextLen {
			adminError(rc, fasthttp.StatusBadRequest, fmt.Sprintf("reason: at most %d bytes", blocklist.MaxTextLen))
			return
		}
		e, err := g.blocklist.Add(p, ttl, req.Reason, blocklist.SourceAdmin)
		if errors.Is(err, blocklist.ErrFull) {
			adminError(rc, fasthttp.StatusInsufficientStorage, err.Error())
			return
		} else if err != nil {
			adminError(rc, fasthttp.StatusBadRequest, err.Error())
			return
		}
		// 201 means the block is on disk, not only in memory.
		if err := g.blocklist.Flush(); err != nil {
			g.log.Error("blocklist: cannot save", "err", err)
		}
		a.Detail = fmt.Sprintf("blocked %s ttl=%s reason=%q", e.Prefix, req.TTL, req.Reason)
		rc.SetStatusCode(fasthttp.StatusCreated)
		b, _ := json.MarshalIndent(viewOf(e, time.Now()), "", "  ")
		rc.SetBody(b)
	})
	g.HandleAdmin("DELETE /blocklist/", func(rc *fasthttp.RequestCtx, a *AuditEntry) {
		raw := strings.TrimPrefix(string(rc.Path()), "/blocklist/")
		// A CIDR's slash may come encoded (%2F) or as a path segment.
		raw = strings.ReplaceAll(raw, "%2F", "/")
		raw = strings.ReplaceAll(raw, "%2f", "/")
		p, err := clientip.ParsePrefix(raw)
		if err != nil {
			adminError(rc, fasthttp.StatusBadRequest, err.Error())
			return
		}
		e, ok := g.blocklist.Remove(p)
		if !ok {
			adminError(rc, fasthttp.StatusNotFound, "not in the blocklist: "+p.String())
			return
		}
		if err := g.blocklist.Flush(); err != nil {
			g.log.Error("blocklist: cannot save", "err", err)
		}
		a.Detail = "unblocked " + e.Prefix.String()
		b, _ := json.MarshalIndent(viewOf(e, time.Now()), "", "  ")
		rc.SetBody(b)
	})
}
