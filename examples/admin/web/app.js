"use strict";

// The admin page of the resync example: everything goes through the
// resynchttp API mounted at api/ and its event stream at api/events.

const $ = (sel) => document.querySelector(sel);
let me = null; // the signed-in user's id
let currentRun = null; // the run whose progress is shown
const connections = new Map(); // connection ID -> connection, from the plan
let findingsRun = null; // the run whose findings are shown, or null for all

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch("api" + path, opts);
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const msg = data && (data.detail ? data.title + ": " + data.detail : data.title);
    const err = new Error(msg || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
  return tr;
}

function statusCell(status) {
  return el("td", status, { class: "status-" + status });
}

function notice(text) {
  const p = el("p", text);
  $("#notices").prepend(p);
  while ($("#notices").children.length > 5) $("#notices").lastChild.remove();
}

function showError(err) {
  const p = el("p", err.status === 403 ? "Not allowed: only an admin of this tenant can do this." : String(err.message));
  $("#errors").replaceChildren(p);
}

function clearError() {
  $("#errors").replaceChildren();
}

function scopeText(scope) {
  if (scope.Kind === "personnel") return "Personnel resync";
  const t = (scope.Types || []).join(", ");
  return "Accounts resync (" + t + ")";
}

function who(p) {
  return (p && (p.Name || p.Email || p.ID)) || "the scheduler";
}

// Connections and the accounts form.

async function loadConnections() {
  const plan = await api("POST", "/plan", { Scope: { Kind: "personnel" } });
  const body = $("#connections tbody");
  body.replaceChildren();
  for (const c of plan.Sync) body.appendChild(row([c.Name || c.ID, c.Type, c.Provider, "included"]));
  for (const s of plan.Skip) body.appendChild(row([s.Connection.Name || s.Connection.ID, s.Connection.Type, s.Connection.Provider, s.Reason]));
  for (const c of [...plan.Sync, ...plan.Skip.map((s) => s.Connection)]) connections.set(c.ID, c);
  loadDecideConnections();
}

function connName(id) {
  const c = connections.get(id);
  return (c && c.Name) || id;
}

async function loadAccountsChoices() {
  const type = $("#accounts-type").value;
  const list = $("#accounts-list");
  list.replaceChildren();
  try {
    const plan = await api("POST", "/plan", { Scope: { Kind: "accounts", Types: [type] } });
    if (plan.Sync.length === 0) list.appendChild(el("p", "No connection of this type.", { class: "hint" }));
    for (const c of plan.Sync) {
      const id = "acct-" + c.ID;
      const box = el("input", null, { type: "checkbox", id, value: c.ID, name: "connection" });
      const label = el("label", (c.Name || c.ID) + " (" + c.Provider + ")", { for: id });
      const div = el("div");
      div.append(box, label);
      list.appendChild(div);
    }
  } catch (err) {
    if (err.status === 422) list.appendChild(el("p", "No connection of this type.", { class: "hint" }));
    else showError(err);
  }
}

// Plan, confirm, start.

async function confirmAndStart(scope) {
  clearError();
  let plan;
  try {
    plan = await api("POST", "/plan", { Scope: scope });
  } catch (err) {
    showError(err);
    return;
  }
  $("#confirm-what").textContent = scopeText(plan.Scope) + " of " + plan.Sync.length + " connection(s).";
  const sync = $("#confirm-sync");
  const skip = $("#confirm-skip");
  sync.replaceChildren(...plan.Sync.map((c) => el("li", (c.Name || c.ID) + " — " + c.Type)));
  skip.replaceChildren(...plan.Skip.map((s) => el("li", (s.Connection.Name || s.Connection.ID) + " — " + s.Reason)));
  if (plan.Skip.length === 0) skip.appendChild(el("li", "Nothing."));
  const dlg = $("#confirm");
  dlg.returnValue = "";
  dlg.showModal();
  $("#confirm-ok").focus();
  dlg.addEventListener(
    "close",
    async () => {
      if (dlg.returnValue !== "ok") return;
      try {
        const run = await api("POST", "/runs", { Scope: scope });
        currentRun = run.ID;
        showProgress(run);
      } catch (err) {
        showError(err);
      }
    },
    { once: true },
  );
}

