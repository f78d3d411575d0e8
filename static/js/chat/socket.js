// The tab's websocket: reconnects with back-off and tells the page when it is
// offline. What to resend or resubscribe after a reconnect is the page's call
// (see main.js); frames are idempotent by client_id and seq.

const PING_EVERY = 25000;
const PONG_WITHIN = 10000;
const BACKOFF_MAX = 10000;

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
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.startPings();
      this.dispatchEvent(new Event("open"));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.stopPings();
      this.socket = null;
      this.dispatchEvent(new Event("offline"));
      this.scheduleReconnect();
    });
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
      return;
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
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
