package config

// The sections below belong to later subsystems; each is filled in, defaulted and
// validated in its own file as the subsystem lands.
