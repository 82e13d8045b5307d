// One saga drawn as a sequence diagram: a swimlane per participant, its events down the page in causal order
// (with their time on the left, and a gap where time stood still), an arrow from each event's cause to it.
// Everything is read from the events; the domain's names come from /explorer/config.

import { duration, s } from "./dom.js";

export const LANES = {
  orchestrator: "Orchestrator",
  orders: "Order",
  inventory: "Inventory",
  payments: "Payment",
  shipping: "Shipping",
};
const CHOREOGRAPHY = ["orders", "inventory", "payments", "shipping"];
const ORCHESTRATION = ["orchestrator", ...CHOREOGRAPHY];
const LANE = 178;
const AXIS = 64;
const HEAD = 44;
const ROW = 28;
const GAP = 22;
const PAUSE_MS = 250;
const LABEL_CHARS = 24;

/** What an event is, for the reader: each kind has its own shape and label mark, not only its colour. */
export function kindOf(event, vocabulary) {
  const type = event.eventType;
  if (type === "CommandDispatched") {
    if (vocabulary.compensationSteps.includes(event.payload.step)) return "compensation";
    return event.payload.attempt > 1 ? "retry" : "command";
  }
  if (type in vocabulary.compensatedBy) return "compensation";
  if (vocabulary.failureEvents.includes(type) || type === "StepFailed") return "failure";
  if (type === "StepTimedOut") return "timeout";
  if (type === "SagaStuck") return "stuck";
  if (type === "SagaIntervened") return "intervention";
  if (type === "ReplyRepeated") return "duplicate";
  if (type === "SagaStateChanged") return "state";
  if (vocabulary.bookkeepingEvents.includes(type)) return "bookkeeping";
  return "forward";
}

export function label(event, kind) {
  const p = event.payload;
  switch (kind) {
    case "command":
      return `${p.command} ▸`;
    case "retry":
      return `↻ ${p.command} (try ${p.attempt})`;
    case "compensation":
      return event.eventType === "CommandDispatched" ? `↩ ${p.command} ▸` : `↩ ${event.eventType}`;
    case "failure":
      return `✗ ${event.eventType === "StepFailed" ? `${p.step} failed` : event.eventType}`;
    case "timeout":
      return `timeout: ${p.step} (try ${p.attempt})`;
    case "stuck":
      return "parked: STUCK";
    case "intervention":
      return `operator: ${p.action}`;
    case "duplicate":
      return "duplicate: answered again";
    case "state":
      return `→ ${p.state}`;
    default:
      return event.eventType;
  }
}

/** The compensating steps that ran, as GET /sagas counts them: in the order the orchestrator sent them, or in a
 * choreography in the order the services recorded them (nobody orders them there). */
export function compensations(saga, vocabulary) {
  if (saga.sagaType === "orchestration") {
    return saga.steps.filter((step) => step.kind === "compensation").map((step) => step.step);
  }
  return [...new Set(saga.steps.map((step) => vocabulary.compensatedBy[step.event]).filter(Boolean))];
}

/** The lanes of the saga's style, and the SVG drawing its events (all of them, or without the bookkeeping). */
export function drawSaga(saga, events, vocabulary, { compact = true, onOpen } = {}) {
  const lanes = saga.sagaType === "orchestration" ? ORCHESTRATION : CHOREOGRAPHY;
  const kinds = new Map(events.map((event) => [event, kindOf(event, vocabulary)]));
  const shown = events.filter((event) => !compact || kinds.get(event) !== "bookkeeping");
  const placed = place(shown, lanes);
  const height = placed.bottom + 24;
  const width = AXIS + lanes.length * LANE + 8;
  const svg = s("svg", {
    class: "saga-diagram",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": `${saga.sagaType} saga of order ${saga.orderId}: ${shown.length} events across ${lanes.length} lanes`,
    "data-style": saga.sagaType,
  });
  svg.append(defs(), ...lanes.map((lane, index) => laneOf(lane, index, height, events)));
  svg.append(...placed.gaps.map(({ y, ms }) => s("text", { class: "gap", x: 6, y }, `⋯ ${duration(ms)}`)));
  svg.append(...arrows(events, placed.at, kinds));
  let undo = 0;
  const numbered = saga.sagaType === "orchestration" ? (e) => e.eventType === "CommandDispatched" : () => true;
  for (const event of shown) {
    const kind = kinds.get(event);
    const number = kind === "compensation" && numbered(event) ? ++undo : null;
    const at = placed.at.get(event);
    svg.append(s("text", { x: 6, y: at.y + 4, class: "offset", "aria-hidden": "true" }, `+${duration(Date.parse(event.timestamp) - placed.start)}`));
    svg.append(node(event, kind, at, placed.start, number, onOpen));
  }
  return svg;
}

function place(events, lanes) {
  const at = new Map();
  const gaps = [];
  let y = HEAD + 22;
  let previous = null;
  const start = events.length ? Date.parse(events[0].timestamp) : 0;
  for (const event of events) {
    const moment = Date.parse(event.timestamp);
    if (previous !== null && moment - previous > PAUSE_MS) {
      gaps.push({ y: y + 4, ms: moment - previous });
      y += GAP;
    }
    const lane = Math.max(0, lanes.indexOf(event.service));
    at.set(event, { x: AXIS + lane * LANE + 18, y });
    previous = Math.max(previous ?? moment, moment);
    y += ROW;
  }
  return { at, gaps, start, bottom: y };
}

