// Small helpers for building the pages: elements, dates, amounts, countdowns.

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });

export function when(value) {
  return value ? dateTime.format(new Date(value)) : "—";
}

export function day(value) {
  return value ? dateOnly.format(new Date(`${value}T00:00:00Z`)) : "—";
}

export function dollars(value) {
  return value === null || value === undefined ? "—" : money.format(Number(value));
}

export function timeTag(value, text = when(value)) {
  return h("time", { datetime: value }, text);
}

export function span(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${mins} min`;
  if (minutes) return `${mins} min`;
  return `${Math.floor(Math.abs(ms) / 1000)} s`;
}

export function countdownText(due) {
  const left = new Date(due).getTime() - Date.now();
  return left >= 0 ? `in ${span(left)}` : `overdue by ${span(left)}`;
}

// An element that counts down to its moment, refreshed by tickCountdowns.
export function countdown(due) {
  const node = h("span", { class: "countdown", "data-due": due }, countdownText(due));
  if (new Date(due).getTime() < Date.now()) node.classList.add("overdue");
  return node;
}

export function tickCountdowns() {
  for (const node of document.querySelectorAll("[data-due]")) {
    node.textContent = countdownText(node.dataset.due);
    node.classList.toggle("overdue", new Date(node.dataset.due).getTime() < Date.now());
  }
}

export function daysSince(value) {
  return Math.max(0, Math.floor((Date.now() - new Date(value).getTime()) / 86400000));
}

export function link(href, text, attributes = {}) {
  return h("a", { href, ...attributes }, text);
}
