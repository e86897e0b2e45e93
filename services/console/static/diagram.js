// The machine's state diagram drawn here as SVG from its description (states and transitions),
// the current state highlighted: nothing fetched, no diagram library.

import { humanize } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const BOX_W = 170;
const BOX_H = 44;
const GAP_X = 50;
const GAP_Y = 46;

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

// States in declaration order, read left to right: open ones in rows (one group of rows per
// pipeline when the states name one), then the terminal ones on their own row at the bottom.
function layout(states, columns) {
  const groups = new Map();
  for (const s of states) {
    const group = s.terminal ? "\u0000terminal" : String(s.metadata?.pipeline ?? "");
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(s);
  }
  const ordered = [...groups.entries()].sort(([a], [b]) => (a === "\u0000terminal") - (b === "\u0000terminal"));
  const places = new Map();
  let row = 0;
  for (const [, members] of ordered) {
    members.forEach((s, i) => places.set(s.name, { col: i % columns, row: row + Math.floor(i / columns) }));
    row += Math.ceil(members.length / columns);
  }
  return places;
}

function groupSizes(states) {
  const sizes = new Map();
  for (const s of states) {
    const group = s.terminal ? "terminal" : `open:${s.metadata?.pipeline ?? ""}`;
    sizes.set(group, (sizes.get(group) ?? 0) + 1);
  }
  return [...sizes.values()];
}

function centre(place) {
  return { x: 10 + place.col * (BOX_W + GAP_X) + BOX_W / 2, y: 10 + place.row * (BOX_H + GAP_Y) + BOX_H / 2 };
}

// Where the line from a box's centre towards a point leaves the box.
function edgePoint(from, to) {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  if (dx === 0 && dy === 0) return from;
  const scale = Math.min(dx ? BOX_W / 2 / Math.abs(dx) : Infinity, dy ? BOX_H / 2 / Math.abs(dy) : Infinity);
  return { x: from.x + dx * scale, y: from.y + dy * scale };
}

export function stateDiagram(machine, current, wide = true) {
  const widest = Math.max(...groupSizes(machine.states));
  const columns = wide ? Math.min(5, widest) : 2;
  const places = layout(machine.states, columns);
  const rows = Math.max(...[...places.values()].map((p) => p.row)) + 1;
  const width = 20 + columns * BOX_W + (columns - 1) * GAP_X;
  const height = 20 + rows * BOX_H + (rows - 1) * GAP_Y;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "diagram-title",
    class: "diagram",
  });
  svg.append(el("title", { id: "diagram-title" }, `${machine.title}: states and transitions; now ${humanize(current)}`));
  const defs = el("defs");
  for (const [id, cls] of [["arrow", "edge"], ["arrow-now", "edge now"]]) {
    const marker = el("marker", {
      id,
      viewBox: "0 0 10 10",
      refX: "9",
      refY: "5",
      markerWidth: "7",
      markerHeight: "7",
      orient: "auto-start-reverse",
    });
    marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: `arrowhead ${cls}` }));
    defs.append(marker);
  }
  svg.append(defs);

  const drawn = new Set();
  for (const t of machine.transitions) {
    if (!t.toState) continue;
    for (const source of t.fromStates) {
      const key = `${source}>${t.toState}`;
      if (source === t.toState || drawn.has(key) || !places.has(source) || !places.has(t.toState)) continue;
      drawn.add(key);
      const a = centre(places.get(source));
      const b = centre(places.get(t.toState));
      const start = edgePoint(a, b);
      const end = edgePoint(b, a);
      // Bend each edge to one side, so an edge and its way back do not overlap.
      const mx = (start.x + end.x) / 2 - (end.y - start.y) * 0.15;
      const my = (start.y + end.y) / 2 + (end.x - start.x) * 0.15;
      const fromCurrent = source === current;
      const path = el("path", {
        d: `M ${start.x} ${start.y} Q ${mx} ${my} ${end.x} ${end.y}`,
        class: fromCurrent ? "edge now" : t.toState === current ? "edge into" : "edge",
        "marker-end": `url(#${fromCurrent ? "arrow-now" : "arrow"})`,
      });
      path.append(el("title", {}, `${humanize(t.trigger)}: ${humanize(source)} to ${humanize(t.toState)}`));
      svg.append(path);
    }
  }
  for (const state of machine.states) {
    const place = places.get(state.name);
    const x = 10 + place.col * (BOX_W + GAP_X);
    const y = 10 + place.row * (BOX_H + GAP_Y);
    const isCurrent = state.name === current;
    const group = el("g", {
      class: `state${isCurrent ? " current" : ""}${state.terminal ? " terminal" : ""}`,
      "data-state": state.name,
    });
    if (isCurrent) group.setAttribute("aria-current", "step");
    group.append(el("title", {}, `${humanize(state.name)}${isCurrent ? " (current)" : ""}: ${state.description}`));
    group.append(el("rect", { x, y, width: BOX_W, height: BOX_H, rx: 8 }));
    group.append(el("text", { x: x + BOX_W / 2, y: y + BOX_H / 2 + 5, "text-anchor": "middle" }, humanize(state.name)));
    svg.append(group);
  }
  return svg;
}
