// The ops console: sign-in, my work, the pipeline board, lists for every kind, one lifecycle,
// an account; each page follows its lifecycles live. Generic over kinds: everything comes from
// the machine descriptions, the derived list queries and the generic trigger mutation.

import {
  ApiError,
  OUTCOME,
  SignedOut,
  fire,
  gql,
  humanize,
  may,
  refusalWords,
  signIn,
  signOut,
  takeNotice,
  token,
} from "./api.js";
import { stateDiagram } from "./diagram.js";
import { countdown, day, daysSince, dollars, h, link, tickCountdowns, timeTag, when } from "./dom.js";
import { triggerForm } from "./forms.js";
import { LiveFeed } from "./live.js";

const main = document.getElementById("main");
const session = { me: null, config: null, machines: null };
let view = { feed: null, refresh: null, pending: null };

const MACHINES = `{
  lifecycleMachines {
    kind title description
    states { name description terminal metadata checklist { key label } }
    transitions { trigger fromStates toState description requiredRole paramsSchema }
    listQuery {
      typeName lookup idArgument query filterType orderType defaultOrder orders
      filters { name type description values }
    }
  }
}`;

const TRANSITIONS = "availableTransitions { trigger toState description requiredRole allowed unmet params }";

// ---- the frame -------------------------------------------------------------------------------

function say(text, tone = "info") {
  const toast = document.getElementById("toast");
  toast.className = `toast ${tone}`;
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (toast.hidden = true), tone === "error" ? 12000 : 5000);
}

function liveStatus(status) {
  const words = {
    connecting: "Connecting live updates…",
    live: "Live",
    reconnecting: "Live updates interrupted; reconnecting…",
    refused: "Live updates refused for this sign-in",
    off: "",
  };
  const node = document.getElementById("live");
  node.textContent = words[status] ?? "";
  node.dataset.status = status;
}

function machine(kind) {
  return session.machines.find((m) => m.kind === kind);
}

function title(text) {
  document.title = `${text} · Lifecycles console`;
  return h("h1", { tabindex: "-1" }, text);
}

// Re-render a page keeping what a person typed and where the focus was.
function render(...nodes) {
  const kept = new Map();
  for (const node of main.querySelectorAll("[data-keep]")) {
    kept.set(node.dataset.keep, node.tagName === "DETAILS" ? node.open : node.value);
  }
  const focused = document.activeElement?.dataset?.keep;
  main.replaceChildren(...nodes);
  for (const node of main.querySelectorAll("[data-keep]")) {
    if (!kept.has(node.dataset.keep)) continue;
    const value = kept.get(node.dataset.keep);
    if (node.tagName === "DETAILS") node.open = value;
    // A choice the page no longer offers (the stage a card has just moved to) is not kept.
    else if (node.tagName !== "SELECT" || [...node.options].some((o) => o.value === value)) node.value = value;
  }
  if (focused) main.querySelector(`[data-keep="${CSS.escape(focused)}"]`)?.focus();
}

function problem(error) {
  if (error instanceof SignedOut) {
    location.hash = "#/sign-in";
    return;
  }
  const text = error instanceof ApiError ? error.message : "Something went wrong in the console; reload the page.";
  render(h("div", { class: "problem", role: "alert" }, text));
}

function header() {
  const me = session.me;
  const nav = h(
    "nav",
    { "aria-label": "Console" },
    link("#/my-work", "My work"),
    link("#/board/NEW_BUSINESS", "Board"),
    ...session.machines.filter((m) => m.listQuery).map((m) => link(`#/list/${m.kind}`, m.title)),
  );
  const who = h("span", { class: "who" }, `${me.actor} (${me.role.toLowerCase()})`);
  const out = h("button", { type: "button", class: "quiet", onclick: () => leave() }, "Sign out");
  document.getElementById("frame").replaceChildren(nav, who, out);
  for (const a of nav.querySelectorAll("a")) {
    if (location.hash.startsWith(a.getAttribute("href").replace(/\/NEW_BUSINESS$/, ""))) a.setAttribute("aria-current", "page");
  }
}

function leave(notice = null) {
  stopLive();
  signOut(notice);
  session.me = null;
  location.hash = "#/sign-in";
}

function stopLive() {
  view.feed?.stop();
  clearTimeout(view.pending);
  view = { feed: null, refresh: null, pending: null };
  liveStatus("off");
}

// Follow the page's lifecycles: any change (a person, a timer, a billing event) refreshes it.
function follow(filter, refresh) {
  view.refresh = refresh;
  view.feed = new LiveFeed(
    filter,
    (change) => {
      clearTimeout(view.pending);
      view.pending = setTimeout(() => {
        view.refresh?.(change);
      }, 150);
    },
    liveStatus,
    () => view.refresh?.(null),
  ).start();
}

// ---- sign-in --------------------------------------------------------------------------------