// Progress, history, held removals.

function showProgress(run) {
  if (currentRun !== run.ID) return;
  $("#progress").hidden = false;
  const summary = $("#progress-summary");
  summary.textContent = scopeText(run.Scope) + " started by " + who(run.Initiator) + ": " + run.Status + ".";
  if (findingsText(run.Findings).length > 0) {
    summary.append(" New findings: ");
    runFindingsLinks(summary, run);
    summary.append(".");
  }
  const body = $("#progress-table tbody");
  body.replaceChildren();
  for (const c of run.Connections || []) {
    body.appendChild(row([c.Name || c.ConnectionID, statusCell(c.Status), c.Read, c.Added, c.Updated, c.Removed, c.Error || ""]));
  }
}

async function loadRuns() {
  const runs = await api("GET", "/runs?limit=20");
  const body = $("#runs tbody");
  body.replaceChildren();
  for (const r of runs) {
    let added = 0, updated = 0, removed = 0;
    for (const c of r.Connections || []) {
      added += c.Added;
      updated += c.Updated;
      removed += c.Removed;
    }
    body.appendChild(row([new Date(r.CreatedAt).toLocaleString(), scopeText(r.Scope), who(r.Initiator), statusCell(r.Status), added, updated, removed, runFindingsCell(r)]));
  }
}

async function loadHeld() {
  const held = await api("GET", "/held");
  const list = $("#held-list");
  list.replaceChildren();
  if (held.length === 0) list.appendChild(el("li", "No removal is waiting for a decision."));
  held.forEach((h, i) => {
    const li = el("li");
    li.appendChild(el("p", h.ConnectionID + ": " + h.Removed + " removal(s), " + h.Added + " addition(s), " + h.Updated + " update(s) held — " + h.Reason));
    const label = el("label", "Reason", { for: "held-reason-" + i });
    const input = el("input", null, { id: "held-reason-" + i, type: "text" });
    const approve = el("button", "Approve", { type: "button", id: "approve-" + i });
    const reject = el("button", "Reject", { type: "button", id: "reject-" + i });
    const decide = (verb) => async () => {
      clearError();
      try {
        const sum = await api("POST", "/held/" + encodeURIComponent(h.ID) + "/" + verb, { Reason: input.value });
        notice("Held removals of " + sum.ConnectionID + " " + (verb === "approve" ? "approved" : "rejected") + ".");
        await refresh();
      } catch (err) {
        showError(err);
      }
    };
    approve.addEventListener("click", decide("approve"));
    reject.addEventListener("click", decide("reject"));
    li.append(label, input, approve, reject);
    list.appendChild(li);
  });
}

async function lookUp(ev) {
  ev.preventDefault();
  clearError();
  const person = $("#person-email").value.trim();
  try {
    const recs = await api("GET", "/people/" + encodeURIComponent(person));
    const body = $("#person-results tbody");
    body.replaceChildren();
    let active = 0;
    for (const r of recs) {
      if (r.Active) active++;
      body.appendChild(row([r.ConnectionID, r.Kind, r.Key, r.Record.Status || "", r.Active ? "yes" : "no"]));
    }
    $("#person-results").hidden = recs.length === 0;
    $("#person-summary").textContent =
      recs.length === 0 ? "Nobody by that email or key." : person + ": " + recs.length + " record(s), " + active + " still active.";
  } catch (err) {
    showError(err);
  }
}

// Who holds what: findings, a person's access, linking decisions.

// kindWords names a finding kind, singular and plural.
const kindWords = {
  offboarding_gap: ["offboarding gap", "offboarding gaps"],
  orphaned: ["orphaned account", "orphaned accounts"],
  no_mfa: ["account without MFA", "accounts without MFA"],
  unused: ["unused account", "unused accounts"],
};

