package entraemulator

// sweepLocked drops expired codes, refresh tokens, device codes and login contexts so that
// a long-running emulator does not grow without bound. Callers hold em.mu; it runs on
// every 64th insertion.
func (em *Emulator) sweepLocked() {
	em.inserts++
	if em.inserts%64 != 0 {
		return
	}
	now := em.now()
	for k, v := range em.codes {
		if now.After(v.expires) {
			delete(em.codes, k)
		}
	}
	for k, v := range em.refresh {
		if now.After(v.expires) {
			delete(em.refresh, k)
		}
	}
	for k, v := range em.devices {
		if now.After(v.expires) {
			delete(em.devices, k)
		}
	}
	for k, v := range em.sessions {
		if now.After(v.expires) {
			delete(em.sessions, k)
		}
	}
	for k, v := range em.pending {
		if now.After(v.expires) {
			delete(em.pending, k)
		}
	}
}