async function signInPage() {
  stopLive();
  document.getElementById("frame").replaceChildren();
  const notice = takeNotice();
  const message = h("p", { class: "problem", role: "alert", hidden: !notice }, notice ?? "");
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const attempt = async (value) => {
    signIn(value);
    try {
      await whoAmI();
      location.hash = "#/my-work";
    } catch (error) {
      signOut();
      takeNotice();
      message.textContent = error instanceof SignedOut ? error.message : error.message || "Sign-in failed.";
      message.hidden = false;
      input.focus();
    }
  };
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event) => {
        event.preventDefault();
        if (input.value.trim()) attempt(input.value);
      },
    },
    h("div", { class: "field" }, h("label", { for: "token" }, "Bearer token"), input),
    h("button", { type: "submit" }, "Sign in"),
  );
  const devRoles = session.config.devRoles;
  const dev = devRoles.length
    ? h(
        "section",
        { class: "dev-sign-in", "aria-labelledby": "dev-title" },
        h("h2", { id: "dev-title" }, "Development"),
        h("p", {}, "This service runs under ./dev up: sign in with a development token in one click."),
        ...devRoles.map((role) =>
          h(
            "button",
            {
              type: "button",
              "data-role": role,
              onclick: async () => {
                const answer = await fetch("/console/dev-sign-in", {
                  method: "POST",
                  headers: { "content-type": "application/json" },
                  body: JSON.stringify({ role }),
                });
                if (!answer.ok) {
                  message.textContent = "Development sign-in is not available.";
                  message.hidden = false;
                  return;
                }
                await attempt((await answer.json()).token);
              },
            },
            `Sign in as ${role}`,
          ),
        ),
      )
    : null;
  render(title("Sign in"), message, h("p", {}, "Paste the bearer token you were given. It is kept in this tab only."), form, dev);
  main.querySelector("h1").focus();
}

async function whoAmI() {
  const data = await gql("{ me { actor role } }");
  session.me = data.me;
  if (!session.machines) session.machines = (await gql(MACHINES)).lifecycleMachines;
  return session.me;
}

// ---- my work --------------------------------------------------------------------------------

async function myWorkPage() {
  const load = async () => {
    const horizon = new Date(Date.now() + 7 * 86400000).toISOString();
    const data = await gql(
      `query MyWork($owner: String!, $before: DateTime!) {
        lifecycles(filter: { owner: $owner, terminal: false, dueBefore: $before }, first: 100) {
          totalCount
          nodes { id kind stateName summary nextDeadline deadlines { timer dueAt description } ${TRANSITIONS} }
        }
      }`,
      { owner: session.me.actor, before: horizon },
    );
    const items = [...data.lifecycles.nodes].sort((a, b) => new Date(a.nextDeadline) - new Date(b.nextDeadline));
    const now = Date.now();
    const row = (item) => {
      const due = item.deadlines[0];
      const overdue = new Date(item.nextDeadline).getTime() < now;
      const actions = item.availableTransitions.filter((t) => t.allowed && may(session.me.role, t.requiredRole));
      const settles = actions.filter((t) => t.toState).concat(actions.filter((t) => !t.toState)).slice(0, 2);
      return h(
        "li",
        { class: `work${overdue ? " overdue" : ""}`, "data-id": item.id },
        h("div", {}, h("span", { class: "kind" }, machine(item.kind).title), " ", link(`#/lifecycle/${item.kind}/${encodeURIComponent(item.id)}`, item.summary)),
        h("div", {}, h("span", { class: "badge" }, humanize(item.stateName)), " ", overdue ? h("strong", {}, "Overdue: ") : "Due: ", due ? due.description : "", " ", due ? countdown(due.dueAt) : null),
        settles.length
          ? h(
              "div",
              {},
              "Settle it: ",
              ...settles.map((t) =>
                link(`#/lifecycle/${item.kind}/${encodeURIComponent(item.id)}?do=${t.trigger}`, t.description, { class: "action" }),
              ),
            )
          : null,
      );
    };
    render(
      title("My work"),
      h("p", {}, `Lifecycles you own (${session.me.actor}) with a deadline in the next 7 days, overdue first.`),
      items.length ? h("ol", { class: "work-list" }, items.map(row)) : h("p", { class: "empty" }, "Nothing due in the next 7 days."),
    );
  };
  await load();
  follow({ owner: session.me.actor }, () => load().catch(problem));
}

// ---- the pipeline board ---------------------------------------------------------------------

// A card asks for what it shows. The deal being moved is asked for its moves (DEAL_MOVES), and a
// refused one for its exit criteria (REFUSED_DEAL): every card carrying both made a board page
// ~740 KB, and judging every card's transitions was most of the API's work for it.
const BOARD = `query Board($filter: OpportunityFilter, $after: String) {
  opportunities(filter: $filter, orderBy: CLOSE_DATE_ASC, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name stage owner version account { id name } arrDiscounted stateEnteredAt nextDeadline
      deadlines { timer dueAt }
      silenceTimersEnabled followUpsSent
    }
  }
}`;

