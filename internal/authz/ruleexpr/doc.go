// Package ruleexpr is the CEL environment of mcpgate policy rules: the variables a rule can
// use (user, client, mcp, request), their types, and the compiler that type-checks a rule
// and explains what is wrong with it.
//
// It is a leaf package so that internal/config can type-check rules while the file loads
// (without importing the policy engine), and internal/authz can compile the same
// expressions into programs.
package ruleexpr
