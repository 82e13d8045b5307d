// The live event stream, with the header's indicator of whether the page is following it.

import { follow } from "./api.js";

const indicator = document.getElementById("live");

function setLive(connected) {
  indicator.textContent = connected ? "● live" : "reconnecting…";
  indicator.dataset.connected = String(connected);
}

/** Calls ``onEvent`` for each new event of the query (all of them by default), and ``onOpen`` on (re)connecting. */
export function followEvents(query, { onEvent, onOpen }, signal) {
  const path = `/events/stream${query ? `?${new URLSearchParams(query)}` : ""}`;
  follow(path, { onEvent, onOpen, onState: setLive }, signal);
}