const DEAL_MOVES = `query DealMoves($id: ID!) {
  opportunity(id: $id) { ... on Opportunity { availableTransitions { trigger toState params } } }
}`;

const REFUSED_DEAL = `query RefusedDeal($id: ID!) {
  opportunity(id: $id) { ... on Opportunity { version exitCriteria { stage key label met waived } } }
}`;

async function boardPage(pipeline) {
  const spec = machine("opportunity");
  const columns = spec.states.filter((s) => s.metadata.pipeline === pipeline && !s.terminal).map((s) => s.name);
  const filterFields = Object.fromEntries(spec.listQuery.filters.map((f) => [f.name, f]));
  const filters = {};
  const refusals = new Map();
  const role = session.me.role;
  const canMove = may(role, "OPERATOR");
  const criterionKeys = spec.states.flatMap((s) => s.checklist.map((c) => `(${c.key})`));

  const move = async (deal, stage, reason, key) => {
    if (stage === deal.stage) return;
    const moves = (await gql(DEAL_MOVES, { id: deal.id })).opportunity.availableTransitions ?? [];
    const edge = moves.find((t) => t.toState === stage);
    if (!edge) {
      refusals.set(deal.id, { words: `${deal.name} cannot move from ${humanize(deal.stage)} to ${humanize(stage)}.`, target: stage });
      return load();
    }
    const result = await fire("opportunity", deal.id, edge.trigger, edge.params, reason, key);
    if (result.__typename === "LifecycleChanged") {
      refusals.delete(deal.id);
      say(`${deal.name} moved to ${humanize(result.lifecycle.stateName)}.`);
    } else if (result.__typename === "GuardFailed") {
      // The exit criteria get a form each below (load asks for them); anything else unmet is listed in words.
      const others = result.unmet.map((u) => u.message).filter((m) => !criterionKeys.some((key) => m.includes(key)));
      refusals.set(deal.id, { words: `Cannot move to ${humanize(stage)} yet.`, others, target: stage, criteria: { version: null, list: [] } });
    } else {
      refusals.set(deal.id, { words: refusalWords(result), target: stage });
    }
    return load();
  };

  const record = async (deal, criterion, evidence) => {
    const result = await fire("opportunity", deal.id, "record_criterion", { stage: criterion.stage, criterion: criterion.key, evidence });
    say(result.__typename === "LifecycleChanged" ? `Recorded: ${criterion.label}.` : refusalWords(result), result.__typename === "LifecycleChanged" ? "info" : "error");
    return load();
  };

  const waive = async (deal, criterion, reason) => {
    const result = await fire("opportunity", deal.id, "waive_criterion", { stage: criterion.stage, criterion: criterion.key }, reason);
    say(result.__typename === "LifecycleChanged" ? `Waived: ${criterion.label}.` : refusalWords(result), result.__typename === "LifecycleChanged" ? "info" : "error");
    return load();
  };

  const refusalPanel = (deal) => {
    const refusal = refusals.get(deal.id);
    if (!refusal) return null;
    const order = spec.states.map((s) => s.name);
    const from = order.indexOf(deal.stage);
    const to = order.indexOf(refusal.target);
    const criteria = refusal.criteria?.list ?? [];
    const missing = criteria.filter((c) => !c.met && !c.waived && order.indexOf(c.stage) >= from && order.indexOf(c.stage) < to);
    const forms = missing.map((c) => {
      const base = `${deal.id}-${c.stage}-${c.key}`;
      const evidence = h("input", { id: `ev-${base}`, type: "text", "data-keep": `ev-${base}`, maxlength: "500" });
      const recordForm = h(
        "form",
        {
          class: "criterion",
          "data-criterion": c.key,
          onsubmit: (event) => {
            event.preventDefault();
            if (!evidence.value.trim()) {
              evidence.setAttribute("aria-invalid", "true");
              evidence.nextElementSibling.hidden = false;
              return;
            }
            record(deal, c, evidence.value.trim()).catch(problem);
          },
        },
        h("label", { for: `ev-${base}` }, `${c.label} (${humanize(c.stage)}): evidence`),
        evidence,
        h("p", { class: "field-error", hidden: true }, "Say what shows it is met."),
        h("button", { type: "submit" }, "Record"),
      );
      if (!may(role, "ADMIN")) return recordForm;
      const why = h("input", { id: `wv-${base}`, type: "text", "data-keep": `wv-${base}`, maxlength: "1000" });
      const waiveForm = h(
        "form",
        {
          class: "waiver",
          onsubmit: (event) => {
            event.preventDefault();
            waive(deal, c, why.value.trim()).catch(problem);
          },
        },
        h("label", { for: `wv-${base}` }, `Reason to waive: ${c.label}`),
        why,
        h("button", { type: "submit" }, "Waive"),
      );
      return h("div", {}, recordForm, waiveForm);
    });
    return h(
      "div",
      { class: "refusal", role: "alert" },
      h("p", {}, refusal.words),
      refusal.others?.length ? h("ul", {}, ...refusal.others.map((m) => h("li", {}, m))) : null,
      missing.length && canMove ? h("div", { class: "criteria" }, h("p", {}, "Record each with its evidence, then move again:"), ...forms) : null,
      h("button", { type: "button", class: "quiet", onclick: () => { refusals.delete(deal.id); load(); } }, "Dismiss"),
    );
  };

  const card = (deal) => {
    const silence = deal.deadlines.find((d) => d.timer.startsWith("silence"));
    const movable = columns.filter((s) => s !== deal.stage);
    const menuId = `move-${deal.id}`;
    const reasonId = `why-${deal.id}`;
    let key = crypto.randomUUID();
    const menu = canMove
      ? h(
          "details",
          { class: "move", "data-keep": `menu-${deal.id}` },
          h("summary", {}, "Move…"),
          h(
            "form",
            {
              onsubmit: (event) => {
                event.preventDefault();
                const form = event.currentTarget;
                move(deal, form.elements.stage.value, form.elements.reason.value.trim(), key).catch(problem);
                key = crypto.randomUUID();
              },
            },
            h("label", { for: menuId }, "To stage"),
            h("select", { id: menuId, name: "stage", "data-keep": menuId }, ...movable.map((s) => h("option", { value: s }, humanize(s)))),
            h("label", { for: reasonId }, "Reason (needed to move back)"),
            h("input", { id: reasonId, name: "reason", type: "text", "data-keep": reasonId, maxlength: "1000" }),
            h("button", { type: "submit" }, "Move"),
          ),
        )
      : null;
    const node = h(
      "article",
      { class: "card", "data-id": deal.id, "data-stage": deal.stage, draggable: canMove ? "true" : null, "aria-label": deal.name },
      h("h3", {}, link(`#/lifecycle/opportunity/${encodeURIComponent(deal.id)}`, deal.name)),
      h(
        "dl",
        {},
        h("dt", {}, "Account"), h("dd", {}, link(`#/account/${encodeURIComponent(deal.account.id)}`, deal.account.name)),
        h("dt", {}, "ARR"), h("dd", {}, dollars(deal.arrDiscounted)),
        h("dt", {}, "Owner"), h("dd", {}, deal.owner ?? "—"),
        h("dt", {}, "In stage"), h("dd", {}, `${daysSince(deal.stateEnteredAt)} d`),
        h("dt", {}, "Next deadline"), h("dd", {}, deal.nextDeadline ? countdown(deal.nextDeadline) : "none"),
        h("dt", {}, "Silence ladder"),
        h("dd", {}, !deal.silenceTimersEnabled ? "off" : silence ? [humanize(silence.timer), " ", countdown(silence.dueAt)] : `quiet (${deal.followUpsSent} follow-ups sent)`),
      ),
      refusalPanel(deal),
      menu,
    );
    node.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", deal.id));
    return node;
  };

  const filterForm = () => {
    const field = (name, control) => h("div", { class: "field" }, h("label", { for: `bf-${name}` }, humanize(name)), control);
    const text = (name, type = "text") => h("input", { id: `bf-${name}`, name, type, value: filters[name] ?? "" });
    const choice = (name) =>
      h(
        "select",
        { id: `bf-${name}`, name },
        h("option", { value: "" }, "Any"),
        ...filterFields[name].values.map((v) => h("option", { value: v, selected: filters[name] === v }, humanize(v))),
      );
    return h(
      "form",
      {
        class: "filters",
        "aria-label": "Board filters",
        onsubmit: (event) => {
          event.preventDefault();
          for (const [name, value] of new FormData(event.currentTarget)) filters[name] = value || undefined;
          load().catch(problem);
        },
      },
      field("owner", text("owner")),
      field("accountId", text("accountId")),
      field("recordType", choice("recordType")),
      field("forecastCategory", choice("forecastCategory")),
      field("closeDateFrom", text("closeDateFrom", "date")),
      field("closeDateTo", text("closeDateTo", "date")),
      h("button", { type: "submit" }, "Apply"),
    );
  };

  const shown = new Map();
  const load = async () => {
    const filter = {
      stage: columns,
      owner: filters.owner,
      accountId: filters.accountId,
      recordType: filters.recordType ? [filters.recordType] : undefined,
      forecastCategory: filters.forecastCategory ? [filters.forecastCategory] : undefined,
      closeDateFrom: filters.closeDateFrom,
      closeDateTo: filters.closeDateTo,
    };
    const deals = [];
    let after = null;
    for (let page = 0; page < 10; page++) {
      const data = await gql(BOARD, { filter, after });
      deals.push(...data.opportunities.nodes);
      if (!data.opportunities.pageInfo.hasNextPage) break;
      after = data.opportunities.pageInfo.endCursor;
    }
    // A refused deal's exit criteria, asked for again only once the deal has changed (evidence recorded).
    const stale = deals.filter((d) => {
      const criteria = refusals.get(d.id)?.criteria;
      return criteria && criteria.version !== d.version;
    });
    await Promise.all(
      stale.map(async (d) => {
        const found = (await gql(REFUSED_DEAL, { id: d.id })).opportunity;
        const refusal = refusals.get(d.id);
        if (refusal) refusal.criteria = { version: found.version ?? null, list: found.exitCriteria ?? [] };
      }),
    );
    shown.clear();
    for (const d of deals) shown.set(d.id, d.version);
    const board = h(
      "div",
      { class: "board", role: "list" },
      ...columns.map((stage) => {
        const here = deals.filter((d) => d.stage === stage);
        const total = here.reduce((sum, d) => sum + Number(d.arrDiscounted), 0);
        const column = h(
          "section",
          { class: "column", role: "listitem", "data-stage": stage, "aria-labelledby": `col-${stage}` },
          h("h2", { id: `col-${stage}` }, humanize(stage), h("span", { class: "count" }, ` ${here.length} · ${dollars(total)}`)),
          ...here.map(card),
        );
        if (canMove) {
          column.addEventListener("dragover", (event) => event.preventDefault());
          column.addEventListener("drop", (event) => {
            event.preventDefault();
            const deal = deals.find((d) => d.id === event.dataTransfer.getData("text/plain"));
            if (deal) move(deal, stage, "", crypto.randomUUID()).catch(problem);
          });
        }
        return column;
      }),
    );
    const tabs = h(
      "nav",
      { class: "tabs", "aria-label": "Pipelines" },
      ...[...new Set(spec.states.map((s) => s.metadata.pipeline).filter(Boolean))].map((p) =>
        link(`#/board/${p}`, humanize(p), { "aria-current": p === pipeline ? "page" : null }),
      ),
    );
    render(title(`${humanize(pipeline)} pipeline`), tabs, filterForm(), board);
  };
  await load();
  // A change this page has already shown (its own move, answered with the new state) needs no reload.
  follow({ kind: "opportunity" }, (change) => {
    if (!change || shown.get(change.lifecycle.id) !== change.lifecycle.version) load().catch(problem);
  });
}

