package client

// maxResponseBytes bounds every OAuth JSON document read from a server (metadata, token,
// device authorization and registration responses): each is a few kilobytes; jsonlimit's
// default depth and value caps apply too. A larger answer is an error, not truncated.
const maxResponseBytes = 1 << 20

// maxMCPResponseBytes bounds one MCP response relayed by the stdio bridge.
const maxMCPResponseBytes = 64 << 20