function kindText(kind, n) {
  const w = kindWords[kind] || [kind, kind];
  return n === 1 ? w[0] : w[1];
}

// findingsText turns a run's Findings counts into [{kind, n, text}], gaps first.
function findingsText(counts) {
  const order = Object.keys(kindWords);
  return Object.entries(counts || {})
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
    .map(([kind, n]) => ({ kind, n, text: n + " new " + kindText(kind, n) }));
}

// runFindingsLinks appends to parent a link per kind of finding the run
// opened ("1 new offboarding gap"), each to the findings it opened.
function runFindingsLinks(parent, r) {
  findingsText(r.Findings).forEach((f, i) => {
    if (i > 0) parent.append(", ");
    const a = el("a", f.text, { href: "#findings-h", class: "run-finding", "data-run": r.ID, "data-kind": f.kind });
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      showRunFindings(r, f.kind);
    });
    parent.appendChild(a);
  });
}

function runFindingsCell(r) {
  const td = el("td");
  if (findingsText(r.Findings).length === 0) td.textContent = "none";
  runFindingsLinks(td, r);
  return td;
}

// showRunFindings lists the findings of one kind a run opened.
function showRunFindings(r, kind) {
  clearError();
  findingsRun = { id: r.ID, text: scopeText(r.Scope) + " of " + new Date(r.CreatedAt).toLocaleString() };
  $("#findings-kind").value = kind;
  loadFindings()
    .then(() => $("#findings-h").focus())
    .catch(showError);
}

async function loadFindings() {
  const params = new URLSearchParams({ limit: "1000" });
  const kind = $("#findings-kind").value;
  if (kind) params.set("kind", kind);
  if (findingsRun) params.set("run", findingsRun.id);
  else if (!$("#findings-closed").checked) params.set("open", "true");
  const page = await api("GET", "/findings?" + params);
  const fs = page.Findings.slice().reverse(); // latest first
  $("#findings-run").hidden = !findingsRun;
  $("#findings-run-text").textContent = findingsRun ? "Findings opened by the " + findingsRun.text + "." : "";
  const counts = {};
  let open = 0;
  for (const f of fs) {
    if (!f.ClosedAt) {
      open++;
      counts[f.Kind] = (counts[f.Kind] || 0) + 1;
    }
  }
  const parts = Object.entries(counts).map(([k, n]) => n + " " + kindText(k, n));
  $("#findings-summary").textContent =
    (fs.length === 0 ? "No finding." : open + " open: " + (parts.join(", ") || "none") + (fs.length > open ? "; " + (fs.length - open) + " closed." : ".")) +
    (page.Next ? " Only the first 1000 are listed: choose a kind to narrow them." : "");
  const body = $("#findings-table tbody");
  body.replaceChildren();
  for (const f of fs) {
    const person = el("td");
    if (f.PersonID) {
      const b = el("button", f.PersonID, { type: "button", class: "link", "aria-label": "Access of " + f.PersonID });
      b.addEventListener("click", () => {
        clearError();
        showAccess(f.PersonID)
          .then(() => $("#access-h").focus())
          .catch(showError);
      });
      person.appendChild(b);
    } else person.textContent = "nobody";
    const opened = new Date(f.OpenedAt).toLocaleString() + (f.OpenedRun ? " (run " + f.OpenedRun + ")" : "");
    const status = f.ClosedAt ? "closed " + new Date(f.ClosedAt).toLocaleString() : "open";
    const tr = row([kindText(f.Kind, 1), connName(f.ConnectionID), f.AccountKey, person, f.Detail || "", opened, status, decideCell(f.ConnectionID, f.AccountKey)]);
    tr.dataset.kind = f.Kind;
    tr.dataset.account = f.AccountKey;
    tr.dataset.open = f.ClosedAt ? "false" : "true";
    body.appendChild(tr);
  }
}

