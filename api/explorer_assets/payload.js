// An event's payload, one click away: a dialog with its message, cause, trace and payload.

import { traceUrl } from "./api.js";
import { h } from "./dom.js";

const dialog = document.getElementById("payload");

export function showPayload(event) {
  document.getElementById("payload-title").textContent = `${event.eventType} (${event.messageId})`;
  const trace = traceUrl(event.traceId);
  const facts = [
    ["service", event.service],
    ["recorded", event.timestamp],
    ["caused by", event.causationId || "—"],
    ["order", event.correlationId || event.orderId || "—"],
    ["trace", trace ? h("a", { href: trace, target: "_blank", rel: "noopener" }, event.traceId) : event.traceId || "—"],
  ];
  document.getElementById("payload-facts").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  document.getElementById("payload-body").textContent = JSON.stringify(event.payload, null, 2);
  dialog.showModal();
}
