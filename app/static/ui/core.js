// What both dashboard pages share: calls to the JSON API with the reader's token, building
// the page from text only, and a polling loop that stops behind the token prompt.
"use strict";

const ui = (() => {
  const API = "/apis/jobs/v2/workspaces/";
  const KEY = "jobs-dashboard-token";
  const STATUSES = ["created", "pending", "active", "cancelled", "cancelling", "error",
                    "completed", "paused", "pausing", "resuming"];
  const $ = (id) => document.getElementById(id);

  // Every value from the service goes in as a text node or an attribute, never as markup.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  const token = () => sessionStorage.getItem(KEY) || "";

  // Never throws: an unreachable service is status 0. With `etag` the read is conditional,
  // and an unchanged answer comes back as a 304 without a body.
  async function call(method, path, etag) {
    const headers = {Accept: "application/json"};
    if (token()) headers.Authorization = "Bearer " + token();
    if (etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch(API + path, {method, headers, cache: "no-store", credentials: "omit"});
    } catch (e) {
      return {status: 0, ok: false, body: null, etag: null, cursor: null};
    }
    let body = null;
    if (response.status !== 304 && response.status !== 204) {
      try { body = await response.json(); } catch (e) { body = null; }
    }
    return {status: response.status, ok: response.ok, body, etag: response.headers.get("ETag"),
            cursor: response.headers.get("Events-Cursor")};
  }

  // The service's own words: `detail` is a sentence, or a list of entries with a `msg`.
  function says(answer) {
    const detail = answer.body && answer.body.detail;
    if (Array.isArray(detail)) return detail.map((e) => e && e.msg).filter(Boolean).join(" ");
    if (typeof detail === "string") return detail;
    return answer.status ? `The service answered ${answer.status}.` : "The service cannot be reached.";
  }

  // A read the token may not make locks the page: its data is cleared, the prompt shown.
  // Either way the tick that made it stops there.
  class Locked extends Error {}
  class Unreachable extends Error {}
  // What the page shows is gone for good (a job deleted while open): said, and no more polls.
  class Gone extends Error {}
  let page = null, timer = null, running = false, again = false, locked = false, gone = false;

  async function get(path, etag) {
    const answer = await call("GET", path, etag);
    if (answer.status === 0) throw new Unreachable();
    if (answer.status === 401 || answer.status === 403) {
      lock(answer.status === 401 && token() ? "That token was not accepted. " + says(answer)
        : answer.status === 401 ? "This service needs an access token." : says(answer));
      throw new Locked();
    }
    return answer;
  }

  function lock(why) {
    locked = true;
    clearTimeout(timer);
    if (page) page.clear();
    $("token-why").textContent = why;
    $("token-form").hidden = false;
    $("live").textContent = "";
    $("token").focus();
  }

  function problem(text) {
    $("problem").textContent = text || "";
    $("problem").hidden = !text;
  }

  // One tick at a time; `refresh()` during a tick asks for another right after it. A tick
  // answers what is wrong, in words, or nothing when all is well.
  async function run() {
    if (running) { again = true; return; }
    running = true;
    try {
      problem(await page.tick());
      $("live").textContent = "Live · checked " + clock(new Date());
    } catch (e) {
      if (e instanceof Unreachable) problem("The service cannot be reached; trying again.");
      else if (e instanceof Gone) { gone = true; problem(e.message); }
      else if (!(e instanceof Locked)) problem("This page failed: " + e);
    } finally {
      running = false;
    }
    if (gone) { $("live").textContent = "Stopped · reload to look again"; return; }
    if (locked) return;
    const next = again ? 0 : document.hidden ? 10000 : 1000;
    again = false;
    clearTimeout(timer);
    timer = setTimeout(run, next);
  }

  function start(thePage) {
    page = thePage;
    $("forget-token").hidden = !token();
    run();
  }

  const live = () => !locked && !gone;
  function refresh() { if (live()) { clearTimeout(timer); run(); } }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    $("token-form").hidden = true;
    $("forget-token").hidden = false;
    locked = false;
    refresh();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });

  const pad = (n) => String(n).padStart(2, "0");
  function clock(d) { return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; }

  // A timestamp as text in local time, the day left out when it is today.
  function when(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return String(iso || "");
    const day = (t) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
    return day(d) === day(new Date()) ? clock(d) : `${day(d)} ${clock(d)}`;
  }

  // The same in a <time>, the exact UTC value kept in `datetime` and `title`.
  function time(iso) {
    if (!iso || isNaN(new Date(iso))) return h("time", {}, when(iso));
    return h("time", {datetime: iso, title: iso}, when(iso));
  }

  // The status as a word; the colour only repeats it.
  function badge(status) {
    const known = STATUSES.includes(status) ? status : "unknown";
    return h("span", {class: "st st-" + known}, String(status));
  }

  // status_details / error_details: a line per key, values that are not text as JSON.
  function details(title, value, cls) {
    const keys = value && typeof value === "object" ? Object.keys(value) : [];
    if (!keys.length) return null;
    return h("dl", {class: "kv " + (cls || ""), "aria-label": title}, keys.map((key) => h("div", {},
      h("dt", {}, key + ":"), " ",
      h("dd", {}, typeof value[key] === "string" ? value[key] : JSON.stringify(value[key])))));
  }

  return {h, call, get, says, problem, start, refresh, live, when, time, badge, details, token, STATUSES, Gone};
})();