// decideCell is a button that fills the decision form for one account.
function decideCell(connectionID, accountKey) {
  const td = el("td");
  const b = el("button", "Decide…", { type: "button", "aria-label": "Decide on " + connName(connectionID) + " account " + accountKey });
  b.addEventListener("click", () => {
    $("#decide-connection").value = connectionID;
    $("#decide-account").value = accountKey;
    $("#decide-reason").focus();
  });
  td.appendChild(b);
  return td;
}

let accessShown = null; // the person whose access is shown

async function showAccess(person) {
  const a = await api("GET", "/people/" + encodeURIComponent(person) + "/access");
  accessShown = a.Person.ID;
  $("#access-person").value = person;
  const p = a.Person;
  let text = (p.Name || p.ID) + (p.Email ? " (" + p.Email + ")" : "") + ": status " + (p.Status || "unknown");
  if (p.LoginStatus) text += ", login " + p.LoginStatus;
  if (p.EndDate) text += ", left " + p.EndDate.slice(0, 10);
  text += p.Offboarded ? " — offboarded (" + p.OffboardedWhy + ")" : "";
  const accts = a.Accounts || [];
  const active = accts.filter((x) => x.Link.Active).length;
  text += ". " + accts.length + " account(s), " + active + " active.";
  $("#access-summary").textContent = text;
  const ids = $("#access-identities tbody");
  ids.replaceChildren();
  for (const r of p.Identities || []) {
    const status = r.RemovedAt ? "removed" : (r.Record && r.Record.Status) || "";
    ids.appendChild(row([connName(r.ConnectionID), r.Key, (r.Record && r.Record.Email) || "", status]));
  }
  $("#access-identities").hidden = (p.Identities || []).length === 0;
  const body = $("#access-accounts tbody");
  body.replaceChildren();
  for (const x of accts) {
    const rec = x.Account.Record || {};
    const tr = row([connName(x.Link.ConnectionID), x.Link.AccountKey, rec.Username || "", rec.Status || "", el("td", x.Link.Situation, { class: "situation-" + x.Link.Situation }), x.Link.Rule || "", decideCell(x.Link.ConnectionID, x.Link.AccountKey)]);
    tr.dataset.account = x.Link.AccountKey;
    body.appendChild(tr);
  }
  $("#access-accounts").hidden = accts.length === 0;
}

function loadDecideConnections() {
  const sel = $("#decide-connection");
  const keep = sel.value;
  sel.replaceChildren();
  for (const c of connections.values()) {
    if (c.Type === "idp" || c.Type === "hris") continue; // their identities are the people
    sel.appendChild(el("option", (c.Name || c.ID) + " (" + c.Type + ")", { value: c.ID }));
  }
  if (keep) sel.value = keep;
}

async function loadDecisions() {
  // Decisions are listed oldest first: page through, keep the latest 20.
  let ds = [];
  for (let after = 0; ; ) {
    const page = await api("GET", "/decisions?limit=1000&after=" + after);
    ds = ds.concat(page).slice(-20);
    if (page.length < 1000) break;
    after = page[page.length - 1].Seq;
  }
  const body = $("#decisions tbody");
  body.replaceChildren();
  if (ds.length === 0) body.appendChild(row([el("td", "No decision yet.", { colspan: "7" })]));
  for (const d of ds.reverse()) {
    body.appendChild(row([new Date(d.At).toLocaleString(), who(d.By), connName(d.ConnectionID), d.AccountKey, d.Kind, d.Person || "", d.Reason]));
  }
}

