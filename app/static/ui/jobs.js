// The jobs list: one page of a workspace's jobs, newest first, each with its steps counted
// by status, and the workspace's jobs counted by status beside the status filter. Every
// read is conditional, so a list that did not change costs three 304s.
"use strict";

(() => {
  const {h} = ui;
  const main = document.getElementById("main");
  const {workspace, statuses, page, pageSize} = main.dataset;
  const base = encodeURIComponent(workspace) + "/jobs";
  const rows = document.querySelector("#jobs tbody");
  let jobs = null, jobsTag = null, steps = [], stepsTag = null, shown = "";
  let counts = null, countsTag = null;
  const BULK_MAX = 1000;  // the most one bulk action takes (the service's `limit`)

  async function tick() {
    const filter = statuses ? "&filter[status]=" + encodeURIComponent(statuses) : "";
    const answer = await ui.get(`${base}?page=${page}&page_size=${pageSize}${filter}`, jobsTag);
    if (answer.status === 200) [jobs, jobsTag] = [answer.body, answer.etag];
    else if (answer.status !== 304) { clear(); return ui.says(answer); }
    await countSteps(jobs.data.map((job) => job.name));
    const tally = await ui.get(`${base}/-/counts`, countsTag);
    if (tally.status === 200) [counts, countsTag] = [tally.body, tally.etag];
    render();
    showCounts();
  }

  // Each status's label carries how many of the workspace's jobs have it.
  function showCounts() {
    const by = (counts && counts.by_status) || {};
    for (const label of document.querySelectorAll("[data-count]")) {
      label.textContent = counts ? String(by[label.dataset.count] || 0) : "";
    }
    const button = document.getElementById("cancel-matching");
    if (!button) return;
    const matching = matched();
    button.disabled = !counts || matching === 0;
    button.title = button.disabled ? "No job has the statuses ticked" : "";
  }

  const matched = () => statuses.split(",").reduce((n, s) => n + ((counts && counts.by_status[s]) || 0), 0);
  const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;

  function said(text) {
    const p = document.getElementById("bulk-said");
    p.textContent = text;
    p.hidden = !text;
  }

  // Cancel every job with the ticked statuses, after a confirmation that says how many.
  const cancelMatching = document.getElementById("cancel-matching");
  if (cancelMatching) cancelMatching.addEventListener("click", async () => {
    const n = matched();
    const some = n > BULK_MAX ? `the oldest ${plural(BULK_MAX, "job")} of ${n.toLocaleString("en")}` : plural(n, "job");
    if (!confirm(`Cancel ${some} (${statuses.split(",").join(", ")}) in '${workspace}'?`)) return;
    said("");
    const answer = await ui.call("POST", `${base}/-/cancel?filter[status]=${encodeURIComponent(statuses)}`);
    if (!answer.ok) { said(ui.says(answer)); return; }
    const by = {done: 0, unchanged: 0, refused: 0};
    for (const result of answer.body.results) by[result.outcome] += 1;
    const refusal = answer.body.results.find((r) => r.outcome === "refused");
    said(`Cancel matching: ${by.done} cancelled, ${by.unchanged} unchanged, ${by.refused} refused.` +
      (refusal ? ` ${refusal.name}: ${refusal.msg}` : ""));
    ui.refresh();
  });

  // Every step of the page's jobs in one request (rarely more: 1,000 a page).
  async function countSteps(names) {
    if (!names.length) { steps = []; return; }
    const query = "-/steps?page_size=1000&filter[job]=" + names.map(encodeURIComponent).join(",");
    const first = await ui.get(`${base}/${query}`, stepsTag);
    if (first.status === 304) return;
    if (!first.ok) { steps = []; return; }
    stepsTag = first.etag;
    steps = first.body.data;
    for (let n = 2; n <= first.body.pagination.total_pages && n <= 20; n++) {
      const more = await ui.get(`${base}/${query}&page=${n}`);
      if (!more.ok) break;
      steps = steps.concat(more.body.data);
      stepsTag = null;  // a later page may change while the first does not
    }
  }

  function counted(name) {
    const count = {};
    for (const step of steps) if (step.job === name) count[step.status] = (count[step.status] || 0) + 1;
    return ui.STATUSES.filter((s) => count[s]).map((s) => `${count[s]} ${s}`).join(" · ") || "—";
  }

  function render() {
    const key = JSON.stringify([jobs, steps]);
    if (key === shown) return;
    shown = key;
    rows.replaceChildren(...jobs.data.map((job) => h("tr", {},
      h("th", {scope: "row"}, h("a", {href: `/ui/workspaces/${encodeURIComponent(workspace)}/jobs/${encodeURIComponent(job.name)}`}, job.name),
        job.description ? h("div", {class: "quiet"}, job.description) : null),
      h("td", {}, ui.badge(job.status)),
      h("td", {}, counted(job.name)),
      h("td", {}, ui.time(job.updated_at)))));
    const {total_pages: pages, total_results: total} = jobs.pagination;
    document.getElementById("empty").hidden = total > 0;
    document.getElementById("page-of").textContent =
      total ? `Page ${page} of ${pages} · ${total} job${total === 1 ? "" : "s"}` : "";
    document.getElementById("newer").hidden = Number(page) <= 1;
    document.getElementById("older").hidden = Number(page) >= pages;
  }

  function clear() {
    rows.replaceChildren();
    [jobs, jobsTag, steps, stepsTag, shown, counts, countsTag] = [null, null, [], null, "", null, null];
    showCounts();
    document.getElementById("page-of").textContent = "";
    document.getElementById("empty").hidden = true;
  }

  if (!("badName" in main.dataset)) ui.start({tick, clear});  // the page says why it does not
})();
