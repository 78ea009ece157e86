package actuator

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// Describe prints the plan for a human before it acts (`canaryd rollback
// TARGET` without --yes). It never prints secrets: webhook URLs are shown
// as scheme://host/path, exec hooks by argv.
func (p Plan) Describe(w io.Writer) error {
	t := p.Target
	b := &strings.Builder{}
	fmt.Fprintf(b, "Rollback plan %s for target %s (alias %s:%s)\n", p.ID, t.Name, t.Function, t.Alias)
	if p.Observed.Version != "" {
		fmt.Fprintf(b, "  alias now: version %s%s, revision %s\n", p.Observed.Version, weights(p.Observed.Weights), p.Observed.RevisionID)
	}
	for _, s := range p.Steps {
		crit := ""
		if s.Critical && s.Kind != KindLambdaAlias {
			crit = " [critical: failure stops the plan]"
		}
		fmt.Fprintf(b, "  %d. %-22s %s%s\n", s.Index+1, s.Name, p.describeStep(s), crit)
	}
	if p.AlertOnly {
		fmt.Fprintf(b, "  NOTHING WILL CHANGE: %s\n", p.AlertReason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p Plan) describeStep(s Step) string {
	switch s.Kind {
	case KindLambdaAlias:
		if p.Observed.Version == p.Input.ToVersion && len(p.Observed.Weights) == 0 && p.Observed.Version != "" {
			return fmt.Sprintf("alias already at version %s: nothing to change", p.Input.ToVersion)
		}
		cond := "the RevisionId observed"
		if p.Input.RevisionID != "" {
			cond = "RevisionId " + p.Input.RevisionID
		}
		return fmt.Sprintf("point alias at version %s (from %s), clear routing, only if %s", p.Input.ToVersion, p.Input.FromVersion, cond)
	case KindCodeDeploy:
		rb := "with auto-rollback (CodeDeploy also shifts the alias back)"
		if !s.CodeDeploy.AutoRollbackEnabled() {
			rb = "without auto-rollback"
		}
		return fmt.Sprintf("stop deployments of %s/%s in progress, %s, so CodeDeploy does not shift the bad version back", s.CodeDeploy.Application, s.CodeDeploy.DeploymentGroup, rb)
	case KindCloudFront:
		wait := "do not wait"
		if s.CloudFront.Wait.Duration > 0 {
			wait = "wait up to " + s.CloudFront.Wait.Duration.String()
		}
		return fmt.Sprintf("invalidate %s; %s", strings.Join(s.CloudFront.Paths, " "), wait)
	case KindRedis:
		if s.Redis.FlushDB {
			return fmt.Sprintf("FLUSHDB on db %d of %s", s.Redis.Conn.DB, strings.Join(s.Redis.Conn.Addrs, ","))
		}
		return fmt.Sprintf("SCAN+UNLINK keys matching %q on %s", s.Redis.Patterns, strings.Join(s.Redis.Conn.Addrs, ","))
	case KindWebhook:
		return fmt.Sprintf("POST signed incident to %s (%d retries)", safeURL(s.Webhook.URL), s.Webhook.Retries)
	case KindExec:
		return fmt.Sprintf("run %q", s.Exec.Argv)
	case KindVerify:
		return fmt.Sprintf("watch health for %s; page if not recovered", s.Window.Duration)
	}
	return ""
}

func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func weights(m map[string]float64) string {
	if len(m) == 0 {
		return ""
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, fmt.Sprintf("%s=%g", k, m[k]))
	}
	sort.Strings(ks)
	return " (routing " + strings.Join(ks, ", ") + ")"
}
