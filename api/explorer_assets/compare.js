// The same scenario in both styles, next to each other: where choreography and orchestration differ.

import { h, shortId } from "./dom.js";
import { sagaPanel } from "./saga.js";

export async function showCompare(left, right, query) {
  const scenario = query.get("scenario");
  const panels = [sagaPanel(left, { scenario }), sagaPanel(right, { scenario })];
  await Promise.all(panels.map((panel) => panel.refresh()));
  return {
    title: `Side by side ${shortId(left)} · ${shortId(right)}`,
    element: h("section", { class: "compare", "aria-labelledby": "compare-title" },
      h("p", { class: "crumbs" }, h("a", { href: "#/" }, "← All sagas"), " · ", h("a", { href: "#/scenarios" }, "Scenarios")),
      h("h1", { id: "compare-title" }, scenario ? `“${scenario}”, side by side` : "Side by side"),
      h("p", { class: "intro" }, "In a choreography each service reacts to the others' events and nobody holds the saga; ",
        "in an orchestration the orchestrator sends one command at a time and decides what comes next. ",
        "Same order, same outcome, different conversations."),
      h("div", { class: "side-by-side" }, panels.map((panel) => panel.element))),
    start(signal) {
      for (const panel of panels) panel.start(signal);
    },
  };
}
