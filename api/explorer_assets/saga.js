// One saga: its state path, its compensations, its swimlanes, stock and money, its parked messages and the
// operator's buttons; it follows the saga's events live.

import { Refused, get, post, segment, traceUrl, vocabulary } from "./api.js";
import { compensations, drawSaga, glyph, LANES } from "./diagram.js";
import { duration, h, shortId, throttled, time } from "./dom.js";
import { ledger } from "./ledger.js";
import { count, outcome } from "./list.js";
import { followEvents } from "./live.js";
import { showPayload } from "./payload.js";
import { deadLetterTable } from "./operator.js";

const FINAL = ["COMPLETED", "FAILED"];

/** The saga, its events and its order; a saga just launched may not be projected yet, so 404 is waited out. */
export async function loadSaga(orderId, patience = 8000) {
  const id = segment(orderId);
  const deadline = Date.now() + patience;
  for (;;) {
    try {
      const [saga, events, order] = await Promise.all([get(`/sagas/${id}`), get(`/orders/${id}/events`), get(`/orders/${id}`)]);
      return { saga, events, order };
    } catch (error) {
      if (!(error instanceof Refused && error.status === 404) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

export async function expectation(scenario, style) {
  if (!scenario) return null;
  const catalogue = await get("/scenarios");
  const found = catalogue.find((entry) => entry.name === scenario);
  return found ? { title: found.title, ...found.expected[style] } : null;
}

export async function showSaga(orderId, query) {
  const scenario = query.get("scenario");
  const panel = sagaPanel(orderId, { scenario, heading: "h1", actions: true });
  await panel.refresh();
  return {
    title: `Saga ${shortId(orderId)}`,
    element: h("div", { class: "saga-page" }, h("p", { class: "crumbs" }, h("a", { href: "#/" }, "← All sagas")), panel.element),
    start: panel.start,
  };
}

/** A saga's view, refreshed on each of its events: the saga page, and each half of the side-by-side view. */
export function sagaPanel(orderId, { scenario = null, heading = "h2", actions = false, compact = true } = {}) {
  const state = { compact };
  const body = h("div", { class: "saga-body" });
  const element = h("article", { class: "saga", "data-order-id": orderId, "aria-label": `Saga of order ${orderId}` },
    body, actions && operatorActions(orderId));
  let expected = null;
  let expectedLoaded = false;

  let latest = 0;
  async function refresh() {
    const asked = ++latest;
    const data = await loadSaga(orderId);
    if (!expectedLoaded) {
      expected = await expectation(scenario, data.saga.sagaType);
      expectedLoaded = true;
    }
    const children = (await render(data, expected, heading, state, () => refresh())).filter(Boolean);
    if (asked !== latest) return; // a later refresh has the newer saga
    // Read the focus only now: the reader may have moved it while the saga loaded and rendered.
    const focused = document.activeElement;
    const focusKey = focused?.dataset?.messageId || focused?.id;
    body.replaceChildren(...children);
    element.dataset.status = data.saga.status;
    element.dataset.style = data.saga.sagaType;
    const again = focusKey && element.querySelector(`[data-message-id="${CSS.escape(focusKey)}"], #${CSS.escape(focusKey)}`);
    if (focused && element.contains(focused) === false && again) again.focus();
  }

  return {
    element,
    refresh,
    start(signal) {
      const later = throttled(refresh, 300);
      followEvents({ orderId }, { onEvent: later, onOpen: later }, signal);
    },
  };
}

async function render({ saga, events, order }, expected, heading, state, redraw) {
  const vocab = vocabulary();
  const result = outcome(saga.status);
  const done = compensations(saga, vocab);
  const retries = saga.sagaType === "orchestration"
    ? saga.steps.reduce((sum, step) => sum + Math.max(0, step.attempts - 1), 0)
    : null;
  const started = Date.parse(saga.createdAt);
  const trace = traceUrl(events.find((event) => event.traceId)?.traceId);
  const toggle = h("input", { type: "checkbox", id: `compact-${saga.orderId}`, checked: !state.compact,
    onchange: (event) => { state.compact = !event.target.checked; redraw(); } });
  const diagram = drawSaga(saga, events, vocab, { compact: state.compact, onOpen: showPayload });
  const parked = await get(`/admin/dead-letters?orderId=${encodeURIComponent(saga.orderId)}`);
  return [
    h("header", { class: "saga-head" },
      h(heading, {}, `${saga.sagaType === "orchestration" ? "Orchestration" : "Choreography"} · order `, h("code", {}, shortId(saga.orderId))),
      h("p", { class: "badges" },
        h("span", { class: `status status-${result.key}`, "data-final-status": saga.status }, saga.status),
        h("span", { class: `outcome outcome-${result.key}` }, result.text),
        FINAL.includes(saga.status) ? null : h("span", { class: "following" }, "following live…")),
      h("dl", { class: "facts" },
        fact("order", h("code", {}, saga.orderId)),
        fact("order status", order.status),
        fact(saga.sagaType === "orchestration" ? "step in flight" : "latest event", saga.currentStep || "—"),
        saga.reason && fact("reason", saga.reason),
        fact("started", time(saga.createdAt)),
        fact("took", duration(Date.parse(saga.updatedAt) - started)),
        retries !== null && fact("retries", retries),
        fact("compensations", count(done)),
        trace && fact("trace", h("a", { href: trace, target: "_blank", rel: "noopener" }, "open the trace ↗"))),
      expected && verdict(expected, saga, order, done)),
    saga.sagaType === "orchestration" ? statePath(saga, vocab) : statusHistory(saga),
    h("section", { class: "undo", "aria-label": "Compensations" },
      h("h3", {}, "Compensations, in the order they ran"),
      done.length
        ? h("ol", { class: "compensations" }, done.map((name, index) => h("li", { "data-compensation": name }, `undo ${index + 1}: ${name}`)))
        : h("p", { class: "none" }, "None: nothing had to be undone.")),
    h("section", { class: "lanes", "aria-label": "Swimlanes" },
      h("h3", {}, "Who did what, cause → effect"),
      legend(),
      h("p", { class: "toggle" }, toggle, h("label", { for: toggle.id }, " show bookkeeping events (stock levels, funds, replies)")),
      h("div", { class: "diagram-scroll", tabindex: -1 }, diagram)),
    await ledger(order, events),
    parked.items.length ? h("section", { class: "parked" }, h("h3", {}, "Parked messages"), deadLetterTable(parked.items, redraw)) : null,
    historyTable(events, started),
  ];
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/** As handlers/scenarios.py judges a run: a choreography's compensations in any order, an orchestration's in this one. */
function verdict(expected, saga, order, done) {
  const statusOk = expected.sagaStatus === saga.status && expected.status === order.status;
  const wanted = expected.compensations || [];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const compensationsOk = saga.sagaType === "orchestration" ? same(wanted, done) : same([...wanted].sort(), [...done].sort());
  // an orchestration is over once its finishing steps are done too; a choreography's currentStep is its latest event
  const settled = FINAL.includes(saga.status) && !(saga.sagaType === "orchestration" && saga.currentStep);
  const ok = statusOk && compensationsOk;
  return h("p", { class: `verdict ${settled ? (ok ? "ok" : "warn") : ""}`, "data-verdict": settled ? String(ok) : "pending" },
    `Expected (${expected.title}): order ${expected.status}, saga ${expected.sagaStatus}`,
    wanted.length ? `, undo ${wanted.join(" → ")}` : ", nothing undone",
    settled ? (ok ? " — ✓ as expected" : " — ⚠ differs") : " — running…");
}

export function statePath(saga, vocab) {
  const visited = saga.history.map((entry) => entry.state);
  const item = (state) => {
    const seen = visited.includes(state);
    const here = saga.status === state;
    return h("li", { class: `state${seen ? " visited" : ""}${here ? " current" : ""}`, "data-state": state, "data-visited": String(seen) },
      seen ? "✓ " : "", state, h("span", { class: "visually-hidden" }, seen ? " (visited)" : " (not reached)"));
  };
  return h("section", { class: "states", "aria-label": "State path" },
    h("h3", {}, "State path (", h("a", { href: "/docs" }, "the orchestrator's state machine"), ")"),
    h("ol", { class: "state-path forward" }, vocab.statePath.map(item)),
    h("ol", { class: "state-path compensating" }, vocab.failurePath.map(item)),
    h("ol", { class: "visits", "aria-label": "States in the order visited" },
      saga.history.map((entry) => h("li", { "data-state": entry.state }, entry.state, " ", h("small", {}, time(entry.at)),
        entry.reason ? h("small", { class: "reason" }, ` ${entry.reason}`) : null))));
}

function statusHistory(saga) {
  return h("section", { class: "states", "aria-label": "Status history" },
    h("h3", {}, "Status, as derived from what the services did (nobody holds a choreography)"),
    h("ol", { class: "visits" }, saga.history.map((entry) => h("li", { "data-state": entry.state }, entry.state, " ",
      h("small", {}, time(entry.at)), entry.reason ? h("small", { class: "reason" }, ` ${entry.reason}`) : null))));
}

function legend() {
  const item = (kind, text) => h("li", { class: `kind-${kind}` }, glyph(kind), text);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("forward", "forward step"), item("command", "command sent ▸"), item("compensation", "↩ compensation (dashed arrow)"),
    item("failure", "✗ failure"), item("retry", "↻ retry"), item("timeout", "timeout"), item("stuck", "parked: STUCK"),
    item("intervention", "operator"), item("duplicate", "duplicate"), item("bookkeeping", "bookkeeping"));
}

function historyTable(events, started) {
  return h("details", { class: "history" },
    h("summary", {}, `Full history: ${events.length} events, in causal order`),
    h("table", {},
      h("thead", {}, h("tr", {}, ["#", "at", "lane", "event", "message", "caused by", ""].map((n) => h("th", { scope: "col" }, n)))),
      h("tbody", {}, events.map((event, index) => h("tr", {},
        h("td", {}, index + 1),
        h("td", {}, `+${duration(Date.parse(event.timestamp) - started)}`),
        h("td", {}, LANES[event.service] || event.service),
        h("td", {}, event.eventType),
        h("td", {}, h("code", {}, event.messageId)),
        h("td", {}, h("code", {}, event.causationId || "—")),
        h("td", {}, h("button", { type: "button", class: "quiet", onclick: () => showPayload(event) },
          "payload", h("span", { class: "visually-hidden" }, ` of ${event.eventType} ${event.messageId}`))))))));
}

function operatorActions(orderId) {
  const reason = h("input", { id: "intervention-reason", name: "reason", value: "from the Saga Explorer", required: true, maxlength: 500 });
  const said = h("p", { class: "said", role: "status" });
  const act = (action) => async () => {
    try {
      await post(`/admin/sagas/${segment(orderId)}/${action}`, { reason: reason.value });
      said.textContent = `${action}: accepted.`;
    } catch (error) {
      said.textContent = `${action} refused: ${error.message}`;
    }
  };
  return h("section", { class: "operator-actions", "aria-labelledby": "actions-title" },
    h("h3", { id: "actions-title" }, "Operator"),
    h("p", {}, "Send the step in flight again, give up and compensate, or let a STUCK saga go on. Each is recorded on the saga with its reason."),
    h("label", { for: reason.id }, "Reason "), reason, " ",
    h("button", { type: "button", onclick: act("retry") }, "Retry step"), " ",
    h("button", { type: "button", onclick: act("compensate") }, "Compensate"), " ",
    h("button", { type: "button", onclick: act("resume") }, "Resume"),
    said);
}
