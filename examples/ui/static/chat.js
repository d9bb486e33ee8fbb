// The chat page. One EventSource per thread; events are deduplicated by
// "<run_id>:<seq>" and shown in seq order. Model text is rendered by
// markdown.js (DOM nodes only); everything else with textContent.
//
// The thread id lives in localStorage, so a reload (or a new tab) keeps the
// conversation: the page reads the thread's messages from the server's history
// store (GET /threads/<id>/messages), and resumes the stream after the last run it
// saw end, so a run still going on shows again from its start.
"use strict";

const EVENT_TYPES = [
  "run.started", "run.completed", "run.failed", "agent.started", "agent.finished",
  "text.delta", "tool.call", "tool.result", "usage", "custom",
];
const THREAD_KEY = "agentkit-thread";
const SEND_TIMEOUT_MS = 20000;

const $ = (selector, root = document) => root.querySelector(selector);
const log = $("#log");
const form = $("#ask");
const input = $("#question");
const button = $("#send");
const statusLine = $("#status");
const hint = $("#hint");
const jump = $("#jump");
const examples = $("#examples");

let thread = null;
let source = null;
let seen = new Set();   // "<run_id>:<seq>" already applied
let runs = new Map();   // run_id -> view
let pending = [];       // turns asked from this page whose run has not started yet
let restored = [];      // turns read from the history store, oldest first
let connected = false;
let busy = false;
let follow = true;      // keep the newest event in view (until the user scrolls up)

function newThreadId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

function anchorKey() { return `agentkit-anchor:${thread}`; }

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

function updateForm() {
  const enabled = connected && !busy;
  input.disabled = !enabled;
  button.disabled = !enabled;
  if (enabled) input.focus({ preventScroll: true });
}

function clone(id) {
  return $(`#${id}`).content.firstElementChild.cloneNode(true);
}

function showExamples() {
  examples.classList.toggle("hidden", log.children.length > 0);
}

// -- following the newest event --------------------------------------------------------

function atBottom() {
  const page = document.scrollingElement;
  return page.scrollHeight - page.scrollTop - page.clientHeight < 60;
}

let scheduled = false;
function changed() {
  // called after the log grows: scroll along, once per frame, if following
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    if (follow) {
      window.scrollTo(0, document.scrollingElement.scrollHeight);
    } else {
      jump.classList.remove("hidden");
    }
  });
}

// the reader scrolling up stops the following; reaching the bottom again resumes
// it. (Not "is it at the bottom now": the log may have grown between the page's
// own scroll and its scroll event.)
let lastTop = 0;
window.addEventListener("scroll", () => {
  const top = document.scrollingElement.scrollTop;
  if (top < lastTop - 2) follow = false;
  if (atBottom()) follow = true;
  lastTop = top;
  if (follow) jump.classList.add("hidden");
}, { passive: true });

jump.addEventListener("click", () => {
  follow = true;
  jump.classList.add("hidden");
  window.scrollTo(0, document.scrollingElement.scrollHeight);
});

// -- views -----------------------------------------------------------------------------

function turnView(question) {
  const element = clone("turn-template");
  $(".question-text", element).textContent = question;
  return element;
}

function runView(runId, question) {
  let run = runs.get(runId);
  if (run) return run;
  // the first event of a run: the question this page asked, a restored turn the
  // run supersedes (the page reloaded while it ran), or a new turn
  let turn = pending.shift();
  if (!turn) {
    const index = question === undefined ? -1
      : restored.findIndex((old) => old.dataset.question === question);
    turn = turnView(question ?? "");
    if (index >= 0) {
      restored[index].replaceWith(turn);
      restored = restored.slice(index + 1);
    } else {
      log.append(turn);
    }
  }
  $(".send-state", turn).textContent = "";
  turn.dataset.runId = runId;
  const element = clone("run-template");
  $(".run-slot", turn).replaceChildren(element);
  run = { turn, element, agents: new Map(), mine: turn.dataset.mine === "yes" };
  runs.set(runId, run);
  showExamples();
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
    agent = {
      element, name: event.agent || call, items: [], tools: new Map(), latest: new Map(),
      usage: [0, 0], cost: 0, unpriced: false, text: "",
    };
    run.agents.set(call, agent);
  }
  return agent;
}

