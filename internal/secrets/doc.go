// Package secrets seals small secrets at rest (upstream access and refresh tokens, client
// secrets) with AES-256-GCM under a key id, so that keys can rotate: new values are sealed
// with the primary key, and values sealed with any older key that is still configured keep
// opening.
//
// A sealed value is the text "v1.<key id>.<base64url(nonce || ciphertext || tag)>". The key id
// is in the clear (it is not secret); the nonce is random (96 bits) per seal. Callers pass
// additional authenticated data (for example "connection|<subject>|<provider>") so that a
// sealed value copied to another row does not open there.
//
// Keys come from the environment or a file as "id:base64key" entries (32 bytes after base64
// decoding), separated by commas or newlines; the first entry is the primary key unless one
// is named explicitly. See ParseKeys, KeyringFromEnv and KeyringFromFile.
package secrets
