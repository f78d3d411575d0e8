// The state of the open conversation: every message of its tree, the branch on
// screen, and the text of answers as they stream, applied by the sequence rules
// of docs/protocol.md (no gap, no duplicate).

export class Thread {
  constructor(data) {
    this.conversation = data ? data.conversation : null;
    this.messages = new Map();
    this.leaf = this.conversation ? this.conversation.current_leaf : null;
    for (const message of data ? data.messages : []) this.messages.set(message.id, message);
    if (!this.leaf && this.messages.size) {
      // No branch chosen yet (older data): show the newest line of the tree.
      const roots = this.children(null);
      this.leaf = this.deepest(roots[roots.length - 1]).id;
    }
  }

  get id() {
    return this.conversation ? this.conversation.id : null;
  }

  children(parentId) {
    const kids = [];
    for (const message of this.messages.values()) {
      if ((message.parent_id || null) === (parentId || null)) kids.push(message);
    }
    return kids.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1));
  }

  siblings(message) {
    return this.children(message.parent_id).filter((m) => m.role === message.role);
  }

  // The messages from the root to the leaf, oldest first.
  branch() {
    const branch = [];
    let node = this.leaf ? this.messages.get(this.leaf) : null;
    while (node) {
      branch.push(node);
      node = node.parent_id ? this.messages.get(node.parent_id) : null;
    }
    return branch.reverse();
  }

  // Following the newest child down from a message: where a switch of sibling lands.
  deepest(message) {
    let node = message;
    for (;;) {
      const kids = this.children(node.id);
      if (!kids.length) return node;
      node = kids[kids.length - 1];
    }
  }

  streaming() {
    return [...this.messages.values()].filter((m) => m.status === "streaming");
  }

  // A stored message arrived (echo, new answer, snapshot of a finished one).
  upsert(message) {
    const known = this.messages.get(message.id);
    if (known && known.seq > message.seq && known.status === "streaming") {
      message = { ...message, content: known.content, reasoning: known.reasoning, seq: known.seq };
    }
    this.messages.set(message.id, { ...(known || {}), ...message });
    return this.messages.get(message.id);
  }

  // Returns "applied", "duplicate", "gap" or "unknown".
  applyDelta(frame) {
    const message = this.messages.get(frame.message_id);
    if (!message) return "unknown";
    if (frame.seq <= message.seq) return "duplicate";
    if (frame.after !== message.seq) return "gap";
    message.content += frame.text;
    if (frame.reasoning) message.reasoning = (message.reasoning || "") + frame.reasoning;
    message.seq = frame.seq;
    return "applied";
  }

  applySnapshot(frame) {
    const message = this.messages.get(frame.id);
    if (!message || frame.seq < message.seq) return false;
    message.content = frame.content;
    if (frame.reasoning !== undefined) message.reasoning = frame.reasoning;
    message.seq = frame.seq;
    return true;
  }

  applyDone(frame) {
    const message = this.messages.get(frame.message_id);
    if (!message) return null;
    message.status = frame.status;
    message.finish_reason = frame.finish_reason || "";
    message.error_code = frame.error ? frame.error.code : "";
    message.error_message = frame.error ? frame.error.message : "";
    if (frame.moderation !== undefined) message.moderation = frame.moderation;
    message.prompt_tokens = frame.usage.prompt_tokens;
    message.completion_tokens = frame.usage.completion_tokens;
    message.usage_estimated = frame.usage.estimated;
    message.ttft_ms = frame.ttft_ms;
    if (frame.reasoning_ms !== undefined) message.reasoning_ms = frame.reasoning_ms;
    if (frame.usage.reasoning_tokens !== undefined) message.reasoning_tokens = frame.usage.reasoning_tokens;
    if (frame.images) message.images = frame.images; // an image answer's files on this site
    return message;
  }
}