// the estimated cost (from the price table): "~$0.0012", or "cost unknown" without a price
function costText(usd, unpriced) {
  return unpriced ? "cost unknown" : `~$${usd.toFixed(4)}`;
}

function renderAgent(agent) {
  // each inference's text (its latest attempt) as Markdown, tool calls between
  const steps = $(".steps", agent.element);
  const blocks = [];
  let text = null;
  agent.items.sort((a, b) => a.seq - b.seq);
  for (const item of agent.items) {
    if (item.kind === "text") {
      if (item.attempt !== agent.latest.get(item.step)) continue;  // a retried inference
      if (text === null) {
        text = { kind: "text", value: "" };
        blocks.push(text);
      }
      text.value += item.delta;
    } else {
      text = null;
      blocks.push(item);
    }
  }
  const nodes = blocks.map((block) => {
    if (block.kind !== "text") return block.element;
    const node = document.createElement("div");
    node.className = "agent-text markdown";
    renderMarkdown(node, block.value);
    return node;
  });
  steps.replaceChildren(...nodes);
  agent.text = blocks.filter((b) => b.kind === "text").map((b) => b.value).join("\n");
}

function toolView(agent, event) {
  let tool = agent.tools.get(event.data.id);
  if (!tool) {
    const element = clone("tool-template");
    element.dataset.toolId = event.data.id;
    tool = { element };
    agent.tools.set(event.data.id, tool);
    agent.items.push({ kind: "tool", seq: event.seq, element });
    renderAgent(agent);
  }
  return tool;
}

function fillTool(element, name, args, result, isError) {
  $(".tool-name", element).textContent = name;
  if (args !== undefined) $(".tool-args", element).textContent = JSON.stringify(args);
  if (result !== undefined) {
    const shown = $(".tool-result", element);
    shown.textContent = typeof result === "string" ? result : JSON.stringify(result);
    shown.classList.remove("pending");
    shown.classList.toggle("failed", Boolean(isError));
  }
}

// -- events ----------------------------------------------------------------------------

function apply(event) {
  const key = `${event.run_id}:${event.seq}`;
  if (seen.has(key)) return;  // a retried step, or a reconnect, sent it again
  seen.add(key);
  const run = runView(event.run_id, event.type === "run.started" ? event.data.input : undefined);
  switch (event.type) {
    case "run.started":
      if (!$(".question-text", run.turn).textContent) {
        $(".question-text", run.turn).textContent = event.data.input;
      }
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
      agent.items.push({ kind: "text", seq: event.seq, attempt: event.attempt, step,
        delta: event.data.delta });
      renderAgent(agent);
      break;
    }
    case "tool.call": {
      const tool = toolView(agentView(run, event), event);
      fillTool(tool.element, event.data.name, event.data.arguments);
      break;
    }
    case "tool.result": {
      const tool = toolView(agentView(run, event), event);
      fillTool(tool.element, event.data.name, undefined, event.data.content,
        event.data.is_error);
      break;
    }
    case "custom": {
      // a tool's (or a hook's) own message: its topic and data, under the agent that sent it
      const element = clone("custom-template");
      element.dataset.topic = event.data.topic;
      $(".custom-topic", element).textContent = event.data.topic;
      const value = event.data.data;
      $(".custom-data", element).textContent =
        typeof value === "string" ? value : JSON.stringify(value);
      const agent = [...run.agents.values()].reverse().find((a) => a.name === event.agent);
      if (agent) {
        agent.items.push({ kind: "custom", seq: event.seq, element });
        renderAgent(agent);
      } else {
        $(".agents", run.element).append(element);
      }
      break;
    }
    case "usage": {
      const agent = agentView(run, event);
      agent.usage[0] += event.data.input_tokens;
      agent.usage[1] += event.data.output_tokens;
      if (typeof event.data.cost_usd === "number") agent.cost += event.data.cost_usd;
      else agent.unpriced = true;
      $(".usage", agent.element).textContent =
        `${agent.usage[0]} tokens in, ${agent.usage[1]} out · ${costText(agent.cost, agent.unpriced)}`;
      break;
    }
    case "agent.finished": {
      const agent = agentView(run, event);
      agent.element.classList.remove("running");
      $(".agent-state", agent.element).textContent = "done";
      break;
    }
    case "run.completed": {
      markAnswer(run, event.data.output || "");
      const usage = event.data.usage || {};
      const cost = event.data.cost || {};
      $(".usage-total", run.element).textContent =
        `Run total: ${usage.input_tokens || 0} tokens in, ${usage.output_tokens || 0} out · ` +
        costText(cost.cost_usd || 0, typeof cost.cost_usd !== "number");
      finishRun(run, event);
      break;
    }
    case "run.failed": {
      const error = $(".error", run.element);
      error.textContent = `The run failed: ${event.data.error}`;
      error.classList.remove("hidden");
      finishRun(run, event);
      break;
    }
  }
  changed();
}

