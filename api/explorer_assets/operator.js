// The operator's switchboard: faults on and off, and the parked messages (redrive or discard).

import { get, post, remove } from "./api.js";
import { h, shortId, throttled, time } from "./dom.js";
import { followEvents } from "./live.js";

const SERVICES = ["inventory", "payments", "shipping"];
const FAULTS = [["fail", "fail (the service records a failure)"], ["timeout", "timeout (it never answers)"]];

export async function showOperator() {
  const faults = h("div", { class: "pending-faults", role: "status" });
  const parked = h("div", { class: "dead-letters" });

  let latest = 0;
  async function refresh() {
    const asked = ++latest;
    const [pending, letters] = await Promise.all([get("/admin/faults"), get("/admin/dead-letters?status=PARKED&limit=100")]);
    if (asked !== latest) return; // a later refresh (after a click, or an event) has the newer answer
    faults.replaceChildren(faultList(pending.pending));
    parked.replaceChildren(letters.items.length
      ? deadLetterTable(letters.items, refresh)
      : h("p", { class: "none" }, "Nothing is parked: every message was handled."));
  }

  await refresh();
  return {
    title: "Operator",
    element: h("section", { class: "operator", "aria-labelledby": "operator-title" },
      h("h1", { id: "operator-title" }, "Operator"),
      h("section", { "aria-labelledby": "faults-title" },
        h("h2", { id: "faults-title" }, "Faults"),
        h("p", {}, "Break a service on purpose: its next operations fail or never answer, then watch the sagas compensate."),
        faultForm(refresh),
        faults),
      h("section", { "aria-labelledby": "parked-title" },
        h("h2", { id: "parked-title" }, "Parked messages"),
        h("p", {}, "What a consumer could not handle after its retries; the saga it belongs to is STUCK until you act."),
        parked)),
    start(signal) {
      const later = throttled(refresh, 500);
      followEvents(null, { onEvent: later, onOpen: later }, signal);
    },
  };
}

function faultForm(refresh) {
  const said = h("p", { class: "said", role: "status" });
  const select = (id, options) => h("select", { id, name: id }, options.map(([value, text]) => h("option", { value }, text)));
  const service = select("fault-service", SERVICES.map((name) => [name, name]));
  const fault = select("fault-kind", FAULTS);
  const times = h("input", { id: "fault-times", name: "times", type: "number", min: 1, max: 100, value: 1 });
  const form = h("form", { class: "fault-form" },
    h("label", { for: service.id }, "Service "), service, " ",
    h("label", { for: fault.id }, "Fault "), fault, " ",
    h("label", { for: times.id }, "Times "), times, " ",
    h("button", { type: "submit" }, "Inject fault"), " ",
    h("button", { type: "button", onclick: async () => {
      await remove("/admin/faults");
      said.textContent = "Every fault cleared.";
      await refresh();
    } }, "Clear all faults"),
    said);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post("/admin/faults", { service: service.value, fault: fault.value, times: Number(times.value) });
    said.textContent = `Queued: ${times.value} × ${fault.value} for ${service.value}.`;
    await refresh();
  });
  return form;
}

function faultList(pending) {
  const queued = Object.entries(pending).filter(([, list]) => list.length);
  if (!queued.length) return h("p", { class: "none", "data-faults": "0" }, "No fault queued: every service behaves.");
  return h("ul", { class: "faults", "data-faults": String(queued.reduce((n, [, list]) => n + list.length, 0)) },
    queued.map(([service, list]) => h("li", { "data-service": service }, `${service}: next ${list.length} → ${list.join(", ")}`)));
}

/** Parked messages with their buttons; ``changed`` runs after an operator acted on one. */
export function deadLetterTable(letters, changed) {
  const act = (letter, action) => async (event) => {
    const cell = event.target.closest("td");
    try {
      await post(`/admin/dead-letters/${letter.id}/${action}`);
      await changed();
    } catch (error) {
      cell.append(h("span", { class: "error", role: "alert" }, ` ${action} refused: ${error.message}`));
    }
  };
  return h("table", { class: "parked-messages" },
    h("thead", {}, h("tr", {}, ["#", "order", "message", "consumer", "error", "tries", "parked", "status", ""].map((n) => h("th", { scope: "col" }, n)))),
    h("tbody", {}, letters.map((letter) => h("tr", { "data-dead-letter": letter.id },
      h("td", {}, letter.id),
      h("td", {}, letter.orderId ? h("a", { href: `#/sagas/${encodeURIComponent(letter.orderId)}` }, shortId(letter.orderId)) : "—"),
      h("td", {}, letter.messageType || "unreadable"),
      h("td", {}, letter.consumer),
      h("td", {}, `${letter.errorType}: ${letter.error}`),
      h("td", {}, letter.attempts),
      h("td", {}, time(letter.parkedAt)),
      h("td", {}, letter.status),
      h("td", {}, letter.status === "PARKED" ? [
        h("button", { type: "button", onclick: act(letter, "redrive") }, "Redrive"), " ",
        h("button", { type: "button", onclick: act(letter, "discard") }, "Discard"),
      ] : "")))));
}
