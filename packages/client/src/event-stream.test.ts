import { describe, expect, it } from 'vitest';
import { EventStreamParser } from './event-stream.js';

const stream = 'retry: 2000\n\nid: 7\nevent: ready\ndata: {"seq":7}\n\n: ping\n\nid: 8\nevent: release\ndata: {"seq":8,\ndata: "type":"release"}\n\n';
const expected = [
  { id: '7', event: 'ready', data: '{"seq":7}' },
  { id: '8', event: 'release', data: '{"seq":8,\n"type":"release"}' },
];

/** All messages of `chunks` fed one after another. */
function parse(chunks: string[]) {
  const parser = new EventStreamParser();
  return { messages: chunks.flatMap((chunk) => parser.push(chunk)), retryMs: parser.retryMs };
}

describe('EventStreamParser', () => {
  it.each([
    ['one chunk', [stream]],
    ['one character per chunk', [...stream]],
    ['CRLF line breaks split between chunks', stream.replaceAll('\n', '\r\n').split(/(?<=\r)/)],
    ['CR line breaks', [stream.replaceAll('\n', '\r')]],
  ])('reads messages, comments and retry from %s', (_, chunks) => {
    expect(parse(chunks)).toEqual({ messages: expected, retryMs: 2000 });
  });

  it('keeps the last event id for messages without one and ignores an incomplete message', () => {
    expect(parse(['id: 3\ndata: a\n\ndata: b\n\ndata: c\n']).messages).toEqual([
      { id: '3', event: 'message', data: 'a' },
      { id: '3', event: 'message', data: 'b' },
    ]);
  });
});
