// The tab's websocket: reconnects with back-off and tells the page when it is
// offline. What to resend or resubscribe after a reconnect is the page's call
// (see main.js); frames are idempotent by client_id and seq.

const PING_EVERY = 25000;
const PONG_WITHIN = 10000;
const BACKOFF_MAX = 10000;
const SIGNED_OUT = 4401; // the close code of a socket that is not signed in (docs/protocol.md)
const SESSION_CHECK_DELAY = 1000;

export class Connection extends EventTarget {
  constructor(path) {
    super();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}${path}`;
    this.attempt = 0;
    this.socket = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryTimer = null;
    this.checking = false; // after a 4401: does a fresh handshake still sign in?
    this.signedOut = false; // then it did not: no more reconnecting
    this.held = []; // frames waiting for the parts of a large frame before them
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.signedOut) return;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.held = []; // parts never span two connections
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.startPings();
      // While checking, only a pong proves this socket is signed in.
      if (this.checking) this.send({ type: "ping" });
      else this.dispatchEvent(new Event("open"));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.stopPings();
      this.socket = null;
      if (event.code === SIGNED_OUT) {
        this.sessionEnded();
        return;
      }
      this.dispatchEvent(new Event("offline"));
      this.scheduleReconnect();
    });
  }

  // The server closed with 4401. A password change in this browser replaces its
  // session, so one fresh handshake tells whether it is still signed in; if that
  // is refused too, the tab is signed out and stops reconnecting. The old session
  // ends while the password change is still being answered: the check waits a
  // moment, or it would race the response that brings the new session cookie.
  sessionEnded() {
    if (this.checking) {
      this.signedOut = true;
      this.dispatchEvent(new Event("signedout"));
      return;
    }
    this.checking = true;
    this.dispatchEvent(new Event("offline"));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), SESSION_CHECK_DELAY);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "pong") {
      clearTimeout(this.pongTimer);
      if (this.checking) {
        this.checking = false;
        this.dispatchEvent(new Event("open"));
      }
      return;
    }
    if (frame.type === "part" || this.held.length) {
      this.hold(frame);
      return;
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  // A frame too large for one websocket message comes as `part` frames
  // (docs/protocol.md). Frames that arrive while one is incomplete wait behind
  // it, so the page sees every frame in the order the server sent them.
  hold(frame) {
    if (frame.type !== "part") {
      this.held.push({ frame });
    } else {
      let entry = this.held.find((item) => item.id === frame.id);
      if (!entry) {
        entry = { id: frame.id, of: frame.of, texts: [], count: 0, frame: null };
        this.held.push(entry);
      }
      entry.texts[frame.n] = frame.text;
      entry.count += 1;
      if (entry.count === entry.of) {
        try {
          entry.frame = JSON.parse(entry.texts.join(""));
        } catch {
          entry.frame = { type: "ignored" };
        }
      }
    }
    while (this.held.length && this.held[0].frame) {
      const ready = this.held.shift().frame;
      this.dispatchEvent(new CustomEvent("frame", { detail: ready }));
    }
  }

  send(frame) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // For tests and for a user who wants to retry at once.
  drop() {
    if (this.socket) this.socket.close();
  }

  reconnectNow() {
    if (this.socket === null) {
      this.attempt = 0;
      this.connect();
    }
  }

  scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX, 500 * 2 ** this.attempt);
    const delay = base * (0.7 + Math.random() * 0.6);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { attempt: this.attempt, delay } }));
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      // A connection that silently died answers nothing: close it to reconnect.
      this.pongTimer = setTimeout(() => this.drop(), PONG_WITHIN);
    }, PING_EVERY);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
