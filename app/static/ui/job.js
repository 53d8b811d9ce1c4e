// One job: its steps in order, each with its tasks counted by status and a page of at most
// 200 of them (found by name, filtered by status, sorted, paged by the API), its latest log
// lines and its results, and the buttons that act on it. It lists once (the status tree
// without tasks, then each step's page) and then follows the job's change feed from the
// cursor of that read: every event moves the counts, updates a shown row, and marks a page
// to read again when the event could change which rows it holds.
"use strict";

(() => {
  const {h} = ui;
  const $ = (id) => document.getElementById(id);
  const {workspace, name} = $("main").dataset;
  const base = `${encodeURIComponent(workspace)}/jobs/${encodeURIComponent(name)}`;
  const KEEP = 200;  // log lines shown
  const PAGE = 1000;  // log lines a read asks for, the most the API gives
  const ROWS = 200;  // task rows shown at most, per step
  const FEW = 10;  // up to this many tasks a step needs no search, filter or sort
  const ENDED = ["completed", "error", "cancelled"];
  const SORTS = [["created_at", "first reported"], ["name", "name, A to Z"],
                 ["-name", "name, Z to A"], ["-updated_at", "last updated"]];
  const RELIST = Symbol("relist");
  const num = (n) => n.toLocaleString("en");

  // cursor: where the feed is followed from (null: list first). whole: the job's history
  // fits one read and its tasks one page, so every timeline is drawn from that read, read
  // again as statuses move; past that a task's own comes on demand.
  let tree = null, job = null, cursor = null, history = new Map(), attempts = "", whole = true;
  let historyDue = false, jobDue = false, watching = false;
  let views = new Map();  // step name -> what its part of the page shows and asks for
  let logs = fresh(), results = {tag: null, list: [], wait: 0, shown: null};
  const open = new Set();  // keys of the <details> a reader opened, kept across redraws
  const asked = new Map();  // task id -> its own history, for the rows whose history was asked for

  function fresh() { return {cursor: "", tag: null, older: [], tail: [], trim: 0, wait: 0, shown: null}; }

  async function tick() {
    if (!cursor) {
      const said = await list();
      if (said) return said;
    } else {
      if (jobDue) { jobDue = false; await readJob(); drawHead(); }
      if (historyDue) { historyDue = false; await readHistory(); drawTimelines(); }
      for (const view of views.values()) if (view.due) await readSoon(view);
      for (const id of [...asked.keys()]) if (asked.get(id) === null) await readTaskHistory(id);
    }
    await readLogs();
    await readResults();
  }

  // The steps with their counts and the feed's place in one read, then each step's page.
  async function list() {
    const answer = await ui.get(base + "/status?tasks=none");
    if (!answer.ok) {
      clear();
      if (answer.status === 404) throw new ui.Gone(`There is no job '${name}' in workspace '${workspace}'.`);
      return ui.says(answer);
    }
    [tree, cursor] = [answer.body, answer.cursor];
    build();
    await readJob();
    drawHead();
    for (const view of views.values()) await readTasks(view);
    await readHistory();
    drawTimelines();
    watch();
    return "";
  }

  async function readJob() {
    const answer = await ui.get(base);
    if (!answer.ok) return;
    if (job && job.attempt_id !== answer.body.attempt_id) logs = fresh();  // a rerun: new logs
    job = answer.body;
    if (tree) tree.status_details = job.status_details;
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
    // Re-read on every move while it is whole: worth it only while every task is shown.
    const tasks = [...views.values()].reduce((n, v) => n + Object.values(v.counts).reduce((a, b) => a + b, 0), 0);
    whole = pages <= 1 && tasks <= ROWS;
    history = new Map();
    for (const entry of answer.body.data) {
      if (!history.has(entry.entity_id)) history.set(entry.entity_id, []);
      history.get(entry.entity_id).push(entry);
    }
  }

  // The feed, as long-polls: each answer holds what happened since the last, and the next
  // is asked for a second later, so many reports a second come as one answer.
  async function watch() {
    if (watching) return;
    watching = true;
    try {
      while (cursor && ui.live()) {
        const from = cursor;
        const answer = await ui.call("GET", `${base}/events?after=${encodeURIComponent(from)}&wait=25&limit=1000`);
        if (from !== cursor) continue;  // listed again meanwhile
        const events = answer.ok && answer.body && Array.isArray(answer.body.data) ? answer.body.data : null;
        if (events) {
          cursor = answer.body.next;
          for (const event of events) if (apply(event) === RELIST) { cursor = null; break; }
          if (events.length) redraw();
          if (cursor && events.length === 1000) continue;  // behind: catch up
        }
        // Expired or not ours: list again, a second later (a page that keeps being refused
        // must not ask in a loop). Refused or gone: the tick says so and stops.
        const refused = !events && answer.status >= 400 && answer.status !== 503;
        if (refused) cursor = null;
        if (refused || cursor) await pause(document.hidden ? 10000 : events || refused ? 1000 : 3000);
        if (!cursor) { ui.refresh(); break; }  // unless a tick listed meanwhile
      }
    } finally {
      watching = false;
    }
  }

  const pause = (ms) => new Promise((done) => setTimeout(done, ms));
  const pick = (from, into, keys) => { for (const key of keys) if (from && key in from) into[key] = from[key]; };
  const STATE = ["status", "status_details", "error_details", "updated_at"];

  // One event applied to what is shown. A rerun, a step made or gone, or the job deleted
  // changes the page's shape: it is listed again (and a deleted job then says so).
  function apply(e) {
    if (e.kind === "job") {
      if (e.type !== "updated" || !e.object || (job && e.object.attempt_id !== job.attempt_id)) return RELIST;
      pick(e.object, tree, STATE);
      job = e.object;
      historyDue = true;
      return null;
    }
    const view = views.get(e.step);
    if (!view) return e.kind === "step" ? RELIST : null;
    if (e.kind === "step") {
      if (e.type !== "updated") return RELIST;
      pick(e.object, view.step, STATE);
      view.headDue = historyDue = true;
      return null;
    }
    const c = view.counts;
    if (e.from) c[e.from] = (c[e.from] || 0) - 1;
    if (e.to) c[e.to] = (c[e.to] || 0) + 1;
    view.countsDue = true;
    if (e.from !== e.to && whole) historyDue = true;
    // A task's status_details merge into the job's without an event of the job's own.
    if (e.object && e.object.status_details && Object.keys(e.object.status_details).length) jobDue = true;
    if (e.from !== e.to && e.object && asked.has(e.object.id)) asked.set(e.object.id, null);
    const at = view.rows.findIndex((t) => t.name === e.task);
    if (at >= 0 && e.object && !(view.rows[at].db_version > e.object.db_version)) {
      view.rows[at] = e.object;
      view.rowsDue = true;
    }
    if (e.type === "created") created(view, e.task, e.to);
    // A task that left or joined a filtered status moves the rows after it.
    else if ((view.statuses.size && e.from !== e.to) || view.sort === "-updated_at") view.due = true;
    return null;
  }

  // A new task that the page's choice keeps counts in its total; the page is read again
  // only when the task falls among its rows (so new tasks at the end of 100,000 cost
  // nothing while the first page is shown).
  function created(view, task, status) {
    if ((view.statuses.size && !view.statuses.has(status)) || (view.find && !task.includes(view.find))) return;
    const last = (view.page - 1) * ROWS + view.rows.length >= view.total;
    view.total += 1;
    view.rowsDue = true;
    const end = view.rows.length ? view.rows[view.rows.length - 1].name : "";
    if (view.sort === "created_at") view.due ||= last;
    else if (view.sort === "name") view.due ||= last || task < end;
    else if (view.sort === "-name") view.due ||= last || task > end;
    else view.due = true;
  }

  function redraw() {
    drawHead();
    for (const view of views.values()) {
      if (view.headDue) drawStepHead(view);
      if (view.countsDue) drawCounts(view);
      if (view.rowsDue) drawRows(view);
      view.headDue = view.countsDue = view.rowsDue = false;
    }
  }

  function drawHead() {
    if (!tree) return;
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
    enable();
  }

  // Each step's part of the page is made once per listing and then updated in place, so a
  // reader typing in its search field or tabbing through its buttons keeps the focus.
  function build() {
    const before = views;
    views = new Map();
    for (const s of tree.steps) {
      const old = before.get(s.name);
      const view = old && old.step.id === s.id ? old : make(s);
      view.step = s;
      view.counts = {...(s.task_counts || tally(s.tasks || []))};
      view.due = true;
      views.set(s.name, view);
    }
    $("steps").replaceChildren(...[...views.values()].map((view) => view.node));
    for (const view of views.values()) { drawStepHead(view); drawCounts(view); }
  }

  function tally(tasks) {
    const count = {};
    for (const t of tasks) count[t.status] = (count[t.status] || 0) + 1;
    return count;
  }

  function make(s) {
    const view = {step: s, page: 1, sort: "created_at", statuses: new Set(), find: "", rows: [],
                  total: 0, url: "", tag: null, due: true, shown: ""};
    const id = `step-${s.id}`;
    const find = h("input", {type: "search", id: `${id}-find`, placeholder: "name or part of it", spellcheck: "false"});
    const sort = h("select", {id: `${id}-sort`}, SORTS.map(([value, text]) => h("option", {value}, text)));
    const ask = () => readSoon(view);
    let typing = null;
    find.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { [view.find, view.page] = [find.value.trim(), 1]; ask(); }, 150);
    });
    sort.addEventListener("change", () => { [view.sort, view.page] = [sort.value, 1]; ask(); });
    const previous = h("button", {type: "button"}, "← Previous");
    const next = h("button", {type: "button"}, "Next →");
    previous.addEventListener("click", () => { view.page = Math.max(1, view.page - 1); ask(); });
    next.addEventListener("click", () => { view.page += 1; ask(); });
    view.parts = {
      head: h("div", {class: "step-head"}), about: h("div", {}),
      counts: h("p", {class: "counts"}), bar: h("progress", {max: 1, value: 0, "aria-label": `Step ${s.name}: tasks finished`}),
      done: h("span", {class: "quiet"}),
      toggles: h("div", {class: "toggles", role: "group", "aria-label": `Show only the tasks of step ${s.name} that are`}),
      controls: null, rows: h("tbody", {}), table: null, none: h("p", {class: "quiet"}),
      range: h("span", {class: "range"}), previous, next,
    };
    const p = view.parts;
    p.controls = h("div", {class: "task-controls"},
      h("label", {for: find.id}, "Find a task "), find, " ",
      h("label", {for: sort.id}, "Sort by "), sort, h("span", {"aria-hidden": "true"}, "Show only"), p.toggles);
    p.table = h("table", {class: "tasks"},
      h("thead", {}, h("tr", {}, ["Task", "Status", "Updated", "Reported", "History"].map((c) => h("th", {scope: "col"}, c)))),
      p.rows);
    p.pager = h("div", {class: "pages"}, previous, p.range, next);
    view.node = h("li", {class: "step"}, p.head, p.about,
      h("div", {class: "progress"}, p.bar, " ", p.done), p.counts, p.controls, p.table, p.none, p.pager);
    return view;
  }

  function drawStepHead(view) {
    const s = view.step, p = view.parts;
    p.head.replaceChildren(h("h3", {}, s.name), ui.badge(s.status),
      h("span", {class: "quiet"}, "updated ", ui.time(s.updated_at)));
    p.about.replaceChildren(...[executor(s.name),
      ui.details(`Step ${s.name} status details`, s.status_details),
      ui.details(`Step ${s.name} error details`, s.error_details, "bad"),
      timeline(s.id, `History of step ${s.name}`)].filter(Boolean));
  }

  // The counts by status, the share finished as a bar, and one toggle per status to show
  // only those tasks (every status that has tasks, and any chosen).
  function drawCounts(view) {
    const c = view.counts, p = view.parts;
    const total = Object.values(c).reduce((a, b) => a + Math.max(b, 0), 0);
    const finished = ENDED.reduce((a, s) => a + Math.max(c[s] || 0, 0), 0);
    const present = ui.STATUSES.filter((s) => c[s] > 0);
    p.counts.textContent = present.map((s) => `${num(c[s])} ${s}`).join(" · ");
    p.bar.max = total || 1;
    p.bar.value = finished;
    p.done.textContent = total ? `${num(finished)} of ${num(total)} finished (${Math.floor(100 * finished / total)}%)` : "";
    p.bar.parentNode.hidden = !total;
    const shown = ui.STATUSES.filter((s) => c[s] > 0 || view.statuses.has(s));
    if (shown.join() !== p.toggles.dataset.shown) {
      p.toggles.dataset.shown = shown.join();
      p.toggles.replaceChildren(...shown.map((s) => {
        const button = h("button", {type: "button", class: "toggle", "aria-pressed": String(view.statuses.has(s))}, s);
        button.addEventListener("click", () => {
          view.statuses.has(s) ? view.statuses.delete(s) : view.statuses.add(s);
          button.setAttribute("aria-pressed", String(view.statuses.has(s)));
          view.page = 1;
          readSoon(view);
        });
        return button;
      }));
    }
    p.controls.hidden = total <= FEW && !view.statuses.size && !view.find;
  }

  // `%` any run and `_` one character in the API's $like: a typed name is matched literally.
  const like = (text) => "%" + text.replace(/[\\%_]/g, (c) => "\\" + c) + "%";

  // A reader's choice is read at once, beside the tick; one read of a view at a time, and
  // one more if the choice changed meanwhile. What went wrong, the tick says.
  async function readSoon(view) {
    view.due = true;
    if (view.reading) return;
    view.reading = true;
    try {
      while (view.due) await readTasks(view);
    } catch (e) {
      view.due = false;
    } finally {
      view.reading = false;
    }
  }

  function tasksUrl(view) {
    const query = [`page=${view.page}`, `page_size=${ROWS}`, `sort=${view.sort}`];
    if (view.statuses.size) query.push("filter[status]=" + [...view.statuses].join(","));
    if (view.find) query.push("filter[name][$like]=" + encodeURIComponent(like(view.find)));
    return `${base}/steps/${encodeURIComponent(view.step.name)}/tasks?${query.join("&")}`;
  }

  async function readTasks(view) {
    view.due = false;
    const url = tasksUrl(view);
    const answer = await ui.get(url, url === view.url ? view.tag : null);
    if (url !== tasksUrl(view)) { view.due = true; return; }  // the reader chose again meanwhile
    if (answer.status === 304) return;
    const body = answer.ok && answer.body && Array.isArray(answer.body.data) ? answer.body : {data: []};
    [view.url, view.tag] = [url, answer.ok ? answer.etag : null];
    if (body.pagination) [view.rows, view.total] = [body.data, body.pagination.total_results];
    else [view.rows, view.total] = chosen(view, body.data);
    if (view.page > 1 && !view.rows.length && view.total) {  // the page emptied: the last one
      view.page = Math.ceil(view.total / ROWS);
      return readTasks(view);
    }
    drawRows(view);
  }

  // The same choice made here, for an API that answers a task list whole.
  function chosen(view, tasks) {
    const [key, sign] = view.sort.startsWith("-") ? [view.sort.slice(1), -1] : [view.sort, 1];
    const kept = tasks.filter((t) => (!view.statuses.size || view.statuses.has(t.status)) &&
      (!view.find || t.name.includes(view.find)));
    if (key !== "created_at") kept.sort((a, b) => sign * (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
    return [kept.slice((view.page - 1) * ROWS, view.page * ROWS), kept.length];
  }

  function drawRows(view) {
    const p = view.parts;
    const focused = document.activeElement && p.rows.contains(document.activeElement) && document.activeElement.closest("[data-key]");
    p.rows.replaceChildren(...view.rows.map(task));
    if (focused) {
      const key = `[data-key="${CSS.escape(focused.dataset.key)}"]`;
      const again = p.rows.querySelector(`${key} summary`) || p.rows.querySelector(key);
      if (again) again.focus();
    }
    const first = (view.page - 1) * ROWS;
    p.table.hidden = !view.rows.length;
    const any = Object.values(view.counts).some((n) => n > 0);
    p.none.textContent = !any ? "No tasks reported yet." : view.rows.length ? "" : "No task matches.";
    p.none.hidden = !p.none.textContent;
    p.range.textContent = view.rows.length ? `${num(first + 1)}–${num(first + view.rows.length)} of ${num(view.total)}` : "";
    p.previous.disabled = view.page <= 1;
    p.next.disabled = first + view.rows.length >= view.total;
    p.pager.hidden = view.total <= ROWS && view.page === 1;
  }

  function drawTimelines() {
    for (const view of views.values()) { drawStepHead(view); drawRows(view); }
    drawHead();
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
      h("td", {}, whole ? timeline(t.id, `History of task ${t.name}`) : ownHistory(t)));
  }

  // Past one read of the job's history, a task's own comes when asked for, and again while
  // it is shown and its status moves.
  function ownHistory(t) {
    const entries = asked.get(t.id);
    if (entries) return timeline(t.id, `History of task ${t.name}`, entries);
    const button = h("button", {type: "button", class: "link", "data-key": t.id + "/history"}, "Show history");
    button.addEventListener("click", () => { asked.set(t.id, null); button.disabled = true; ui.refresh(); });
    return button;
  }

  async function readTaskHistory(id) {
    const view = [...views.values()].find((v) => v.rows.some((t) => t.id === id));
    if (!view) { asked.delete(id); return; }
    const t = view.rows.find((r) => r.id === id);
    const answer = await ui.get(`${base}/steps/${encodeURIComponent(view.step.name)}/tasks/${encodeURIComponent(t.name)}/history?page_size=100`);
    asked.set(id, answer.ok ? answer.body.data : []);
    drawRows(view);
  }

  function folded(key, title, content) {
    const node = h("details", {"data-key": key, open: open.has(key)}, h("summary", {}, title), content);
    node.addEventListener("toggle", () => { node.open ? open.add(key) : open.delete(key); });
    return node;
  }

  // Each status the entity went through, oldest first, with when (and who, when known).
  function timeline(id, label, given) {
    const entries = given || history.get(id) || [];
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
    [tree, job, cursor, history, attempts, whole] = [null, null, null, new Map(), "", true];
    views = new Map();
    asked.clear();
    enable();
    [logs, results] = [fresh(), {tag: null, list: [], wait: 0, shown: null}];
    for (const id of ["job-status", "job", "steps", "logs", "results"]) $(id).replaceChildren();
    $("logs").hidden = $("results").hidden = true;
    $("no-logs").hidden = $("no-results").hidden = false;
  }

  ui.start({tick, clear});
})();