function markAnswer(run, output) {
  // the final answer is the last agent's text: mark it, rather than show it twice
  const wanted = output.trim();
  if (!wanted) return;
  const agents = [...run.agents.values()].reverse();
  const found = agents.find((agent) => agent.text.trim() === wanted);
  if (found) {
    found.element.classList.add("answer");
    return;
  }
  const answer = $(".answer-box", run.element);
  renderMarkdown($(".answer-text", answer), wanted);
  answer.classList.remove("hidden");
}

function finishRun(run, event) {
  // an agent still running when the run fails is where it failed
  const failed = event.type === "run.failed";
  for (const agent of run.agents.values()) {
    if (agent.element.classList.contains("running")) {
      agent.element.classList.remove("running");
      agent.element.classList.toggle("failed", failed);
      $(".agent-state", agent.element).textContent = failed ? "failed" : "stopped";
    }
  }
  run.element.classList.add("ended");
  localStorage.setItem(anchorKey(), `${event.run_id}:${event.seq}`);
  if (run.mine) {
    busy = false;
    updateForm();
  }
}

// -- the conversation so far -------------------------------------------------------------

function restoreTurns(messages) {
  // group the stored messages by user message: a question and what answered it
  const turns = [];
  for (const message of messages) {
    if (message.kind === "text" && message.role === "user") {
      turns.push({ question: message.content, parts: [] });
    } else if (turns.length && message.role !== "system") {
      turns[turns.length - 1].parts.push(message);
    }
  }
  for (const turn of turns) {
    const element = turnView(turn.question);
    element.classList.add("restored");
    element.dataset.question = turn.question;
    const body = clone("restored-template");
    const steps = $(".steps", body);
    const results = new Map();
    for (const part of turn.parts) {
      if (part.kind === "tool_result") results.set(part.tool_call_id, part);
    }
    let last = null;
    for (const part of turn.parts) {
      if (part.kind === "tool_call") {
        for (const call of part.tools) {
          const tool = clone("tool-template");
          const result = results.get(call.id);
          fillTool(tool, call.name, call.arguments, result ? result.content : undefined,
            result && result.is_error);
          steps.append(tool);
        }
      } else if (part.kind === "text" && part.content) {
        last = document.createElement("div");
        last.className = "agent-text markdown";
        renderMarkdown(last, part.content);
        steps.append(last);
      }
    }
    if (last) last.classList.add("answer-text-restored");
    $(".run-slot", element).replaceChildren(body);
    log.append(element);
    restored.push(element);
  }
}

