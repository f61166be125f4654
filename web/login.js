// Progressive enhancement of the login page: the forms also work without this script.
// Submits with fetch so errors show in place, counts down a throttling wait, and switches
// between the password and API-key forms without a reload. Stores nothing anywhere.
(function () {
  "use strict";

  var message = document.getElementById("message");
  var forms = {
    password: document.getElementById("password-form"),
    key: document.getElementById("key-form"),
  };
  var links = {
    key: document.getElementById("use-key"),
    password: document.getElementById("use-password"),
  };
  var countdown = null;

  function show(text, kind) {
    message.textContent = text;
    message.className = "message " + (text ? kind : "");
  }

  function setBusy(busy) {
    Object.keys(forms).forEach(function (name) {
      forms[name].querySelector("button").disabled = busy;
    });
  }

  function waitThenEnable(seconds, text) {
    clearInterval(countdown);
    var left = seconds;
    setBusy(true);
    function tick() {
      if (left <= 0) {
        clearInterval(countdown);
        setBusy(false);
        show("", "");
        return;
      }
      show(text + " Try again in " + left + " second" + (left === 1 ? "" : "s") + ".", "error");
      left -= 1;
    }
    tick();
    countdown = setInterval(tick, 1000);
  }

  function switchTo(mode) {
    var other = mode === "key" ? "password" : "key";
    forms[mode].hidden = false;
    forms[other].hidden = true;
    links[mode].hidden = true;
    links[other].hidden = false;
    show("", "");
    forms[mode].querySelector("input:not([type=hidden])").focus();
  }

  function fieldsOf(form) {
    var body = {};
    new FormData(form).forEach(function (value, name) {
      body[name] = value;
    });
    body.remember = body.remember === "1";
    return body;
  }

  function submit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    setBusy(true);
    show("Signing in…", "notice");
    fetch("/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(fieldsOf(form)),
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            if (response.ok) {
              location.assign(body.next || "/");
              return;
            }
            var text = body.error || "Sign-in failed.";
            if (response.status === 429) {
              var wait = parseInt(response.headers.get("Retry-After") || "60", 10);
              waitThenEnable(wait, "Too many attempts.");
              return;
            }
            setBusy(false);
            show(text, "error");
          });
      })
      .catch(function () {
        setBusy(false);
        show("The server could not be reached. Check your connection and try again.", "error");
      });
  }

  Object.keys(forms).forEach(function (name) {
    forms[name].addEventListener("submit", submit);
  });
  links.key.addEventListener("click", function (event) {
    event.preventDefault();
    switchTo("key");
  });
  links.password.addEventListener("click", function (event) {
    event.preventDefault();
    switchTo("password");
  });

  var initialWait = parseInt(message.getAttribute("data-retry-after") || "", 10);
  if (initialWait > 0) {
    waitThenEnable(initialWait, "Too many attempts.");
  }
})();
