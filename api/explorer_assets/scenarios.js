// The scenario launcher: one click runs a scenario in one style or both, then the page follows it live.

import { Refused, get, post, segment } from "./api.js";
import { h } from "./dom.js";

const STYLES = ["choreography", "orchestration"];

export async function showScenarios() {
  const catalogue = await get("/scenarios");
  const said = h("p", { class: "said", role: "status" });
  return {
    title: "Scenarios",
    element: h("section", { class: "scenarios", "aria-labelledby": "scenarios-title" },
      h("h1", { id: "scenarios-title" }, "Scenarios"),
      h("p", { class: "intro" }, "Each button places an order set up to go one way (faults are queued for it when needed), ",
        "then opens its saga and follows it live. “Both” runs it in each style and shows them side by side."),
      said,
      h("ul", { class: "catalogue" }, catalogue.map((scenario) => card(scenario, said)))),
  };
}

function card(scenario, said) {
  const run = (styles) => async (event) => {
    const buttons = event.target.closest("li").querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    said.textContent = `Running “${scenario.title}”…`;
    try {
      const started = await post(`/scenarios/${segment(scenario.name)}/run`, { sagaModes: styles });
      const ids = started.runs.map((one) => encodeURIComponent(one.orderId));
      const query = `?scenario=${encodeURIComponent(scenario.name)}`;
      location.hash = ids.length === 2 ? `#/compare/${ids[0]}/${ids[1]}${query}` : `#/sagas/${ids[0]}${query}`;
    } catch (error) {
      said.textContent = error instanceof Refused && error.status === 409
        ? "Another scenario is still running: wait for it to finish, then try again."
        : `Could not run it: ${error.message}`;
      buttons.forEach((button) => (button.disabled = false));
    }
  };
  const expected = (style) => {
    const outcome = scenario.expected[style];
    const undo = outcome.compensations?.length ? `undo ${outcome.compensations.join(" → ")}` : "nothing undone";
    return h("li", {}, h("strong", {}, style), `: ${outcome.sagaStatus}, ${undo}`);
  };
  const titleId = `scenario-${scenario.name}`;
  return h("li", { class: "scenario", "data-scenario": scenario.name },
    h("h2", { id: titleId }, scenario.title),
    h("p", {}, scenario.description),
    h("ul", { class: "expected", "aria-label": "Expected" }, STYLES.map(expected)),
    h("p", { class: "run" },
      ...STYLES.map((style) => [h("button", { type: "button", "data-style": style, onclick: run([style]) }, `Run in ${style}`), " "]),
      h("button", { type: "button", "data-style": "both", class: "primary", onclick: run(STYLES) }, "Run in both, side by side")));
}
