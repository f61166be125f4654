// comfyui-auth interceptor, inserted into ComfyUI's index.html before the frontend's scripts.
// 1. Same-origin writes (POST/PUT/PATCH/DELETE) carry the X-CSRF-Token header, copied from
//    the comfyui_auth_csrf cookie at request time. Cross-origin requests never get it.
// 2. A 401 from this server (outside /auth/) sends the person to the login page once, with
//    the current location as the return path.
// 3. ComfyUI started with --multi-user asks GET /api/users which user this browser is; the
//    server lists the signed-in user alone, and that id is stored where the frontend looks
//    for its user (Comfy.userId), so it opens straight into that user's workspace, never
//    a user-selection screen. No credential is ever written to localStorage or
//    sessionStorage: the session lives in an HttpOnly cookie the page cannot read.
(function () {
  "use strict";
  if (window.__comfyuiAuthInterceptor) return;
  window.__comfyuiAuthInterceptor = true;

  var UNSAFE = { POST: 1, PUT: 1, PATCH: 1, DELETE: 1 };
  var redirecting = false;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)comfyui_auth_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function sameOrigin(url) {
    try {
      return new URL(url, location.href).origin === location.origin;
    } catch (error) {
      return false;
    }
  }

  function needsToken(method, url) {
    return UNSAFE[String(method || "GET").toUpperCase()] === 1 && sameOrigin(url);
  }

  function toLogin(url) {
    if (redirecting || window.__comfyuiAuthSigningOut || !sameOrigin(url)) return;
    if (new URL(url, location.href).pathname.indexOf("/auth/") === 0) return;
    if (location.pathname.indexOf("/auth/") === 0) return;
    redirecting = true;
    var back = location.pathname + location.search + location.hash;
    location.assign("/auth/login?next=" + encodeURIComponent(back));
  }

  var originalFetch = window.fetch;
  window.fetch = function (input, init) {
    var isRequest = typeof Request !== "undefined" && input instanceof Request;
    var url = isRequest ? input.url : String(input);
    var method = (init && init.method) || (isRequest ? input.method : "GET");
    if (needsToken(method, url)) {
      var token = csrfToken();
      if (token) {
        var headers = new Headers((init && init.headers) || (isRequest ? input.headers : undefined));
        headers.set("X-CSRF-Token", token);
        init = Object.assign({}, init || {}, { headers: headers });
      }
    }
    return originalFetch.call(this, input, init).then(function (response) {
      if (response.status === 401) toLogin(url);
      if (response.ok && isUserList(method, url)) return rememberSignedInUser(response);
      return response;
    });
  };

  function isUserList(method, url) {
    if (String(method || "GET").toUpperCase() !== "GET" || !sameOrigin(url)) return false;
    return /^\/(api\/)?users$/.test(new URL(url, location.href).pathname);
  }

  function rememberSignedInUser(response) {
    return response
      .clone()
      .json()
      .then(function (answer) {
        var ids = answer && answer.users ? Object.keys(answer.users) : [];
        if (ids.length === 1) {
          localStorage.setItem("Comfy.userId", ids[0]);
          localStorage.setItem("Comfy.userName", String(answer.users[ids[0]]));
        }
        return response;
      })
      .catch(function () {
        return response;
      });
  }

  var open = XMLHttpRequest.prototype.open;
  var send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__comfyuiAuth = { method: method, url: String(url) };
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    var info = this.__comfyuiAuth;
    if (info && needsToken(info.method, info.url)) {
      var token = csrfToken();
      if (token) this.setRequestHeader("X-CSRF-Token", token);
    }
    if (info) {
      this.addEventListener("load", function () {
        if (this.status === 401) toLogin(info.url);
      });
    }
    return send.apply(this, arguments);
  };
})();
