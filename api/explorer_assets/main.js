// The shell: sign-in, the hash router, and one live view at a time (each stops following when left).

import { Unauthorised, loadConfig, signIn, signOut, token } from "./api.js";
import { h } from "./dom.js";
import { showCompare } from "./compare.js";
import { showList } from "./list.js";
import { showOperator } from "./operator.js";
import { showSaga } from "./saga.js";
import { showScenarios } from "./scenarios.js";

const main = document.getElementById("main");
let current = null;

const ROUTES = [
  [/^#\/sagas\/([^/]+)$/, (m, query) => showSaga(decodeURIComponent(m[1]), query)],
  [/^#\/compare\/([^/]+)\/([^/]+)$/, (m, query) => showCompare(decodeURIComponent(m[1]), decodeURIComponent(m[2]), query)],
  [/^#\/scenarios$/, () => showScenarios()],
  [/^#\/operator$/, () => showOperator()],
  [/^#\/?$/, (m, query, signal) => showList(query, signal)],
];

async function route() {
  current?.abort();
  current = new AbortController();
  const signal = current.signal;
  const hash = location.hash || "#/";
  const [path, search] = hash.split("?");
  const [pattern, show] = ROUTES.find(([candidate]) => candidate.test(path)) || ROUTES.at(-1);
  markCurrentLink(path);
  try {
    const view = await show(path.match(pattern) || [], new URLSearchParams(search || ""), signal);
    if (signal.aborted) return;
    main.replaceChildren(view.element);
    view.start?.(signal);
    document.title = `${view.title} · CloudMart Saga Explorer`;
  } catch (error) {
    if (error instanceof Unauthorised) return askForToken();
    main.replaceChildren(h("section", { class: "problem" }, h("h1", {}, "Something went wrong"), h("p", {}, error.message)));
  }
}

function markCurrentLink(path) {
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.getAttribute("href") === path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function askForToken(problem) {
  signOut();
  document.getElementById("sign-out").hidden = true;
  const input = h("input", { id: "token", type: "password", name: "token", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in as the operator"),
    h("p", {}, "The Explorer shows every saga, which only the operator may see. Paste the admin token ",
      h("code", {}, "CLOUDMART_ADMIN_TOKEN"), " of this service; it is kept for this tab only."),
    problem && h("p", { class: "error", role: "alert" }, problem),
    h("label", { for: "token" }, "Admin token"),
    input,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await signIn(input.value.trim())) start();
    else askForToken("That is not the admin token of this service.");
  });
  main.replaceChildren(form);
  input.focus();
}

function start() {
  const out = document.getElementById("sign-out");
  out.hidden = false;
  route();
}

async function boot() {
  await loadConfig();
  document.getElementById("sign-out").addEventListener("click", () => askForToken());
  window.addEventListener("hashchange", () => {
    route();
    main.focus({ preventScroll: true });
  });
  if (token()) start();
  else askForToken();
}

boot();
