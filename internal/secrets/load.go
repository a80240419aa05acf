package secrets

// Source says where the keys that seal stored tokens come from: File, else the
// environment variable Env. Defaults (the name of the variable) are the caller's to fill
// in; internal/app maps upstreamCredentials.secrets onto it.
type Source struct {
	// File holds id:base64key entries, one per line (mode 0600). Takes precedence over Env.
	File string
	// Env names the environment variable holding the entries.
	Env string
	// Primary names the key new values are sealed with ("" = the first).
	Primary string
}

// Load opens the keyring src names: KeyringFromFile when File is set, else
// KeyringFromEnv. It is the one place mcpgate loads the keys that seal stored tokens
// (connections, federated sign-ins, the shared exchanged-token cache).
func Load(src Source) (*Keyring, error) {
	if src.File != "" {
		return KeyringFromFile(src.File, src.Primary)
	}
	return KeyringFromEnv(src.Env, src.Primary)
}
