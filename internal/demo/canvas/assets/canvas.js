// The canvas page of mcpgate's web-canvas demo. It follows Microsoft's "Configure single
// sign-on with Microsoft Entra ID" custom-canvas sample: MSAL signs the user in, and a Web
// Chat store middleware intercepts the agent's OAuth card, gets a token for the card's
// tokenExchangeResource.uri silently and posts it back as a signin/tokenExchange invoke —
// showing the card only when that fails. The sample's MSAL 1 calls (UserAgentApplication,
// getAccount) are MSAL 2+'s here (PublicClientApplication, getActiveAccount).
// window.WebChat is Bot Framework Web Chat's UMD bundle when the demo serves it
// (mcpgate demo --webchat-dir), else a minimal stand-in with the same createStore /
// renderWebChat surface (the page says so). The DirectLine object is a custom one with
// DirectLineJS's interface, talking to the agent inside mcpgate.
"use strict";
var CFG = JSON.parse(document.getElementById("canvas-config").textContent);
var clientApplication;

// ---- MSAL configuration (the sample's <head> script) ----
function initMsal() {
  var msalConfig = {
    auth: {
      clientId: CFG.clientId, // the canvas app registration
      authority: CFG.authority, // https://login.microsoftonline.com/<Directory ID> in production
      knownAuthorities: CFG.knownAuthorities, // the emulator's host: no instance discovery at Microsoft
      redirectUri: CFG.redirectUri,
    },
    cache: { cacheLocation: "localStorage" },
  };
  clientApplication = new msal.PublicClientApplication(msalConfig);
  return clientApplication.initialize().then(function () {
    return clientApplication.handleRedirectPromise();
  }).then(function (r) {
    var account = (r && r.account) || clientApplication.getAllAccounts()[0];
    if (account) clientApplication.setActiveAccount(account);
    showAccount();
    if (!account && location.search.indexOf("signin=1") >= 0) signIn(); // the OAuth card's button
  });
}

function signIn() {
  var scopes = location.search.indexOf("signin=1") >= 0 ? [CFG.agentScope] : ["User.Read"];
  return clientApplication.loginRedirect({ scopes: scopes, redirectStartPage: CFG.redirectUri.replace(/redirect\.html$/, "") });
}

function showAccount() {
  var a = clientApplication.getActiveAccount();
  document.getElementById("who").textContent = a ? "Signed in as " + a.username : "not signed in";
  document.getElementById("signin").style.display = a ? "none" : "";
}

// ---- The sample's helper functions ----
function getOAuthCardResourceUri(activity) {
  if (activity &&
    activity.attachments &&
    activity.attachments[0] &&
    activity.attachments[0].contentType === "application/vnd.microsoft.card.oauth" &&
    activity.attachments[0].content.tokenExchangeResource) {
    // asking for token exchange with Microsoft Entra ID
    return activity.attachments[0].content.tokenExchangeResource.uri;
  }
}

function exchangeTokenAsync(resourceUri) {
  var user = clientApplication.getActiveAccount();
  if (user) {
    var requestObj = { scopes: [resourceUri], account: user };
    return clientApplication.acquireTokenSilent(requestObj)
      .then(function (tokenResponse) {
        return tokenResponse.accessToken;
      })
      .catch(function (error) {
        console.log(error);
      });
  }
  return Promise.resolve(null);
}

// ---- A minimal Observable and a Direct-Line-compatible connection ----
function Observable(subscribeFn) { this._subscribe = subscribeFn; }
Observable.prototype.subscribe = function (next, error, complete) {
  var o = typeof next === "function" || next == null ? { next: next, error: error, complete: complete } : next;
  var closed = false;
  var teardown = this._subscribe({
    next: function (v) { if (!closed && o.next) o.next(v); },
    error: function (e) { if (!closed) { closed = true; if (o.error) o.error(e); } },
    complete: function () { if (!closed) { closed = true; if (o.complete) o.complete(); } },
  });
  return { unsubscribe: function () { closed = true; if (typeof teardown === "function") teardown(); } };
};

