msalRedirectBridge.broadcastResponseToMainFrame().catch(function (e) { console.error("redirect bridge:", e); });
