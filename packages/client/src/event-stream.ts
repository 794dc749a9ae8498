// Incremental parser of the text/event-stream format (WHATWG HTML, server-sent events): text in
// as it arrives, complete messages out; a line split across chunks waits for its end.

export interface EventStreamMessage {
  /** The stream's last event ID when the message was dispatched ('' when none was sent). */
  id: string;
  /** The `event:` field, `message` when absent. */
  event: string;
  data: string;
}

const LF = 10;
const CR = 13;

export class EventStreamParser {
  /** Reconnection delay the server asked for with `retry:`, if it did. */
  retryMs: number | null = null;
  private pending = '';
  /** A chunk ended with CR: a LF opening the next chunk belongs to the same line break. */
  private skipLineFeed = false;
  private data: string[] = [];
  private event = '';
  private lastEventId = '';

  push(text: string): EventStreamMessage[] {
    const messages: EventStreamMessage[] = [];
    if (this.skipLineFeed && text.charCodeAt(0) === LF) text = text.slice(1);
    this.skipLineFeed = false;
    const buffer = this.pending + text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      this.line(buffer.slice(start, i), messages);
      if (c === CR) {
        if (i + 1 === buffer.length) this.skipLineFeed = true;
        else if (buffer.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    this.pending = buffer.slice(start);
    return messages;
  }

  private line(line: string, messages: EventStreamMessage[]) {
    if (line === '') {
      if (this.data.length > 0) messages.push({ id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: the server's heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}
