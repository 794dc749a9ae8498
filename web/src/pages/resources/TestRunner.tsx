// The workflow test runner: runs the draft (in editable environments; the committed version
// elsewhere) for one recipient with data, through the environment's channels, and shows every
// rendered message per step and channel.
import { useState } from 'react';
import { fieldErrors } from '../../api/client';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Notice } from '../../components/Feedback';
import { TextAreaField, TextField } from '../../components/Misc';
import { useEnv } from '../../context';
import { writes, type TestRunAnswer, type TestRunMessage } from './api';
import { JsonBlock, pretty } from './shared';

export function TestRunner({ workflow }: { workflow: string }) {
  const { ws, env, environment } = useEnv();
  const editable = environment?.editable ?? false;
  const [recipientId, setRecipientId] = useState('test-user');
  const [email, setEmail] = useState('test@example.com');
  const [name, setName] = useState('Test User');
  const [data, setData] = useState('{}');
  const [dataError, setDataError] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestRunAnswer | null>(null);

  const byField = fieldErrors(error);

  async function run() {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data || '{}');
    } catch (caught) {
      setDataError(`The JSON does not parse: ${(caught as Error).message}`);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      setDataError('must be a JSON object');
      return;
    }
    setDataError(null);
    setBusy(true);
    setError(null);
    try {
      const recipient = { id: recipientId, ...(email ? { email } : {}), ...(name ? { name } : {}) };
      setResult(
        await writes.testRun(ws, env, { workflow, recipients: [recipient], data: parsed as Record<string, unknown>, ...(editable ? {} : { useCommitted: true }) }),
      );
    } catch (caught) {
      setError(caught);
      setResult(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="test-runner">
      <form
        className="section"
        aria-labelledby="test-form-title"
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <h2 id="test-form-title">Run {editable ? 'the draft' : 'the committed version'} in {environment?.name ?? env}</h2>
        <p className="muted">
          It delivers through {environment?.name ?? env}'s channels now: an email step sends a real email to the address below. Secrets show as [secret NAME].
        </p>
        <div className="runner-fields">
          <TextField label="Recipient id" value={recipientId} onChange={(e) => setRecipientId(e.target.value)} error={byField['recipients.0.id'] ?? byField['recipients.0']} required />
          <TextField label="Recipient email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={byField['recipients.0.email']} />
          <TextField label="Recipient name" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <TextAreaField label="Data (JSON)" hint="what templates read as data.*" value={data} onChange={(e) => setData(e.target.value)} error={dataError ?? byField.data} spellCheck={false} rows={4} />
        <ErrorNotice error={Object.keys(byField).some((f) => f.startsWith('recipients') || f === 'data') ? null : error} />
        <Button variant="primary" type="submit" busy={busy}>
          Run test
        </Button>
      </form>
      <div aria-live="polite">{result ? <Result result={result} /> : !busy ? <EmptyState title="No test run yet">Fill in a recipient and run the test to see each rendered message.</EmptyState> : null}</div>
    </div>
  );
}

function Result({ result }: { result: TestRunAnswer }) {
  return (
    <section className="section" aria-labelledby="test-result-title">
      <h2 id="test-result-title">
        Result: <Badge tone={result.run.status === 'completed' ? 'success' : result.run.status === 'failed' ? 'danger' : 'info'}>{result.run.status}</Badge>{' '}
        <span className="muted">
          ({result.version} version, {result.messages.length} message{result.messages.length === 1 ? '' : 's'})
        </span>
      </h2>
      {result.masked ? <Notice kind="warning">This environment obfuscates data: recipients' values are masked in the messages.</Notice> : null}
      {result.run.error ? <ErrorNotice error={new Error(result.run.error)} title="The run failed" /> : null}
      {result.messages.length === 0 ? <p className="muted">No step produced a message.</p> : null}
      <ol className="messages">
        {result.messages.map((m, i) => (
          <li key={i} className="message">
            <MessageView message={m} />
          </li>
        ))}
      </ol>
    </section>
  );
}

function MessageView({ message }: { message: TestRunMessage }) {
  const fields = message.message && typeof message.message === 'object' && !Array.isArray(message.message) ? Object.entries(message.message as Record<string, unknown>) : null;
  return (
    <>
      <h3 className="message-title">
        Step {message.step + 1} · <code>{message.type}</code> · to {message.recipient}{' '}
        <Badge tone={message.status === 'completed' ? 'success' : message.status === 'failed' ? 'danger' : 'neutral'}>{message.status}</Badge>
      </h3>
      {message.error ? <p className="field-error">{message.error}</p> : null}
      {message.detail ? <p className="muted">{message.detail}</p> : null}
      {fields ? (
        <dl className="message-fields">
          {fields.map(([field, value]) => (
            <div key={field}>
              <dt>{field}</dt>
              <dd>{typeof value === 'string' ? <pre>{value}</pre> : <pre>{pretty(value)}</pre>}</dd>
            </div>
          ))}
        </dl>
      ) : message.message !== null && message.message !== undefined ? (
        <JsonBlock value={message.message} />
      ) : (
        <p className="muted">Nothing rendered (the preview could not render with masked values).</p>
      )}
    </>
  );
}
