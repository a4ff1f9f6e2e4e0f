// Heartline site script: form validation messages and live presence over Server-Sent Events.
// Loaded with defer from /static (CSP script-src 'self'); no inline scripts anywhere.
(function () {
  "use strict";

  // ---- forms: HTML constraint validation with Chinese messages ----
  var messages = {
    valueMissing: "此项为必填。",
    typeMismatch: "格式不正确，例如 name@example.com。",
    tooShort: function (el) { return "至少 " + el.minLength + " 个字符。"; },
    tooLong: function (el) { return "最多 " + el.maxLength + " 个字符。"; },
    rangeUnderflow: function (el) { return "不能小于 " + el.min + "。"; },
    rangeOverflow: function (el) { return "不能大于 " + el.max + "。"; },
    badInput: "请输入有效的数字。"
  };
  function check(form, el) {
    if (!el.name) return true;
    el.setCustomValidity("");
    if (el.dataset.match) {
      var other = form.elements[el.dataset.match];
      if (other && el.value !== other.value) el.setCustomValidity(el.dataset.matchMessage || "两次输入不一致。");
    }
    var msg = "";
    if (!el.validity.valid) {
      if (el.validity.customError) msg = el.validationMessage;
      else if (el.validity.patternMismatch) msg = el.dataset.patternMessage || "格式不正确。";
      else {
        for (var k in messages) {
          if (el.validity[k]) { msg = typeof messages[k] === "function" ? messages[k](el) : messages[k]; break; }
        }
      }
    }
    var out = form.querySelector('[data-error-for="' + el.name + '"]');
    if (out) out.textContent = msg;
    var field = el.closest(".field");
    if (field) field.classList.toggle("has-error", msg !== "");
    return msg === "";
  }
  document.querySelectorAll("form[data-validate]").forEach(function (form) {
    form.addEventListener("input", function (e) { if (e.target.closest(".has-error")) check(form, e.target); });
    form.addEventListener("change", function (e) { check(form, e.target); });
    form.addEventListener("submit", function (e) {
      var ok = true, first = null;
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.type === "hidden" || el.type === "submit" || !el.willValidate) return;
        if (!check(form, el)) { ok = false; first = first || el; }
      });
      if (!ok) { e.preventDefault(); first.focus(); }
    });
  });

  // ---- live presence ----
  var main = document.getElementById("main");
  if (!main || !window.EventSource) return;
  var ids = main.dataset.liveIds || "";
  var counts = document.querySelectorAll("[data-live-count]");
  if (!ids && counts.length === 0) return;
  var offset = 0; // server clock - local clock, ms

  function seenText(ms) {
    if (!ms) return "离线";
    var min = Math.floor((Date.now() + offset - ms) / 60000);
    if (min < 1) return "刚刚在线";
    if (min < 60) return min + " 分钟前在线";
    var h = Math.floor(min / 60);
    if (h < 24) return h + " 小时前在线";
    var d = Math.floor(h / 24);
    if (d < 30) return d + " 天前在线";
    return "很久没上线";
  }
  function apply(p) {
    var card = document.getElementById("m-" + p.id);
    if (!card) return;
    var dot = card.querySelector("[data-dot]"), seen = card.querySelector("[data-seen]");
    card.classList.toggle("is-online", p.online);
    dot.classList.toggle("online", p.online);
    dot.classList.toggle("offline", !p.online);
    dot.setAttribute("aria-label", p.online ? "在线" : "离线");
    if (p.online) {
      delete seen.dataset.lastSeen;
      seen.textContent = "在线";
    } else if (p.last_seen_ms) { // only ever about oneself
      seen.dataset.lastSeen = String(p.last_seen_ms);
      seen.textContent = seenText(p.last_seen_ms);
    } else { // others: coarse, never a time (site/web RecencyText)
      delete seen.dataset.lastSeen;
      seen.textContent = p.recent === "today" ? "今天来过" : p.recent === "week" ? "本周来过" : "离线";
    }
  }
  function setCount(n) { counts.forEach(function (el) { el.textContent = String(n); }); }
  function clock(d) { if (d.server_ms) offset = d.server_ms - Date.now(); }

  var url = "/events?" + (ids ? "ids=" + encodeURIComponent(ids) + "&" : "") + "since=" + encodeURIComponent(main.dataset.liveCursor || "");
  var es = new EventSource(url);
  // data-live-state tells tests (and curious people) whether the stream is up.
  es.addEventListener("open", function () { main.dataset.liveState = "open"; });
  es.addEventListener("error", function () { main.dataset.liveState = "reconnecting"; });
  es.addEventListener("snapshot", function (e) {
    var d = JSON.parse(e.data); clock(d);
    setCount(d.online);
    (d.members || []).forEach(apply);
  });
  es.addEventListener("presence", function (e) { var d = JSON.parse(e.data); clock(d); apply(d); });
  es.addEventListener("count", function (e) { setCount(JSON.parse(e.data).online); });
  document.querySelectorAll(".card.is-online, [data-dot].online").forEach(function (el) { var c = el.closest(".card"); if (c) c.classList.add("is-online"); });
  // Refresh "N 分钟前在线" texts as time passes.
  setInterval(function () {
    document.querySelectorAll("[data-seen][data-last-seen]").forEach(function (el) { el.textContent = seenText(Number(el.dataset.lastSeen)); });
  }, 30000);
})();