async function loadThread() {
  try {
    const response = await fetch(`/threads/${encodeURIComponent(thread)}/messages`);
    if (response.ok) restoreTurns((await response.json()).messages);
  } catch (error) {
    showProblem(`Could not load the conversation: ${error.message}`);
  }
  showExamples();
  follow = true;
  changed();
}

function showProblem(text, where = log) {
  const element = document.createElement("p");
  element.className = "error";
  element.setAttribute("role", "alert");
  element.textContent = text;
  where.append(element);
  return element;
}

// -- the stream ------------------------------------------------------------------------

function connect() {
  if (source) source.close();
  const anchor = localStorage.getItem(anchorKey());
  const query = anchor ? `?after=${encodeURIComponent(anchor)}` : "";
  source = new EventSource(`/streams/${encodeURIComponent(thread)}${query}`);
  const mine = source;
  // "ready" comes once the server's subscription is live: questions asked after it
  // miss nothing. After a dropped connection the browser reconnects by itself,
  // sending Last-Event-ID, and the server resumes after that event.
  source.addEventListener("ready", () => {
    if (mine !== source) return;
    connected = true;
    setStatus("live", "live");
    updateForm();
  });
  source.addEventListener("error", () => {
    if (mine !== source) return;
    connected = false;
    setStatus("reconnecting", "reconnecting…");
    updateForm();
  });
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => {
      if (mine === source) apply(JSON.parse(message.data));
    });
  }
}

async function openThread(id) {
  thread = id;
  localStorage.setItem(THREAD_KEY, thread);
  seen = new Set();
  runs = new Map();
  pending = [];
  restored = [];
  busy = false;
  log.replaceChildren();
  jump.classList.add("hidden");
  await loadThread();  // before the stream, so a replayed run can take its turn's place
  connect();
}

// -- asking ----------------------------------------------------------------------------

async function ask(message) {
  hint.textContent = "";
  const turn = turnView(message);
  turn.dataset.mine = "yes";
  const state = $(".send-state", turn);
  state.textContent = "sending…";
  log.append(turn);
  pending.push(turn);
  showExamples();
  input.value = "";
  busy = true;
  updateForm();
  follow = true;
  changed();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), SEND_TIMEOUT_MS);
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message, thread_id: thread }),
      signal: abort.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      throw new Error(`HTTP ${response.status}: ${detail}`);
    }
    if (state.textContent === "sending…") state.textContent = "sent, waiting for the agents…";
  } catch (error) {
    const reason = error.name === "AbortError"
      ? `no answer from the server in ${SEND_TIMEOUT_MS / 1000} s` : error.message;
    pending = pending.filter((other) => other !== turn);
    state.textContent = "not sent";
    turn.classList.add("failed");
    showProblem(`Could not send your question: ${reason}`, turn);
    input.value = message;  // ready to try again
    busy = false;
    updateForm();
    changed();
  } finally {
    clearTimeout(timer);
  }
}

form.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const message = input.value.trim();
  if (busy) return;
  if (!message) {
    hint.textContent = "Type a question first.";
    input.focus();
    return;
  }
  ask(message);
});

input.addEventListener("input", () => { hint.textContent = ""; });

$("#new-chat").addEventListener("click", () => {
  localStorage.removeItem(anchorKey());
  openThread(newThreadId());
});

fetch("/config").then((r) => r.json()).then((config) => {
  $("#about").textContent = `${config.network}, answered by ${config.model}`;
  const list = $("ul", examples);
  for (const question of config.examples || []) {
    const item = document.createElement("li");
    const choice = document.createElement("button");
    choice.type = "button";
    choice.textContent = question;
    choice.addEventListener("click", () => {
      if (connected && !busy) ask(question);
    });
    item.append(choice);
    list.append(item);
  }
}).catch(() => { $("#about").textContent = ""; });

openThread(localStorage.getItem(THREAD_KEY) || newThreadId());
