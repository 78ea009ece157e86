package config

import "fmt"

// resolveTokens reads each [[daemon.token]]'s secret.
func (l *loader) resolveTokens(d *Daemon) {
	for i := range d.Tokens {
		tk := &d.Tokens[i]
		tk.Value = l.secret(fmt.Sprintf("daemon.token[%d]", i), "token", tk.TokenEnv, tk.TokenFile)
	}
}

// validateTokens: every token has a unique name, a scope and a value, and
// no two tokens share a value (the name of the one presented is the actor).
func (l *loader) validateTokens(d *Daemon) {
	names := map[string]string{}
	values := map[string]string{}
	if d.AdminToken.IsSet() {
		names[AdminTokenName] = "daemon.admin_token"
		values[d.AdminToken.Value()] = "daemon.admin_token"
	}
	for i, tk := range d.Tokens {
		p := fmt.Sprintf("daemon.token[%d]", i)
		l.name(p+".name", tk.Name)
		if prev, dup := names[tk.Name]; dup && tk.Name != "" {
			l.add(p+".name", "duplicate token name %q (also %s)", tk.Name, prev)
		}
		names[tk.Name] = p
		switch tk.Scope {
		case ScopeReader, ScopeDeployer, ScopeOperator:
		default:
			l.add(p+".scope", "must be reader, deployer or operator (got %q)", tk.Scope)
		}
		if tk.TokenEnv == "" && tk.TokenFile == "" {
			l.add(p, "needs token_env or token_file")
		}
		if !tk.Value.IsSet() {
			continue
		}
		if len(tk.Value.Value()) < 16 {
			l.add(p, "the token is shorter than 16 characters: use a random one (openssl rand -hex 32)")
		}
		if prev, dup := values[tk.Value.Value()]; dup {
			l.add(p, "has the same value as %s: each token must be distinct, its name is the actor", prev)
		}
		values[tk.Value.Value()] = p
	}
}
