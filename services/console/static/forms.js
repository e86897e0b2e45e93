// A form per trigger, generated from its parameters' JSON Schema (lifecycleMachine's
// paramsSchema), with the service's typed validation errors shown at their fields.

import { h } from "./dom.js";
import { fieldLabel, humanize } from "./api.js";

let counter = 0;

function resolve(schema, root) {
  if (schema?.$ref) return resolve(root.$defs?.[schema.$ref.split("/").pop()] ?? {}, root);
  return schema ?? {};
}

// (the schema without its null alternative, whether null is allowed)
function nonNull(schema, root) {
  const resolved = resolve(schema, root);
  if (resolved.anyOf) {
    const options = resolved.anyOf.map((s) => resolve(s, root)).filter((s) => s.type !== "null");
    const optional = options.length < resolved.anyOf.length;
    // A number-or-string amount: one text field, the service parses it.
    const chosen = options.length === 1 ? options[0] : { ...options[0], type: "string", inputmode: "decimal" };
    return [{ ...chosen, description: resolved.description ?? chosen.description }, optional];
  }
  return [resolved, false];
}

function control(path, schema, root, required) {
  const [s, optional] = nonNull(schema, root);
  const id = `f${++counter}`;
  const label = `${humanize(path.at(-1))}${required && !optional ? " (required)" : ""}`;
  const name = path.join(".");
  const help = s.description ? h("p", { class: "help", id: `${id}-help` }, s.description) : null;
  const error = h("p", { class: "field-error", id: `${id}-error`, "data-error-for": name, hidden: true });
  const described = [help && `${id}-help`, `${id}-error`].filter(Boolean).join(" ");
  if (s.type === "object" && s.properties) {
    return h(
      "fieldset",
      { class: "nested", "data-path": name },
      h("legend", {}, label),
      ...Object.entries(s.properties).map(([key, sub]) => control([...path, key], sub, root, (s.required ?? []).includes(key))),
      error,
    );
  }
  let input;
  if (s.enum) {
    input = h(
      "select",
      { id, "data-path": name, "data-kind": "enum" },
      h("option", { value: "" }, optional || !required ? "(not set)" : "Choose…"),
      ...s.enum.map((v) => h("option", { value: v }, humanize(v))),
    );
  } else if (s.type === "boolean") {
    input = h(
      "select",
      { id, "data-path": name, "data-kind": "boolean" },
      h("option", { value: "" }, "(not set)"),
      h("option", { value: "true" }, "Yes"),
      h("option", { value: "false" }, "No"),
    );
  } else if (s.type === "integer" || s.type === "number") {
    input = h("input", { id, type: "number", step: s.type === "integer" ? "1" : "any", "data-path": name, "data-kind": s.type });
  } else if (s.type === "array") {
    input = h("textarea", { id, rows: 3, "data-path": name, "data-kind": "array", placeholder: "One per line" });
  } else if (s.format === "date") {
    input = h("input", { id, type: "date", "data-path": name, "data-kind": "string" });
  } else if (s.format === "date-time") {
    input = h("input", { id, type: "datetime-local", "data-path": name, "data-kind": "datetime" });
  } else if ((s.maxLength ?? 0) > 300) {
    input = h("textarea", { id, rows: 2, "data-path": name, "data-kind": "string" });
  } else {
    input = h("input", { id, type: "text", "data-path": name, "data-kind": "string", inputmode: s.inputmode ?? null });
  }
  input.setAttribute("aria-describedby", described);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help, error);
}

function read(input) {
  const raw = input.value.trim();
  if (raw === "") return undefined;
  switch (input.dataset.kind) {
    case "boolean":
      return raw === "true";
    case "integer":
    case "number":
      return Number(raw);
    case "array":
      return raw.split("\n").map((line) => line.trim()).filter(Boolean);
    case "datetime":
      return new Date(raw).toISOString();
    default:
      return raw;
  }
}

function collect(form) {
  const params = {};
  for (const input of form.querySelectorAll("[data-path]:not(fieldset)")) {
    const value = read(input);
    if (value === undefined) continue;
    const path = input.dataset.path.split(".");
    let target = params;
    for (const key of path.slice(0, -1)) target = target[key] ??= {};
    target[path.at(-1)] = value;
  }
  return params;
}

export function clearErrors(form) {
  for (const error of form.querySelectorAll(".field-error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Show each field error at its field ("params.next_step.text" -> the control for next_step.text);
// the ones without a control are returned to be shown for the whole form.
export function showFieldErrors(form, fields) {
  const rest = [];
  for (const f of fields) {
    const path = f.field.replace(/^(params|input)\./, "");
    const error = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    if (error) {
      error.textContent = f.message;
      error.hidden = false;
      form.querySelector(`[data-path="${CSS.escape(path)}"]`)?.setAttribute("aria-invalid", "true");
    } else {
      rest.push(`${fieldLabel(f.field)}: ${f.message}`);
    }
  }
  return rest;
}

// A form for one trigger: its parameters (preset ones hidden), a reason, and an idempotency key
// kept until the service answers, so resending after a lost answer applies the change once.
export function triggerForm(transition, presetParams, onSubmit) {
  const schema = transition.paramsSchema;
  const preset = presetParams ?? {};
  const fields = schema?.properties
    ? Object.entries(schema.properties)
        .filter(([key]) => !(key in preset))
        .map(([key, sub]) => control([key], sub, schema, (schema.required ?? []).includes(key)))
    : [];
  const reasonId = `f${++counter}`;
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  const button = h("button", { type: "submit" }, humanize(transition.trigger));
  const form = h(
    "form",
    { class: "trigger-form", "data-trigger": transition.trigger, "aria-label": humanize(transition.trigger) },
    ...fields,
    h(
      "div",
      { class: "field" },
      h("label", { for: reasonId }, "Reason"),
      h("input", { id: reasonId, type: "text", "data-role": "reason", maxlength: "1000" }),
      h("p", { class: "field-error", "data-error-for": "reason", hidden: true }),
    ),
    status,
    button,
  );
  let key = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.hidden = true;
    button.disabled = true;
    const params = { ...preset, ...collect(form) };
    const reason = form.querySelector("[data-role=reason]").value.trim();
    try {
      const result = await onSubmit(params, reason, key);
      if (result === null) return;
      if (result.__typename === "LifecycleChanged") {
        key = crypto.randomUUID();
        return;
      }
      const rest = result.__typename === "ValidationError" ? showFieldErrors(form, result.fields) : [];
      status.textContent = result.__typename === "ValidationError"
        ? [result.message, ...rest].join(" ")
        : result.words;
      status.hidden = false;
      if (result.__typename !== "ValidationError") key = crypto.randomUUID();
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