// CanvasDirectLine has DirectLineJS's interface (activity$, connectionStatus$, postActivity,
// end) over mcpgate's Direct-Line-compatible endpoints, with a Server-Sent Events stream.
function CanvasDirectLine(opts) {
  var self = this;
  this.domain = opts.domain;
  this.status = 0; // Uninitialized
  this.statusObservers = [];
  this.activityObservers = [];
  this.connectionStatus$ = new Observable(function (o) {
    self.statusObservers.push(o); o.next(self.status);
    return function () { self.statusObservers = self.statusObservers.filter(function (x) { return x !== o; }); };
  });
  this.activity$ = new Observable(function (o) {
    self.activityObservers.push(o);
    return function () { self.activityObservers = self.activityObservers.filter(function (x) { return x !== o; }); };
  });
  this.ready = this._start();
}
CanvasDirectLine.prototype._setStatus = function (s) { this.status = s; this.statusObservers.forEach(function (o) { o.next(s); }); };
CanvasDirectLine.prototype._start = function () {
  var self = this;
  this._setStatus(1); // Connecting
  return fetch(this.domain + "/conversations", { method: "POST" }).then(function (r) { return r.json(); }).then(function (c) {
    self.conversationId = c.conversationId; self.token = c.token;
    var es = new EventSource(self.domain + "/conversations/" + c.conversationId + "/stream?t=" + encodeURIComponent(c.token));
    self.es = es;
    return new Promise(function (resolve) {
      es.onopen = function () { self._setStatus(2); resolve(); }; // Online
      es.onmessage = function (e) {
        var set = JSON.parse(e.data);
        set.activities.forEach(function (a) { self.activityObservers.forEach(function (o) { o.next(a); }); });
      };
    });
  });
};
CanvasDirectLine.prototype.postActivity = function (activity) {
  var self = this;
  return new Observable(function (o) {
    self.ready.then(function () {
      return fetch(self.domain + "/conversations/" + self.conversationId + "/activities", {
        method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + self.token }, body: JSON.stringify(activity),
      });
    }).then(function (r) {
      if (r.ok) return r.json().then(function (b) { o.next(b.id); o.complete(); });
      // As DirectLineJS: a 5xx becomes "retry", a 4xx an error.
      if (r.status >= 500) { o.next("retry"); o.complete(); return; }
      return r.text().then(function (t) { var e = new Error("postActivity: " + r.status + " " + t); e.status = r.status; o.error(e); });
    }).catch(function (e) { o.error(e); });
  });
};
CanvasDirectLine.prototype.end = function () { if (this.es) this.es.close(); this._setStatus(5); };

