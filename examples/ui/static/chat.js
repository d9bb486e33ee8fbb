// The chat page: one EventSource per thread, events deduplicated by
// "<run_id>:<seq>" and ordered by seq, rendered with textContent only.
"use strict";

const EVENT_TYPES = [
  "run.started", "run.completed", "run.failed", "agent.started", "agent.finished",
  "text.delta", "tool.call", "tool.result", "usage",
];

const $ = (selector, root = document) => root.querySelector(selector);
const log = $("#log");
const form = $("#ask");
const input = $("#question");
const button = $("#send");
const statusLine = $("#status");

function newThreadId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// A thread per browser tab: reloading keeps it (and the server resumes the stream).
const thread = sessionStorage.getItem("agentkit-thread") || newThreadId();
sessionStorage.setItem("agentkit-thread", thread);

const seen = new Set();   // "<run_id>:<seq>" already applied
const runs = new Map();   // run_id -> view
let connected = false;
let busy = false;

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

function updateForm() {
  const enabled = connected && !busy;
  input.disabled = !enabled;
  button.disabled = !enabled;
  if (enabled) input.focus();
}

function clone(id) {
  return $(`#${id}`).content.firstElementChild.cloneNode(true);
}

// -- views -----------------------------------------------------------------------------

function runView(runId) {
  let run = runs.get(runId);
  if (!run) {
    const element = clone("run-template");
    element.dataset.runId = runId;
    log.append(element);
    run = { element, agents: new Map() };
    runs.set(runId, run);
  }
  return run;
}

function agentView(run, event) {
  const call = event.data.call;
  let agent = run.agents.get(call);
  if (!agent) {
    const element = clone("agent-template");
    element.dataset.call = call;
    $(".agent-name", element).textContent = event.agent || call;
    $(".agents", run.element).append(element);
    // items: text pieces and tool calls, shown in seq order
    agent = { element, items: [], tools: new Map(), latest: new Map(), usage: [0, 0] };
    run.agents.set(call, agent);
  }
  return agent;
}

function place(agent, item, rerender = false) {
  const last = agent.items[agent.items.length - 1];
  agent.items.push(item);
  if (rerender || (last && item.seq < last.seq)) {
    agent.items.sort((a, b) => a.seq - b.seq);
    renderAgent(agent);
    return;
  }
  // the usual case, in order: add to the end
  const steps = $(".steps", agent.element);
  if (item.kind !== "text") {
    steps.append(item.element);
    return;
  }
  let paragraph = steps.lastElementChild;
  if (!paragraph || !paragraph.classList.contains("agent-text")) {
    paragraph = document.createElement("p");
    paragraph.className = "agent-text";
    steps.append(paragraph);
  }
  paragraph.textContent += item.delta;
}

function renderAgent(agent) {
  const steps = $(".steps", agent.element);
  steps.replaceChildren();
  let paragraph = null;
  for (const item of agent.items) {
    if (item.kind === "text") {
      // a retried inference streams again: show each step's latest attempt only
      if (item.attempt !== agent.latest.get(item.step)) continue;
      if (!paragraph) {
        paragraph = document.createElement("p");
        paragraph.className = "agent-text";
        steps.append(paragraph);
      }
      paragraph.textContent += item.delta;
    } else {
      paragraph = null;
      steps.append(item.element);
    }
  }
}

function toolView(agent, event) {
  let tool = agent.tools.get(event.data.id);
  if (!tool) {
    const element = clone("tool-template");
    element.dataset.toolId = event.data.id;
    tool = { element };
    agent.tools.set(event.data.id, tool);
    place(agent, { kind: "tool", seq: event.seq, element });
  }
  return tool;
}

// -- events ----------------------------------------------------------------------------

