// Package canvas is the web-canvas scenario of `mcpgate demo` (served at /canvas/): a page
// where the user signs in once with the real MSAL.js (@azure/msal-browser, embedded from
// assets/) against the Entra ID emulator, and a chat with a small demo agent over a
// Direct-Line-compatible connection — Bot Framework Web Chat when Options.WebChatDir points
// at its bundle (not embedded: about 4 MB), else a stand-in with Web Chat's surface. When the agent needs the user it sends an OAuth card
// with a tokenExchangeResource; the page's store middleware intercepts the card, gets a
// token for the agent's scope silently (acquireTokenSilent) and posts it back as a
// signin/tokenExchange invoke; the agent exchanges it On-Behalf-Of the user at the emulator
// and calls an MCP tool through mcpgate's gateway as the user. Only when that fails does
// the page show the card. docs/scenarios.md walks through it.
package canvas