// ---- A minimal stand-in for Web Chat, used when the real bundle is not served:
// createStore (redux-style middleware) + rendering ----
var StandInWebChat = {
  createStore: function (initialState, middleware) {
    var store = {};
    var base = function (action) { store.reduce(action); return action; };
    var dispatch = function (action) { return chain(action); };
    var chain = middleware({ dispatch: dispatch, getState: function () { return {}; } })(base);
    store.dispatch = dispatch;
    store.reduce = function () {};
    return store;
  },
  renderWebChat: function (props, el) {
    var dl = props.directLine, store = props.store;
    var list = el.querySelector("#transcript");
    store.reduce = function (action) {
      if (action.type === "DIRECT_LINE/INCOMING_ACTIVITY") render(action.payload.activity);
      if (action.type === "WEB_CHAT/SEND_EVENT") dl.postActivity({ type: "event", name: action.payload.name, value: action.payload.value, from: { id: props.userID, role: "user" } }).subscribe(function () {});
      if (action.type === "WEB_CHAT/SEND_MESSAGE") dl.postActivity({ type: "message", text: action.payload.text, from: { id: props.userID, role: "user" } }).subscribe(function () {});
    };
    function render(a) {
      if (a.type !== "message") return;
      var li = document.createElement("li");
      li.className = a.from && a.from.role === "user" ? "user" : "bot";
      var card = a.attachments && a.attachments[0];
      if (card && card.contentType === "application/vnd.microsoft.card.oauth") {
        var div = document.createElement("div");
        div.className = "oauth-card";
        div.setAttribute("role", "group");
        div.textContent = card.content.text || "Sign in";
        (card.content.buttons || []).forEach(function (b) {
          var btn = document.createElement("button");
          btn.textContent = b.title; btn.type = "button";
          btn.onclick = function () { location.href = b.value; };
          div.appendChild(document.createElement("br")); div.appendChild(btn);
        });
        li.appendChild(div);
      } else {
        var span = document.createElement("div");
        span.className = "bubble"; span.textContent = a.text || "";
        li.appendChild(span);
      }
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }
    dl.connectionStatus$.subscribe(function (s) { if (s === 2) store.dispatch({ type: "DIRECT_LINE/CONNECT_FULFILLED" }); });
    dl.activity$.subscribe(function (activity) { store.dispatch({ type: "DIRECT_LINE/INCOMING_ACTIVITY", payload: { activity: activity } }); });
    el.querySelector("#sendbox").addEventListener("submit", function (e) {
      e.preventDefault();
      var input = el.querySelector("#input");
      if (input.value.trim()) store.dispatch({ type: "WEB_CHAT/SEND_MESSAGE", payload: { text: input.value } });
      input.value = "";
    });
  },
};
if (!(window.WebChat && window.WebChat.renderWebChat)) window.WebChat = StandInWebChat;

// ---- The sample's main(): the store middleware ----
async function main() {
  await initMsal();
  document.getElementById("signin").onclick = signIn;
  // The sample: window.WebChat.createDirectLine({ token }) — Direct Line at Microsoft. Here a
  // Direct-Line-compatible connection to the agent inside mcpgate.
  const directLine = new CanvasDirectLine({ domain: CFG.directLine });
  var account = clientApplication.getActiveAccount();
  var userID = account != null ?
    ("canvas-" + account.homeAccountId).substr(0, 64) :
    (Math.random().toString() + Date.now().toString()).substr(0, 64);
  const store = window.WebChat.createStore({}, ({ dispatch }) => next => action => {
    if (action.type === "DIRECT_LINE/CONNECT_FULFILLED") {
      dispatch({ type: "WEB_CHAT/SEND_EVENT", payload: { name: "startConversation", type: "event", value: { text: "hello" } } });
      return next(action);
    }
    if (action.type === "DIRECT_LINE/INCOMING_ACTIVITY") {
      const activity = action.payload.activity;
      let resourceUri;
      if (activity.from && activity.from.role === "bot" &&
        (resourceUri = getOAuthCardResourceUri(activity))) {
        exchangeTokenAsync(resourceUri).then(function (token) {
          if (token) {
            var acct = clientApplication.getActiveAccount();
            directLine.postActivity({
              type: "invoke",
              name: "signin/tokenExchange",
              value: {
                id: activity.attachments[0].content.tokenExchangeResource.id,
                connectionName: activity.attachments[0].content.connectionName,
                token,
              },
              from: { id: userID, name: acct && acct.name, role: "user" },
            }).subscribe(
              id => {
                if (id === "retry") {
                  // the agent was not able to handle the invoke, so display the oauthCard
                  return next(action);
                }
                // else: token exchange successful and we do not display the oauthCard
              },
              error => {
                // an error occurred: display the oauthCard
                return next(action);
              });
            return;
          } else
            return next(action);
        });
      } else
        return next(action);
    } else
      return next(action);
  });
  window.WebChat.renderWebChat({ directLine: directLine, store, userID: userID, styleOptions: { hideUploadButton: true } },
    document.getElementById("webchat"));
}
main().catch(err => console.error("An error occurred: " + err));
