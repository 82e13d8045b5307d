// The live list of sagas, both styles, a page at a time: it follows the event stream and reloads its page.

import { get, vocabulary } from "./api.js";
import { duration, h, shortId, throttled, time } from "./dom.js";
import { followEvents } from "./live.js";

const PAGE = 50;
const STYLES = ["choreography", "orchestration"];

export function outcome(status) {
  if (status === "COMPLETED") return { key: "completed", text: "✓ completed" };
  if (status === "FAILED") return { key: "compensated", text: "↩ compensated" };
  if (status === "STUCK") return { key: "stuck", text: "⚠ stuck" };
  return { key: "running", text: "… running" };
}

export function count(value) {
  return Array.isArray(value) ? value.length : value ?? 0;
}

export async function showList(query, left) {
  const filters = {
    sagaType: query.get("sagaType") || "",
    status: query.get("status") || "",
    offset: Number(query.get("offset")) || 0,
  };
  const body = h("tbody", {});
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of sagas" });
  const element = h(
    "section",
    { class: "list", "aria-labelledby": "list-title" },
    h("h1", { id: "list-title" }, "Sagas"),
    h("p", { class: "intro" }, "Every saga of this service, newest first, as it moves. Open one to see it drawn, ",
      "or run a scenario from ", h("a", { href: "#/scenarios" }, "Scenarios"), "."),
    filterForm(filters, () => reload()),
    summary,
    h("table", { class: "sagas" },
      h("caption", { class: "visually-hidden" }, "Sagas, newest first"),
      h("thead", {}, h("tr", {}, ["Order", "Style", "Status", "Outcome", "Reason", "Duration", "Retries", "Compensations", "Updated"]
        .map((name) => h("th", { scope: "col" }, name)))),
      body),
    pager,
  );

  let latest = 0;
  async function reload() {
    const asked = ++latest;
    const params = new URLSearchParams({ limit: PAGE, offset: filters.offset });
    if (filters.sagaType) params.set("sagaType", filters.sagaType);
    if (filters.status) params.set("status", filters.status);
    const page = await get(`/sagas?${params}`);
    if (asked !== latest) return; // a later reload (a filter changed, an event came) has the newer answer
    if (left?.aborted) return; // the reader went on to another view: the address is that view's now
    const focused = document.activeElement?.dataset?.orderId;
    body.replaceChildren(...page.items.map(row));
    if (!page.items.length) body.append(h("tr", {}, h("td", { colspan: 9 }, "No saga yet: run a scenario.")));
    const last = Math.min(filters.offset + page.items.length, page.total);
    summary.textContent = page.total ? `${filters.offset + 1}–${last} of ${page.total.toLocaleString("en")} sagas` : "";
    summary.dataset.total = page.total;
    pager.replaceChildren(...pageLinks(filters, page.total));
    if (focused) body.querySelector(`[data-order-id="${CSS.escape(focused)}"]`)?.focus();
    const params2 = new URLSearchParams(Object.entries(filters).filter(([, value]) => value));
    history.replaceState(null, "", `#/${params2.size ? `?${params2}` : ""}`);
  }

  await reload();
  performance.mark("sagas-listed");
  return {
    title: "Sagas",
    element,
    start(signal) {
      const refresh = throttled(reload, 500);
      followEvents(null, { onEvent: refresh, onOpen: refresh }, signal);
    },
  };
}

function row(saga) {
  const result = outcome(saga.status);
  const link = h("a", { href: `#/sagas/${encodeURIComponent(saga.orderId)}`, "data-order-id": saga.orderId },
    h("code", {}, shortId(saga.orderId)));
  return h(
    "tr",
    { "data-status": saga.status, "data-style": saga.sagaType, onclick: (event) => event.target === link || link.click() },
    h("td", {}, link),
    h("td", {}, saga.sagaType),
    h("td", {}, h("span", { class: `status status-${result.key}` }, saga.status)),
    h("td", {}, h("span", { class: `outcome outcome-${result.key}` }, result.text)),
    h("td", { class: "reason", title: saga.reason || "" }, saga.reason || "—"),
    h("td", { class: "number" }, duration(saga.durationMs)),
    h("td", { class: "number" }, count(saga.retries)),
    h("td", { class: "number" }, count(saga.compensations)),
    h("td", {}, time(saga.updatedAt)),
  );
}

function filterForm(filters, changed) {
  const statuses = vocabulary().statuses;
  const select = (id, label, name, options) => [
    h("label", { for: id }, label),
    h("select", { id, name, onchange: (event) => {
      filters[name] = event.target.value;
      filters.offset = 0;
      changed();
    } }, options.map(([value, text]) => h("option", { value, selected: filters[name] === value }, text))),
  ];
  return h("form", { class: "filters", role: "search", "aria-label": "Filter sagas", onsubmit: (e) => e.preventDefault() },
    select("filter-style", "Style", "sagaType", [["", "both styles"], ...STYLES.map((style) => [style, style])]),
    select("filter-status", "Status", "status", [["", "any status"], ...statuses.map((status) => [status, status])]));
}

function pageLinks(filters, total) {
  const link = (label, offset, disabled) => {
    if (disabled) return h("span", { class: "disabled", "aria-disabled": "true" }, label);
    const params = new URLSearchParams(Object.entries({ ...filters, offset }).filter(([, value]) => value));
    return h("a", { href: `#/?${params}` }, label);
  };
  return [
    link("← Newer", Math.max(0, filters.offset - PAGE), filters.offset === 0),
    link("Older →", filters.offset + PAGE, filters.offset + PAGE >= total),
  ];
}