async function decide(ev) {
  ev.preventDefault();
  clearError();
  const body = {
    ConnectionID: $("#decide-connection").value,
    AccountKey: $("#decide-account").value.trim(),
    Kind: $("#decide-kind").value,
    Person: $("#decide-person").value.trim(),
    Reason: $("#decide-reason").value.trim(),
  };
  if (body.Kind === "unlink" || body.Kind === "clear") body.Person = ""; // these name no one
  if (body.Reason === "") {
    showError(new Error("A decision needs a reason."));
    $("#decide-reason").focus();
    return;
  }
  try {
    const d = await api("POST", "/decisions", body);
    notice("Decision recorded: " + connName(d.ConnectionID) + " account " + d.AccountKey + " — " + d.Kind + (d.Person ? " " + d.Person : "") + ".");
    $("#decide-reason").value = "";
    await Promise.all([loadFindings(), loadDecisions(), accessShown ? showAccess(accessShown) : null]);
  } catch (err) {
    showError(err);
  }
}

async function refresh() {
  try {
    await Promise.all([loadConnections(), loadRuns(), loadHeld(), loadAccountsChoices(), loadFindings(), loadDecisions()]);
  } catch (err) {
    showError(err);
  }
}

// The event stream: lifecycle notices for this user, progress of every run.

function listen() {
  const src = new EventSource("api/events");
  const lifecycle = (kind) => (ev) => {
    const n = JSON.parse(ev.data);
    const mine = (n.Recipients || []).some((p) => p.ID === me);
    const run = n.Run;
    if (mine) {
      if (kind === "started") notice(scopeText(run.Scope) + " started by " + who(run.Initiator) + ".");
      if (kind === "completed") {
        const found = findingsText(run.Findings);
        notice(scopeText(run.Scope) + " completed: " + run.Status + (found.length > 0 ? ", " + found.map((f) => f.text).join(", ") : "") + ".");
      }
      if (kind === "held") notice("Removals held for " + n.Held.ConnectionID + ": an admin must approve or reject them.");
      if (kind === "decided") notice("Held removals of " + n.Held.ConnectionID + ": " + n.Held.Decision.Kind + ".");
    }
    if (run && currentRun === null && run.Initiator && run.Initiator.ID === me) currentRun = run.ID;
    if (run) showProgress(run);
    loadRuns().catch(showError);
    if (kind !== "started") {
      loadHeld().catch(showError);
      loadFindings().catch(showError);
      loadDecisions().catch(showError);
      if (accessShown) showAccess(accessShown).catch(showError);
    }
  };
  for (const kind of ["started", "completed", "held", "decided"]) src.addEventListener(kind, lifecycle(kind));
  src.addEventListener("progress", (ev) => showProgress(JSON.parse(ev.data)));
  src.onerror = () => {}; // EventSource reconnects by itself, sending Last-Event-ID
}

function init() {
  me = (document.cookie.match(/(?:^|; )resync_user=([^;]*)/) || [])[1] || "u-ada";
  $("#who").value = me;
  $("#who").addEventListener("change", () => {
    document.cookie = "resync_user=" + $("#who").value + "; path=/; SameSite=Strict";
    location.reload();
  });
  $("#resync-personnel").addEventListener("click", () => confirmAndStart({ Kind: "personnel" }));
  $("#accounts-type").addEventListener("change", () => loadAccountsChoices());
  $("#accounts-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const ids = [...document.querySelectorAll("#accounts-list input:checked")].map((b) => b.value);
    const scope = { Kind: "accounts", Types: [$("#accounts-type").value] };
    if (ids.length > 0) scope.ConnectionIDs = ids;
    confirmAndStart(scope);
  });
  $("#person-form").addEventListener("submit", lookUp);
  $("#findings-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearError();
    loadFindings().catch(showError);
  });
  $("#findings-all").addEventListener("click", () => {
    findingsRun = null;
    $("#findings-kind").value = "";
    $("#findings-closed").checked = false;
    loadFindings().catch(showError);
  });
  $("#access-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearError();
    showAccess($("#access-person").value.trim()).catch(showError);
  });
  $("#decide-form").addEventListener("submit", decide);
  listen();
  refresh();
}

document.addEventListener("DOMContentLoaded", init);