function defs() {
  const marker = (id) =>
    s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: id }));
  return s("defs", {}, marker("head-forward"), marker("head-compensation"), marker("head-failure"));
}

function laneOf(lane, index, height, events) {
  const x = AXIS + index * LANE;
  const used = events.some((event) => event.service === lane);
  return s(
    "g",
    { class: "lane", "data-lane": lane, "data-empty": String(!used) },
    s("rect", { x: x + 2, y: 4, width: LANE - 8, height: 26, rx: 4, class: "lane-head" }),
    s("text", { x: x + 10, y: 22, class: "lane-name" }, LANES[lane]),
    s("line", { x1: x + 18, y1: 30, x2: x + 18, y2: height - 8, class: "lifeline" }),
  );
}

/** Where each event's cause is: the event it reacted to, or the command (a CommandDispatched) it was sent. */
function causes(events) {
  const byId = new Map();
  for (const event of events) {
    if (event.messageId) byId.set(event.messageId, event);
    if (event.eventType === "CommandDispatched" && event.payload.messageId) byId.set(event.payload.messageId, event);
  }
  return (event) => byId.get(event.causationId);
}

function arrows(events, at, kinds) {
  const causeOf = causes(events);
  const drawn = [];
  for (const event of events) {
    const to = at.get(event);
    if (!to) continue;
    let cause = causeOf(event);
    const seen = new Set();
    while (cause && !at.has(cause) && !seen.has(cause)) {
      seen.add(cause); // a hidden cause: its own cause stands in for it
      cause = causeOf(cause);
    }
    const from = cause && at.get(cause);
    if (!from || cause === event) continue;
    const kind = [kinds.get(event), kinds.get(cause)].includes("compensation")
      ? "compensation"
      : kinds.get(event) === "failure" ? "failure" : "forward";
    drawn.push(s("path", { d: curve(from, to), class: `arrow arrow-${kind}`, "marker-end": `url(#head-${kind})` }));
  }
  return drawn;
}

function curve(from, to) {
  if (from.x === to.x) {
    const bend = from.x - 16;
    return `M${from.x - 6},${from.y} C${bend},${from.y} ${bend},${to.y} ${to.x - 7},${to.y - 2}`;
  }
  const direction = to.x > from.x ? 1 : -1;
  return `M${from.x + 7 * direction},${from.y} L${to.x - 8 * direction},${to.y}`;
}

/** The shape of a kind of event, alone: the legend's key. */
export function glyph(kind) {
  return s("svg", { class: "saga-diagram glyph", width: 18, height: 18, viewBox: "0 0 18 18", "aria-hidden": "true" },
    s("g", { class: `event kind-${kind}` }, shape(kind, 9, 9)));
}

function shape(kind, x, y) {
  const points = (list) => list.map(([dx, dy]) => `${x + dx},${y + dy}`).join(" ");
  switch (kind) {
    case "compensation":
      return s("polygon", { points: points([[0, -7], [7, 0], [0, 7], [-7, 0]]) });
    case "failure":
      return s("rect", { x: x - 6, y: y - 6, width: 12, height: 12 });
    case "timeout":
      return s("polygon", { points: points([[-6, -6], [6, -6], [-6, 6], [6, 6]]) });
    case "stuck":
      return s("polygon", { points: points([[-3, -7], [3, -7], [7, -3], [7, 3], [3, 7], [-3, 7], [-7, 3], [-7, -3]]) });
    case "intervention":
      return s("polygon", { points: points([[0, -8], [2, -2], [8, -2], [3, 2], [5, 8], [0, 4], [-5, 8], [-3, 2], [-8, -2], [-2, -2]]) });
    case "bookkeeping":
      return s("circle", { cx: x, cy: y, r: 3 });
    case "retry":
    case "duplicate":
      return s("g", {}, s("circle", { cx: x, cy: y, r: 7 }), s("circle", { cx: x, cy: y, r: 3 }));
    default:
      return s("circle", { cx: x, cy: y, r: 6 });
  }
}

function node(event, kind, { x, y }, start, undo, onOpen) {
  const text = label(event, kind);
  const short = text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
  const offset = Date.parse(event.timestamp) - start;
  const open = () => onOpen?.(event);
  return s(
    "g",
    {
      class: `event kind-${kind}`,
      tabindex: 0,
      role: "button",
      "aria-label": `${text}${undo ? `, undo ${undo}` : ""}, by ${LANES[event.service] || event.service} at +${duration(offset)}: show its payload`,
      "data-type": event.eventType,
      "data-kind": kind,
      "data-message-id": event.messageId,
      "data-undo": undo ?? undefined,
      onclick: open,
      onkeydown: (key) => {
        if (key.key === "Enter" || key.key === " ") {
          key.preventDefault();
          open();
        }
      },
    },
    s("title", {}, `${event.messageId}: ${text}${event.causationId ? `, caused by ${event.causationId}` : ""}`),
    s("rect", { x: x - 10, y: y - 11, width: LANE - 14, height: 22, class: "hit" }),
    shape(kind, x, y),
    s("text", { x: x + 12, y: y + 4, class: "label" }, short),
    undo && s("text", { x: x + 12, y: y - 8, class: "undo" }, `undo ${undo}`),
  );
}