// ---- lists for every kind -------------------------------------------------------------------

function filterValue(field, raw) {
  if (field.type.startsWith("[")) return raw.length ? raw : undefined;
  if (raw === "") return undefined;
  const base = field.type.replace(/!$/, "");
  if (base === "Boolean") return raw === "true";
  if (base === "Int") return Number(raw);
  if (base === "DateTime") return new Date(raw).toISOString();
  return raw;
}

function filterControl(field, value) {
  const id = `lf-${field.name}`;
  const base = field.type.replace(/[[\]!]/g, "");
  let control;
  if (field.values.length) {
    const multiple = field.type.startsWith("[");
    control = h(
      "select",
      { id, name: field.name, multiple, size: multiple ? Math.min(5, field.values.length) : null },
      multiple ? null : h("option", { value: "" }, "Any"),
      ...field.values.map((v) => h("option", { value: v, selected: multiple ? (value ?? []).includes(v) : value === v }, humanize(v))),
    );
  } else if (base === "Boolean") {
    control = h(
      "select",
      { id, name: field.name },
      h("option", { value: "" }, "Any"),
      h("option", { value: "true", selected: value === true }, "Yes"),
      h("option", { value: "false", selected: value === false }, "No"),
    );
  } else {
    const type = base === "Date" ? "date" : base === "DateTime" ? "datetime-local" : base === "Int" ? "number" : "text";
    control = h("input", { id, name: field.name, type, value: typeof value === "string" && type !== "datetime-local" ? value : "" });
  }
  return h("div", { class: "field" }, h("label", { for: id }, humanize(field.name)), control, field.description ? h("p", { class: "help" }, field.description) : null);
}

