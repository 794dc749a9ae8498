// The content editor: CodeMirror 6 in JSON or YAML, with the kind's JSON Schema driving
// completion and validation as one types, and the server's own errors marked on their lines.
// Loaded lazily (its own chunk): nothing else on a page pulls CodeMirror in.
import './editor-styles';
import { useEffect, useRef } from 'react';
import { basicSetup } from 'codemirror';
import { EditorView, Decoration, type DecorationSet } from '@codemirror/view';
import { EditorState, StateEffect, StateField, type Extension } from '@codemirror/state';
import { json, jsonLanguage, jsonParseLinter } from '@codemirror/lang-json';
import { yaml, yamlLanguage } from '@codemirror/lang-yaml';
import { forEachDiagnostic, linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { getJsonPointers, handleRefresh, jsonPointerForPosition, jsonCompletion, jsonSchemaLinter, stateExtensions, updateSchema } from 'codemirror-json-schema';
import { yamlCompletion, yamlSchemaLinter } from 'codemirror-json-schema/yaml';
import { parseDocument } from 'yaml';

/** The schema type codemirror-json-schema takes (JSON Schema draft-07). */
type JSONSchema7 = NonNullable<Parameters<typeof updateSchema>[1]>;

export type EditorMode = 'json' | 'yaml';

export interface Problem {
  line: number;
  /** JSON Pointer of the field the problem is at. */
  pointer: string;
  message: string;
}

export interface ServerError {
  /** JSON Pointer into the content (`/steps/0/template/body`). */
  pointer: string;
  message: string;
}

export interface EditorProps {
  value: string;
  onChange: (text: string) => void;
  mode: EditorMode;
  schema: Record<string, unknown> | undefined;
  /** Ids of the visible label and of what describes the editor (its problem list). */
  labelledBy: string;
  describedBy?: string;
  serverErrors?: ServerError[];
  onProblems?: (problems: Problem[]) => void;
  readOnly?: boolean;
}

const setServerMarks = StateEffect.define<number[]>();
const serverLine = Decoration.line({ class: 'cm-server-error-line' });

/** Lines the server named in its last answer; they stay marked until the text changes there. */
const serverMarks = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    let next = marks.map(tr.changes);
    for (const effect of tr.effects) {
      if (effect.is(setServerMarks)) {
        const lines = [...new Set(effect.value.map((pos) => tr.state.doc.lineAt(Math.min(pos, tr.state.doc.length)).from))].sort((a, b) => a - b);
        next = Decoration.set(lines.map((from) => serverLine.range(from)));
      }
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px' },
  '&.cm-focused': { outline: '2px solid #2552c9', outlineOffset: '1px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace' },
  '.cm-server-error-line': { backgroundColor: '#fdecea' },
});

function yamlParseLinter(view: EditorView): Diagnostic[] {
  const text = view.state.doc.toString();
  const doc = parseDocument(text, { prettyErrors: false });
  return doc.errors.map((error) => {
    const from = Math.min(error.pos[0], text.length);
    return { from, to: Math.min(Math.max(error.pos[1], from), text.length), severity: 'error', message: error.message.split('\n')[0] ?? error.message };
  });
}

function languageOf(mode: EditorMode): Extension[] {
  if (mode === 'json') {
    return [json(), linter(jsonParseLinter(), { delay: 300 }), linter(jsonSchemaLinter(), { needsRefresh: handleRefresh, delay: 300 }), jsonLanguage.data.of({ autocomplete: jsonCompletion() })];
  }
  return [yaml(), linter(yamlParseLinter, { delay: 300 }), linter(yamlSchemaLinter(), { needsRefresh: handleRefresh, delay: 300 }), yamlLanguage.data.of({ autocomplete: yamlCompletion() })];
}

/** The field at a position, as a JSON Pointer ('' when the parser cannot tell). */
function pointerAt(state: EditorState, mode: EditorMode, pos: number): string {
  try {
    return jsonPointerForPosition(state, pos, 1, mode === 'json' ? 'json4' : 'yaml');
  } catch {
    return '';
  }
}

/** The position of a pointer in the text, or of its nearest parent that is there. */
function positionOf(state: EditorState, mode: EditorMode, pointer: string): number {
  const pointers = getJsonPointers(state, mode === 'json' ? 'json4' : 'yaml');
  let current = pointer;
  for (;;) {
    const found = pointers.get(current);
    if (found) return found.keyFrom;
    if (current === '') return 0;
    current = current.slice(0, current.lastIndexOf('/'));
  }
}

export default function Editor({ value, onChange, mode, schema, labelledBy, describedBy, serverErrors = [], onProblems, readOnly = false }: EditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const callbacks = useRef({ onChange, onProblems });
  callbacks.current = { onChange, onProblems };

  useEffect(() => {
    let problems = '';
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          theme,
          lintGutter(),
          ...languageOf(mode),
          stateExtensions(schema as JSONSchema7 | undefined),
          serverMarks,
          EditorState.readOnly.of(readOnly),
          EditorView.contentAttributes.of({ 'aria-labelledby': labelledBy, ...(describedBy ? { 'aria-describedby': describedBy } : {}), 'aria-multiline': 'true' }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) callbacks.current.onChange(update.state.doc.toString());
            const found: Problem[] = [];
            forEachDiagnostic(update.state, (d) => {
              if (d.severity === 'error' || d.severity === 'warning') found.push({ line: update.state.doc.lineAt(d.from).number, pointer: pointerAt(update.state, mode, d.from), message: d.message });
            });
            const text = JSON.stringify(found);
            if (text !== problems) {
              problems = text;
              callbacks.current.onProblems?.(found);
            }
          }),
        ],
      }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // The editor is made once per mode; value and schema changes are dispatched below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mode, readOnly]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    if (view.current) updateSchema(view.current, schema as JSONSchema7 | undefined);
  }, [schema]);

  useEffect(() => {
    const editor = view.current;
    if (!editor) return;
    editor.dispatch({ effects: setServerMarks.of(serverErrors.map((e) => positionOf(editor.state, mode, e.pointer))) });
  }, [serverErrors, mode]);

  return <div className="resource-editor" ref={host} />;
}