function apply(event) {
  const key = `${event.run_id}:${event.seq}`;
  if (seen.has(key)) return;  // a retried step, or a reconnect, sent it again
  seen.add(key);
  const run = runView(event.run_id);
  switch (event.type) {
    case "run.started":
      break;
    case "agent.started":
      agentView(run, event);
      break;
    case "text.delta": {
      const agent = agentView(run, event);
      const step = event.data.step;
      const latest = agent.latest.get(step);
      if (latest !== undefined && event.attempt < latest) break;  // an abandoned attempt
      agent.latest.set(step, event.attempt);
      place(agent, { kind: "text", seq: event.seq, attempt: event.attempt, step,
        delta: event.data.delta }, latest !== undefined && event.attempt > latest);
      break;
    }
    case "tool.call": {
      const tool = toolView(agentView(run, event), event);
      $(".tool-name", tool.element).textContent = event.data.name;
      $(".tool-args", tool.element).textContent = JSON.stringify(event.data.arguments);
      break;
    }
    case "tool.result": {
      const tool = toolView(agentView(run, event), event);
      $(".tool-name", tool.element).textContent = event.data.name;
      const result = $(".tool-result", tool.element);
      result.textContent = event.data.content;
      result.classList.remove("pending");
      result.classList.toggle("failed", Boolean(event.data.is_error));
      break;
    }
    case "usage": {
      const agent = agentView(run, event);
      agent.usage[0] += event.data.input_tokens;
      agent.usage[1] += event.data.output_tokens;
      $(".usage", agent.element).textContent =
        `${agent.usage[0]} tokens in, ${agent.usage[1]} out`;
      break;
    }
    case "agent.finished": {
      const agent = agentView(run, event);
      agent.element.classList.remove("running");
      $(".agent-state", agent.element).textContent = "done";
      break;
    }
    case "run.completed": {
      const final = $(".final", run.element);
      $(".final-answer", final).textContent = event.data.output;
      final.classList.remove("hidden");
      const usage = event.data.usage || {};
      $(".usage-total", run.element).textContent =
        `Run total: ${usage.input_tokens || 0} tokens in, ${usage.output_tokens || 0} out`;
      finishRun(run);
      break;
    }
    case "run.failed": {
      const error = $(".error", run.element);
      error.textContent = `The run failed: ${event.data.error}`;
      error.classList.remove("hidden");
      finishRun(run);
      break;
    }
  }
}

function finishRun(run) {
  for (const agent of run.agents.values()) {
    if (agent.element.classList.contains("running")) {
      agent.element.classList.remove("running");
      $(".agent-state", agent.element).textContent = "stopped";
    }
  }
  run.element.classList.add("ended");
  busy = false;
  updateForm();
}

function showProblem(text) {
  const element = document.createElement("p");
  element.className = "error";
  element.setAttribute("role", "alert");
  element.textContent = text;
  log.append(element);
}

// -- the stream ------------------------------------------------------------------------

const source = new EventSource(`/streams/${encodeURIComponent(thread)}`);
// "ready" comes once the server's subscription is live: questions asked after it
// miss nothing. After a dropped connection the browser reconnects by itself,
// sending Last-Event-ID, and the server resumes after that event.
source.addEventListener("ready", () => {
  connected = true;
  setStatus("live", "live");
  updateForm();
});
source.addEventListener("error", () => {
  connected = false;
  setStatus("reconnecting", "reconnecting…");
  updateForm();
});
for (const type of EVENT_TYPES) {
  source.addEventListener(type, (message) => apply(JSON.parse(message.data)));
}

form.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const message = input.value.trim();
  if (!message || busy) return;
  const bubble = document.createElement("p");
  bubble.className = "question";
  bubble.textContent = message;
  log.append(bubble);
  input.value = "";
  busy = true;
  updateForm();
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message, thread_id: thread }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      throw new Error(`HTTP ${response.status}: ${detail}`);
    }
  } catch (error) {
    showProblem(`Could not start the run: ${error.message}`);
    busy = false;
    updateForm();
  }
});

fetch("/config").then((r) => r.json()).then((config) => {
  $("#about").textContent = `${config.network}, answered by ${config.model}`;
}).catch(() => { $("#about").textContent = ""; });