async function listPage(kind) {
  const spec = machine(kind);
  if (!spec?.listQuery) return render(title("Not found"), h("p", { role: "alert" }, `There is no list of ${kind}.`));
  const q = spec.listQuery;
  const values = {};
  let order = q.defaultOrder;
  const cursors = [null];
  const query = `query List($filter: ${q.filterType}, $orderBy: ${q.orderType}!, $after: String, $totals: LifecycleFilter) {
    page: ${q.query}(filter: $filter, orderBy: $orderBy, first: 20, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id stateName owner summary nextDeadline updatedAt }
    }
    totals: lifecycleTotals(kind: "${kind}", filter: $totals) { state count }
  }`;

  const load = async () => {
    const filter = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    const totalsFilter = { owner: filter.owner, accountId: filter.accountId };
    const data = await gql(query, { filter, orderBy: order, after: cursors.at(-1), totals: totalsFilter });
    const page = data.page;
    const stateField = q.filters.find((f) => f.type.startsWith("[") && spec.states.every((s) => f.values.includes(s.name)));
    const totals = h(
      "ul",
      { class: "totals", "aria-label": "Totals per state" },
      ...data.totals.map((t) =>
        h(
          "li",
          {},
          stateField
            ? h("button", { type: "button", class: "chip", onclick: () => { values[stateField.name] = [t.state]; cursors.splice(1); load().catch(problem); } }, `${humanize(t.state)}: ${t.count}`)
            : `${humanize(t.state)}: ${t.count}`,
        ),
      ),
    );
    const form = h(
      "form",
      {
        class: "filters",
        "aria-label": "Filters and order",
        onsubmit: (event) => {
          event.preventDefault();
          const formEl = event.currentTarget;
          for (const f of q.filters) {
            const control = formEl.elements[f.name];
            const raw = control.multiple ? [...control.selectedOptions].map((o) => o.value) : control.value;
            values[f.name] = filterValue(f, raw);
          }
          order = formEl.elements.orderBy.value;
          cursors.splice(1);
          load().catch(problem);
        },
      },
      ...q.filters.map((f) => filterControl(f, values[f.name])),
      h(
        "div",
        { class: "field" },
        h("label", { for: "lf-order" }, "Order"),
        h("select", { id: "lf-order", name: "orderBy" }, ...q.orders.map((o) => h("option", { value: o, selected: o === order }, humanize(o)))),
      ),
      h("button", { type: "submit" }, "Apply"),
    );
    const table = h(
      "table",
      { class: "list" },
      h("caption", {}, `${page.totalCount} ${spec.title.toLowerCase()} lifecycles match; page ${cursors.length}`),
      h("thead", {}, h("tr", {}, ...["Summary", "State", "Owner", "Next deadline", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        ...page.nodes.map((n) =>
          h(
            "tr",
            { "data-id": n.id },
            h("td", {}, link(`#/lifecycle/${kind}/${encodeURIComponent(n.id)}`, n.summary)),
            h("td", {}, humanize(n.stateName)),
            h("td", {}, n.owner ?? "—"),
            h("td", {}, n.nextDeadline ? countdown(n.nextDeadline) : "—"),
            h("td", {}, timeTag(n.updatedAt)),
          ),
        ),
      ),
    );
    const paging = h(
      "nav",
      { class: "paging", "aria-label": "Pages" },
      h("button", { type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load().catch(problem); } }, "Previous page"),
      h("button", { type: "button", disabled: !page.pageInfo.hasNextPage, onclick: () => { cursors.push(page.pageInfo.endCursor); load().catch(problem); } }, "Next page"),
    );
    render(title(spec.title), h("p", {}, spec.description), totals, form, table, paging);
  };
  await load();
  follow({ kind }, () => load().catch(problem));
}

// ---- one lifecycle --------------------------------------------------------------------------

function plainValue(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.length ? h("ul", {}, ...value.map((v) => h("li", {}, plainValue(v)))) : "none";
  if (typeof value === "object") {
    const entries = Object.entries(value);
    return entries.length ? h("dl", { class: "plain" }, ...entries.flatMap(([k, v]) => [h("dt", {}, humanize(k)), h("dd", {}, plainValue(v))])) : "none";
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  return humanize(String(value)) === String(value) || /[a-z]/.test(String(value)) || /^\d/.test(String(value)) ? String(value) : humanize(String(value));
}

// What keeps a trigger from firing, in the spec's words; a long list folds away.
function unmetList(unmet) {
  if (!unmet.length) return null;
  const list = h("ul", { class: "unmet", "aria-label": "Still needed" }, ...unmet.map((u) => h("li", {}, u)));
  return unmet.length > 3 ? h("details", { class: "unmet-all" }, h("summary", {}, `${unmet.length} conditions still unmet`), list) : list;
}

const LIFECYCLE = `query One($kind: String!, $id: ID!) {
  lifecycle(kind: $kind, id: $id) {
    __typename
    ... on NotFound { message }
    ... on GenericLifecycle {
      id kind workflowId stateName terminal owner summary version openedAt stateEnteredAt updatedAt closedAt accountId
      deadlines { timer trigger dueAt description }
      ${TRANSITIONS}
      history(first: 100) { totalCount nodes { seq trigger fromState toState actor reason at params } }
      effects(first: 100) {
        id seq type name recipients status attempts lastError createdAt deliveredAt skippedReason
        deliveries { channel status attempts lastError deliveredAt }
      }
    }
  }
}`;

const RELATED = `query Related($accountId: String!) {
  lifecycles(filter: { accountId: $accountId }, first: 50) { nodes { id kind stateName summary terminal } }
}`;

async function lifecyclePage(kind, id, focusTrigger) {
  const spec = machine(kind);
  if (!spec) return render(title("Not found"), h("p", { role: "alert" }, `There is no lifecycle kind ${kind}.`));
  let shown = null;
  const load = async () => {
    const data = await gql(LIFECYCLE, { kind, id });
    const one = data.lifecycle;
    if (one.__typename === "NotFound") return render(title("Not found"), h("p", { role: "alert" }, one.message));
    shown = one;
    const related = one.accountId ? (await gql(RELATED, { accountId: one.accountId })).lifecycles.nodes.filter((n) => !(n.kind === kind && n.id === id)) : [];
    const config = session.config;
    const temporal = config.temporalUiUrl
      ? link(`${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporalNamespace)}/workflows/${encodeURIComponent(one.workflowId)}`, "Workflow in the Temporal Web UI", { rel: "noopener", target: "_blank" })
      : null;
    const wide = matchMedia("(min-width: 700px)").matches;
    const role = session.me.role;
    const transitions = one.availableTransitions.map((t, i) => {
      const canFire = t.allowed && may(role, t.requiredRole);
      const definition = spec.transitions.find((d) => d.trigger === t.trigger && (d.toState === t.toState || d.toState === null));
      const submit = async (params, reason, key) => {
        const result = await fire(kind, id, t.trigger, params, reason, key);
        if (result.__typename === "LifecycleChanged") {
          say(`${humanize(t.trigger)}: done, now ${humanize(result.lifecycle.stateName)}.`);
          await load();
          return result;
        }
        return { ...result, words: refusalWords(result) };
      };
      return h(
        "li",
        { class: `possible${t.allowed ? " allowed" : ""}`, "data-trigger": t.trigger, "data-to": t.toState ?? "" },
        h("p", {}, h("strong", {}, t.description), t.toState ? ` → ${humanize(t.toState)}` : " (stays in this state)", h("span", { class: "role" }, ` · ${humanize(t.requiredRole)}`)),
        unmetList(t.unmet),
        canFire && definition
          ? h("details", { class: "act", open: focusTrigger === t.trigger && i === one.availableTransitions.findIndex((x) => x.trigger === focusTrigger) }, h("summary", {}, `${humanize(t.trigger)}…`), triggerForm(definition, t.params, submit))
          : null,
      );
    });
    const history = [...one.history.nodes].reverse().map((e) =>
      h(
        "li",
        { class: `entry${e.actor === "timer" ? " timer" : ""}`, "data-seq": e.seq },
        h("p", {}, timeTag(e.at), " ", h("strong", {}, humanize(e.trigger)), e.fromState ? ` ${humanize(e.fromState)} → ${humanize(e.toState)}` : ` opened in ${humanize(e.toState)}`),
        h("p", {}, "By ", e.actor === "timer" ? h("span", { class: "badge timer" }, "Timer") : e.actor, e.reason ? ` — “${e.reason}”` : ""),
        Object.keys(e.params ?? {}).length ? h("details", {}, h("summary", {}, "Parameters"), plainValue(e.params)) : null,
      ),
    );
    const effects = one.effects.map((e) =>
      h(
        "tr",
        {},
        h("td", {}, humanize(e.name), h("br"), h("small", {}, e.type)),
        h("td", {}, e.recipients.join(", ") || "—"),
        h("td", {}, humanize(e.status), e.skippedReason ? h("small", {}, ` (${e.skippedReason})`) : null, e.lastError ? h("small", { class: "error" }, ` ${e.lastError}`) : null),
        h("td", {}, e.deliveries.length ? h("ul", {}, ...e.deliveries.map((d) => h("li", {}, `${d.channel}: ${humanize(d.status)}${d.attempts > 1 ? ` after ${d.attempts} attempts` : ""}${d.deliveredAt ? `, ${when(d.deliveredAt)}` : ""}`))) : "—"),
      ),
    );
    render(
      title(one.summary),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Kind"), h("dd", {}, link(`#/list/${kind}`, spec.title)),
        h("dt", {}, "State"), h("dd", { "data-field": "state" }, h("span", { class: "badge" }, humanize(one.stateName)), ` since ${when(one.stateEnteredAt)}`),
        h("dt", {}, "Owner"), h("dd", {}, one.owner ?? "—"),
        one.accountId ? [h("dt", {}, "Account"), h("dd", {}, link(`#/account/${encodeURIComponent(one.accountId)}`, one.accountId))] : null,
        h("dt", {}, "Opened"), h("dd", {}, timeTag(one.openedAt)),
        temporal ? [h("dt", {}, "Workflow"), h("dd", {}, temporal)] : null,
      ),
      h("section", { "aria-labelledby": "s-diagram" }, h("h2", { id: "s-diagram" }, "Where it stands"), stateDiagram(spec, one.stateName, wide)),
      h(
        "section",
        { "aria-labelledby": "s-now", class: "now" },
        h("h2", { id: "s-now" }, "What may happen now"),
        transitions.length ? h("ul", { class: "possibles" }, ...transitions) : h("p", {}, one.terminal ? "Nothing: this lifecycle has ended." : "Nothing a person can do now."),
      ),
      h(
        "section",
        { "aria-labelledby": "s-deadlines" },
        h("h2", { id: "s-deadlines" }, "Deadlines"),
        one.deadlines.length
          ? h("ul", { class: "deadlines" }, ...one.deadlines.map((d) => h("li", { "data-timer": d.timer }, h("strong", {}, d.description), " — ", timeTag(d.dueAt), " ", countdown(d.dueAt))))
          : h("p", {}, "No timer is armed."),
      ),
      h("section", { "aria-labelledby": "s-history" }, h("h2", { id: "s-history" }, `History (${one.history.totalCount})`), h("ol", { class: "timeline" }, ...history)),
      h(
        "section",
        { "aria-labelledby": "s-effects" },
        h("h2", { id: "s-effects" }, "Effects"),
        effects.length
          ? h("table", { class: "list" }, h("thead", {}, h("tr", {}, ...["Effect", "To", "Status", "Deliveries"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, ...effects))
          : h("p", {}, "None yet."),
      ),
      h(
        "section",
        { "aria-labelledby": "s-related" },
        h("h2", { id: "s-related" }, "Related lifecycles"),
        related.length
          ? h("ul", {}, ...related.map((r) => h("li", {}, link(`#/lifecycle/${r.kind}/${encodeURIComponent(r.id)}`, `${machine(r.kind)?.title ?? r.kind}: ${r.summary}`), ` (${humanize(r.stateName)})`)))
          : h("p", {}, "None on this account."),
      ),
    );
    if (focusTrigger) {
      main.querySelector(`details.act[open] input, details.act[open] select, details.act[open] button`)?.focus();
      focusTrigger = null;
    }
  };
  await load();
  follow({ kind, id }, (change) => {
    if (!shown || !change || change.lifecycle.version !== shown.version) {
      if (change?.transition) say(`${humanize(change.transition.trigger)} by ${change.transition.actor === "timer" ? "a timer" : change.transition.actor}.`);
      load().catch(problem);
    }
  });
}

// ---- an account -----------------------------------------------------------------------------

async function accountPage(id) {
  const load = async () => {
    const data = await gql(
      `query Account($id: ID!) {
        account(id: $id) {
          __typename
          ... on NotFound { message }
          ... on AccountView {
            id name owner ownerSince
            openLifecycles(first: 50) { totalCount nodes { id kind stateName summary owner nextDeadline } }
            handovers(first: 20) { totalCount nodes { id stateName summary owner openedAt closedAt } }
          }
        }
      }`,
      { id },
    );
    const account = data.account;
    if (account.__typename === "NotFound") return render(title("Not found"), h("p", { role: "alert" }, account.message));
    render(
      title(account.name ?? account.id),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Owner"), h("dd", {}, account.owner ?? "—"),
        h("dt", {}, "Owner since"), h("dd", {}, account.ownerSince ? timeTag(account.ownerSince) : "—"),
      ),
      h(
        "section",
        { "aria-labelledby": "s-open" },
        h("h2", { id: "s-open" }, `Open lifecycles (${account.openLifecycles.totalCount})`),
        h(
          "ul",
          {},
          ...account.openLifecycles.nodes.map((n) =>
            h("li", {}, link(`#/lifecycle/${n.kind}/${encodeURIComponent(n.id)}`, `${machine(n.kind)?.title ?? n.kind}: ${n.summary}`), ` — ${humanize(n.stateName)}, ${n.owner ?? "no owner"}`, n.nextDeadline ? [" · next deadline ", countdown(n.nextDeadline)] : null),
          ),
        ),
      ),
      h(
        "section",
        { "aria-labelledby": "s-handovers" },
        h("h2", { id: "s-handovers" }, `Handovers (${account.handovers.totalCount})`),
        account.handovers.nodes.length
          ? h("ul", {}, ...account.handovers.nodes.map((n) => h("li", {}, link(`#/lifecycle/handover/${encodeURIComponent(n.id)}`, n.summary), ` — ${humanize(n.stateName)}, opened ${when(n.openedAt)}`)))
          : h("p", {}, "None."),
      ),
    );
  };
  await load();
  follow({ accountId: id }, () => load().catch(problem));
}

// ---- routing --------------------------------------------------------------------------------

async function route() {
  stopLive();
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search ?? "");
  if (!session.config) session.config = await (await fetch("/console/config.json")).json();
  if (parts[0] === "sign-in" || !token()) return signInPage();
  try {
    if (!session.me) await whoAmI();
    header();
    switch (parts[0]) {
      case "board":
        return await boardPage(parts[1] ?? "NEW_BUSINESS");
      case "list":
        return await listPage(parts[1]);
      case "lifecycle":
        return await lifecyclePage(parts[1], parts.slice(2).join("/"), params.get("do"));
      case "account":
        return await accountPage(parts.slice(1).join("/"));
      default:
        return await myWorkPage();
    }
  } catch (error) {
    problem(error);
  }
}

window.addEventListener("hashchange", () => route());
setInterval(tickCountdowns, 1000);
route();
