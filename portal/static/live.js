// Live parts of the portal: countdowns tick, and a round's page follows its events
// (server-sent, from the portal's own queue) and turns into the result without a
// reload. Everything else works without JavaScript.
(function () {
  "use strict";

  function left(closesAt) {
    var ms = Math.max(0, Date.parse(closesAt) - Date.now());
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400);
    s -= d * 86400;
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var clock = [h, m, sec].map(function (n) { return n < 10 ? "0" + n : String(n); }).join(":");
    return d > 0 ? d + "d " + clock : clock;
  }

  function tick() {
    var all = document.querySelectorAll(".countdown[data-closes-at]");
    for (var i = 0; i < all.length; i++) {
      all[i].textContent = left(all[i].getAttribute("data-closes-at"));
    }
  }
  tick();
  setInterval(tick, 250);

  var root = document.getElementById("round");
  if (!root || root.getAttribute("data-state") !== "live" || !window.EventSource) {
    return;
  }
  var id = root.getAttribute("data-round-id");
  var lang = root.getAttribute("data-lang") === "en" ? "lang=en" : "";
  var source = new EventSource("/rounds/" + id + "/events" + (lang ? "?" + lang : ""));
  var ended = false;

  function setClose(data) {
    if (!data.closes_at) { return; }
    var cd = document.getElementById("countdown");
    var when = document.getElementById("closes-at");
    var used = document.getElementById("extensions-used");
    if (cd) { cd.setAttribute("data-closes-at", data.closes_at); }
    if (when) {
      when.setAttribute("datetime", data.closes_at);
      if (data.closes_at_text) { when.textContent = data.closes_at_text; }
    }
    if (used && data.extensions_used !== undefined && data.extensions_used !== null) {
      used.textContent = String(data.extensions_used);
    }
    tick();
  }

  function showResult() {
    if (ended) { return; }
    ended = true;
    source.close();
    var url = "/rounds/" + id + "?fragment=1" + (lang ? "&" + lang : "");
    fetch(url, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var main = document.getElementById("main");
        main.innerHTML = html;
        var h1 = main.querySelector("h1");
        if (h1) { document.title = h1.textContent + " · " + document.title.split(" · ").pop(); }
      });
  }

  source.addEventListener("state", function (e) {
    var data = JSON.parse(e.data);
    setClose(data);
  });
  source.addEventListener("extended", function (e) {
    setClose(JSON.parse(e.data));
    var status = document.getElementById("live-status");
    if (status) { status.textContent = root.getAttribute("data-extended-text"); }
  });
  source.addEventListener("ended", showResult);
})();
