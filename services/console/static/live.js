// Live updates: a small graphql-transport-ws client for the API's lifecycleChanged subscription.
// connection_init carries the bearer token; a dropped connection is opened again and resumes
// after the last sequence seen, so nothing is missed between reconnects.

import { token } from "./api.js";

const SUBSCRIPTION = `subscription Changes($kind: String, $id: ID, $accountId: ID, $owner: String, $afterSequence: Int) {
  lifecycleChanged(kind: $kind, id: $id, accountId: $accountId, owner: $owner, afterSequence: $afterSequence) {
    sequence
    lifecycle { id kind stateName version owner accountId }
    transition { seq trigger actor toState }
  }
}`;

// Close codes the protocol uses for "do not come back with this token".
const REFUSED = new Set([4401, 4403]);
const MAX_BACKOFF_MS = 15000;

export class LiveFeed {
  // onEvent(change) for each change; onGap() when changes may have been missed for good
  // (the feed no longer holds them), so the page reloads what it shows.
  constructor(filter, onEvent, onStatus, onGap) {
    this.filter = filter;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onGap = onGap;
    this.lastSequence = null;
    this.socket = null;
    this.stopped = false;
    this.backoff = 500;
    this.retry = null;
  }

  start() {
    this.stopped = false;
    this.open();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.socket) {
      if (this.socket.readyState === WebSocket.OPEN) this.send({ id: "1", type: "complete" });
      this.socket.close(1000, "page left");
    }
    this.socket = null;
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  open() {
    const bearer = token();
    if (!bearer || this.stopped) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    let socket;
    try {
      socket = new WebSocket(url, "graphql-transport-ws");
    } catch {
      this.later();
      return;
    }
    this.socket = socket;
    this.onStatus("connecting");
    socket.onopen = () => this.send({ type: "connection_init", payload: { Authorization: `Bearer ${bearer}` } });
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (REFUSED.has(event.code)) {
        this.onStatus("refused");
        return;
      }
      this.onStatus("reconnecting");
      this.later();
    };
  }

  later() {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  refused(socket, errors) {
    const code = (Array.isArray(errors) ? errors : [])[0]?.extensions?.code;
    if (code === "ChangesPruned" || code === "SLOW_SUBSCRIBER") {
      // Too far behind to resume: start afresh from now and have the page reload.
      this.lastSequence = null;
      this.onGap();
      socket.close(1000, "resubscribing");
      return;
    }
    // Any other refusal would be refused again: stay closed and say so.
    this.stopped = true;
    this.onStatus("refused");
    socket.close(1000, "subscription refused");
  }

  receive(socket, message) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "connection_ack": {
        this.backoff = 500;
        const variables = { ...this.filter, afterSequence: this.lastSequence };
        this.send({ id: "1", type: "subscribe", payload: { query: SUBSCRIPTION, variables } });
        this.onStatus("live");
        break;
      }
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next": {
        const change = frame.payload?.data?.lifecycleChanged;
        if (change) {
          this.lastSequence = Math.max(this.lastSequence ?? 0, change.sequence);
          this.onEvent(change);
        } else if (frame.payload?.errors) {
          this.refused(socket, frame.payload.errors);
        }
        break;
      }
      case "error":
        this.refused(socket, frame.payload);
        break;
      case "complete":
        // The server ended the subscription (a restart, a slow subscriber dropped): resume.
        socket.close(1000, "completed");
        break;
      default:
        break;
    }
  }
}
