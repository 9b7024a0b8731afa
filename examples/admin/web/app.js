"use strict";

// The admin page of the resync example: everything goes through the
// resynchttp API mounted at api/ and its event stream at api/events.

const $ = (sel) => document.querySelector(sel);
let me = null; // the signed-in user's id
let currentRun = null; // the run whose progress is shown

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
  $("#progress-summary").textContent = scopeText(run.Scope) + " started by " + who(run.Initiator) + ": " + run.Status + ".";
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
    body.appendChild(row([new Date(r.CreatedAt).toLocaleString(), scopeText(r.Scope), who(r.Initiator), statusCell(r.Status), added, updated, removed]));
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

async function refresh() {
  try {
    await Promise.all([loadConnections(), loadRuns(), loadHeld(), loadAccountsChoices()]);
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
      if (kind === "completed") notice(scopeText(run.Scope) + " completed: " + run.Status + ".");
      if (kind === "held") notice("Removals held for " + n.Held.ConnectionID + ": an admin must approve or reject them.");
      if (kind === "decided") notice("Held removals of " + n.Held.ConnectionID + ": " + n.Held.Decision.Kind + ".");
    }
    if (run && currentRun === null && run.Initiator && run.Initiator.ID === me) currentRun = run.ID;
    if (run) showProgress(run);
    loadRuns().catch(showError);
    if (kind !== "started") loadHeld().catch(showError);
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
  listen();
  refresh();
}

document.addEventListener("DOMContentLoaded", init);
