// One job: its steps in order with their tasks and each one's history, its latest log lines
// and its results, kept live by polling the status tree with If-None-Match, and the buttons
// that act on it.
"use strict";

(() => {
  const {h} = ui;
  const $ = (id) => document.getElementById(id);
  const {workspace, name} = $("main").dataset;
  const base = `${encodeURIComponent(workspace)}/jobs/${encodeURIComponent(name)}`;
  const KEEP = 200;  // log lines shown
  const PAGE = 1000;  // log lines a read asks for, the most the API gives

  let tree = null, treeTag = null, job = null, shape = "", history = new Map(), attempts = "";
  let logs = fresh(), results = {tag: null, list: [], wait: 0, shown: null};
  const open = new Set();  // keys of the <details> a reader opened, kept across redraws

  function fresh() { return {cursor: "", tag: null, older: [], tail: [], trim: 0, wait: 0, shown: null}; }

  async function tick() {
    const answer = await ui.get(base + "/status", treeTag);
    if (answer.status === 200) {
      [tree, treeTag] = [answer.body, answer.etag];
      // History and the job itself change only when some status does (or a rerun).
      const now = [tree.status, ...tree.steps.flatMap((s) => [s.id, s.status, ...s.tasks.map((t) => t.id + t.status)])].join();
      if (now !== shape) { shape = now; await readJob(); await readHistory(); }
      draw();
    } else if (answer.status !== 304) {
      clear();
      if (answer.status === 404) throw new ui.Gone(`There is no job '${name}' in workspace '${workspace}'.`);
      return ui.says(answer);
    }
    await readLogs();
    await readResults();
  }

  async function readJob() {
    const answer = await ui.get(base);
    if (!answer.ok) return;
    if (job && job.attempt_id !== answer.body.attempt_id) logs = fresh();  // a rerun: new logs
    job = answer.body;
  }

  // One request for every entity's changes; past 1,000 of them, the latest 1,000 or so.
  // The attempt is counted off the job's own entries: created once, and again by each
  // rerun. Past two pages some are not read, so the count is then a least.
  async function readHistory() {
    let answer = await ui.get(base + "/history?page_size=1000");
    const pages = answer.ok ? answer.body.pagination.total_pages : 0;
    const starts = (a) => a.ok ? a.body.data.filter((e) => e.entity_kind === "job" && e.to === "created").length : 0;
    let count = starts(answer);
    if (pages > 1) answer = await ui.get(`${base}/history?page_size=1000&page=${pages}`);
    if (!answer.ok) return;
    if (pages > 1) count += starts(answer);
    attempts = count ? `${count}${pages > 2 ? " or more" : ""}` : "";
    history = new Map();
    for (const entry of answer.body.data) {
      if (!history.has(entry.entity_id)) history.set(entry.entity_id, []);
      history.get(entry.entity_id).push(entry);
    }
  }

  function draw() {
    $("job-status").replaceChildren(ui.badge(tree.status));
    const row = (title, value) => value ? [h("dt", {}, title), h("dd", {}, value)] : null;
    $("job").replaceChildren(h("dl", {class: "meta"},
      row("Description", job && job.description),
      row("Project", job && job.project),
      row("Attempt", attempts),
      row("Created", ui.time(tree.created_at)),
      row("Updated", ui.time(tree.updated_at)),
      row("Progress", ui.details("Job status details", tree.status_details)),
      row("Error", ui.details("Job error details", tree.error_details, "bad"))));
    // Redrawn whole: keep what the reader opened and where the keyboard focus was.
    const focused = document.activeElement && document.activeElement.closest("[data-key]");
    $("steps").replaceChildren(...tree.steps.map(step));
    enable();
    if (focused) {
      const again = $("steps").querySelector(`[data-key="${CSS.escape(focused.dataset.key)}"] summary`);
      if (again) again.focus();
    }
  }

  function step(s) {
    return h("li", {class: "step"},
      h("div", {class: "step-head"}, h("h3", {}, s.name), ui.badge(s.status),
        h("span", {class: "quiet"}, "updated ", ui.time(s.updated_at))),
      executor(s.name),
      ui.details(`Step ${s.name} status details`, s.status_details),
      ui.details(`Step ${s.name} error details`, s.error_details, "bad"),
      timeline(s.id, `History of step ${s.name}`),
      s.tasks.length ? h("table", {class: "tasks"},
        h("thead", {}, h("tr", {}, ["Task", "Status", "Updated", "Reported", "History"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, s.tasks.map(task))) : h("p", {class: "quiet"}, "No tasks reported yet."));
  }

  // Where the step runs, as the job's platform_spec says: the provider first, then the rest.
  function executor(stepName) {
    const spec = job && job.platform_spec && (job.platform_spec.steps || []).find((s) => s && s.name === stepName);
    const given = spec && spec.executor;
    if (!given || typeof given !== "object") return null;
    const {provider, ...rest} = given;
    const text = (v) => typeof v === "string" ? v : JSON.stringify(v);
    return h("p", {class: "exec quiet"}, "Executor: ", h("strong", {}, text(provider)),
      Object.entries(rest).map(([key, value]) => ` · ${key} ${text(value)}`));
  }

  function task(t) {
    return h("tr", {},
      h("th", {scope: "row"}, t.name),
      h("td", {}, ui.badge(t.status)),
      h("td", {}, ui.time(t.updated_at)),
      h("td", {},
        ui.details(`Task ${t.name} status details`, t.status_details),
        ui.details(`Task ${t.name} error details`, t.error_details, "bad"),
        t.error_stack ? folded(t.id + "/stack", "Error stack", h("pre", {class: "stack"}, t.error_stack)) : null),
      h("td", {}, timeline(t.id, `History of task ${t.name}`)));
  }

  function folded(key, title, content) {
    const node = h("details", {"data-key": key, open: open.has(key)}, h("summary", {}, title), content);
    node.addEventListener("toggle", () => { node.open ? open.add(key) : open.delete(key); });
    return node;
  }

  // Each status the entity went through, oldest first, with when (and who, when known).
  function timeline(id, label) {
    const entries = history.get(id) || [];
    if (!entries.length) return null;
    return h("ol", {class: "timeline", "aria-label": label}, entries.map((e) =>
      h("li", {}, ui.badge(e.to), " ", ui.time(e.at), e.by ? h("span", {class: "quiet"}, " by ", e.by) : null)));
  }

  // Log lines come in (timestamp, arrival) order, a page after a cursor. The last page
  // has no next_page, so its lines come back by asking again with the cursor it started at:
  // a 304 while none were appended, the page with the new ones after it otherwise. Past
  // 2 x KEEP lines on that page, one read of all but the newest KEEP moves the cursor up, so
  // a poll carries at most that many. The API reads forward only, so a first visit walks
  // the pages from the start, 20 a tick, and shows the lines once it reached the end. A line
  // stamped earlier than the cursor (a worker's clock far behind) shows after a reload.
  // Not there, or refused (the tree already said whether the token may read this job):
  // said quietly, asked again now and then.
  async function readLogs() {
    if (logs.wait > 0) { logs.wait--; return; }
    let behind = false;
    for (let pages = 0; ; pages++) {
      if (pages === 20) { behind = true; break; }
      const cursor = logs.cursor ? "&page_cursor=" + encodeURIComponent(logs.cursor) : "";
      const limit = logs.trim || PAGE;
      const answer = await ui.call("GET", `${base}/logs?limit=${limit}${cursor}`, logs.trim ? null : logs.tag);
      if (answer.status === 304) break;
      if (answer.status === 422 && logs.cursor) { logs = fresh(); continue; }  // a stale cursor
      if (!answer.ok || !answer.body || !Array.isArray(answer.body.data)) {
        logs = {...fresh(), wait: 5};
        break;
      }
      const {data, next_page: next} = answer.body;
      if (next) {  // lines we will not ask for again: keep the newest of them
        logs.older = logs.older.concat(data).slice(-KEEP);
        [logs.cursor, logs.tag, logs.tail, logs.trim] = [next, null, [], 0];
        continue;
      }
      [logs.tail, logs.tag] = [data, answer.etag];
      if (logs.trim || data.length <= 2 * KEEP) { logs.trim = 0; break; }
      logs.trim = data.length - KEEP;
    }
    if (behind && logs.shown) return;  // still on the way to the end: keep what is shown
    const pre = $("logs"), lines = behind ? [] : logs.older.concat(logs.tail).slice(-KEEP);
    const text = lines.map((l) => `${ui.when(l.timestamp)} ${l.job_step}/${l.job_task} ${l.message}`).join("\n");
    if (text === logs.shown) return;
    logs.shown = text;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    pre.hidden = !text;
    $("no-logs").textContent = behind ? "Reading the log…" : "No logs.";
    $("no-logs").hidden = Boolean(text);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  async function readResults() {
    if (results.wait > 0) { results.wait--; return; }
    const answer = await ui.call("GET", base + "/results", results.tag);
    if (answer.status === 304) return;
    const ok = answer.ok && answer.body && Array.isArray(answer.body.data);
    [results.list, results.tag, results.wait] = ok ? [answer.body.data, answer.etag, 0] : [[], null, 5];
    const key = JSON.stringify(results.list);
    if (key === results.shown) return;
    results.shown = key;
    $("results").replaceChildren(...results.list.map((r) => h("li", {},
      h("strong", {}, String(r.name)), " ", download(r), " ", h("span", {class: "quiet"}, ui.time(r.created_at)),
      " ", h("code", {}, String(r.artifact_url || "")))));
    $("results").hidden = !results.list.length;
    $("no-results").hidden = Boolean(results.list.length);
  }

  // Only this service's own download path becomes a link, saved under the artifact's file
  // name. With a token the link fetches with it, since a plain link cannot carry an
  // Authorization header, and a refusal shows the service's words.
  function download(result) {
    let url;
    try { url = new URL(String(result.download_url), location.href); } catch (e) { return null; }
    if (url.origin !== location.origin || !url.pathname.startsWith("/apis/")) return null;
    const file = String(result.artifact_url || "").split("/").pop() || String(result.name);
    const link = h("a", {href: url.pathname + url.search, download: file}, "Download");
    link.addEventListener("click", async (event) => {
      if (!ui.token()) return;
      event.preventDefault();
      say("");
      let response;
      try {
        response = await fetch(link.href, {headers: {Authorization: "Bearer " + ui.token()}, credentials: "omit"});
      } catch (e) { response = {status: 0, ok: false}; }
      if (!response.ok) {
        let body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        say("Download failed: " + ui.says({status: response.status, body}));
        return;
      }
      const blob = URL.createObjectURL(await response.blob());
      h("a", {href: blob, download: file}).click();
      setTimeout(() => URL.revokeObjectURL(blob), 10000);
    });
    return link;
  }

  function say(text) {
    $("action-said").textContent = text;
    $("action-said").hidden = !text;
  }

  // A button is on only while its action would change something, by the rules the server
  // acts by (rendered into its data-* by the server): the job in one of `when`, and, for
  // the actions that move steps, a current step in one of `moves` and none in `refused`.
  const words = (text) => (text || "").split(" ").filter(Boolean);
  function applies(button) {
    const {when, moves, refused} = button.dataset;
    if (!tree || !words(when).includes(tree.status)) return false;
    if (!moves) return true;
    const statuses = tree.steps.map((s) => s.status);
    return statuses.some((s) => words(moves).includes(s)) && !statuses.some((s) => words(refused).includes(s));
  }

  function enable() {
    for (const button of document.querySelectorAll("[data-action]")) {
      button.disabled = !applies(button);
      button.title = button.disabled && tree ? `Does not apply to this job now (${tree.status})` : "";
    }
  }

  const VERBS = {cancel: "Cancel", pause: "Pause", resume: "Resume", rerun: "Rerun"};
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      const extra = action === "rerun" ? " A new attempt starts with fresh steps." : "";
      if (!confirm(`${VERBS[action]} job '${name}'?${extra}`)) return;
      say("");
      const answer = await ui.call("POST", `${base}/${action}`);
      say(answer.ok ? `${VERBS[action]}: the job is now ${answer.body.status}.` : ui.says(answer));
      ui.refresh();
    });
  }

  function clear() {
    [tree, treeTag, job, shape, history, attempts] = [null, null, null, "", new Map(), ""];
    enable();
    [logs, results] = [fresh(), {tag: null, list: [], wait: 0, shown: null}];
    for (const id of ["job-status", "job", "steps", "logs", "results"]) $(id).replaceChildren();
    $("logs").hidden = $("results").hidden = true;
    $("no-logs").hidden = $("no-results").hidden = false;
  }

  ui.start({tick, clear});
})();
