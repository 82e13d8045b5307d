// Building elements without innerHTML: every text from the API goes in as text, never as markup.

const SVG = "http://www.w3.org/2000/svg";

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function h(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

export function s(tag, attributes, ...children) {
  return build(document.createElementNS(SVG, tag), attributes, children);
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "";
}

/** Runs ``task`` at most once per ``ms``: a burst of events makes one refresh, and the last one is never lost. */
export function throttled(task, ms) {
  let busy = false;
  let again = false;
  const run = async () => {
    busy = true;
    again = false;
    try {
      await task();
    } catch (error) {
      console.error(error);
    } finally {
      setTimeout(() => (again ? run() : (busy = false)), ms);
    }
  };
  return () => {
    if (busy) again = true;
    else run();
  };
}
