// The filter bar the activity and audit pages share: filters are edited in a form and applied
// together (one request per change of mind, not per keystroke), and live in the URL.
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import { Button } from '../../components/Button';

/** Applied filters from the URL's search parameters; `apply` replaces them all. */
export function useUrlFilters<K extends string>(names: readonly K[]) {
  const [search, setSearch] = useSearchParams();
  const applied = Object.fromEntries(names.map((n) => [n, search.get(n) ?? ''])) as Record<K, string>;
  const apply = (next: Record<K, string>) => {
    const params = new URLSearchParams();
    for (const n of names) if (next[n]) params.set(n, next[n]);
    setSearch(params);
  };
  return { applied, apply, key: names.map((n) => applied[n]).join('|') };
}

/** A form over a draft of the filters; the draft follows the applied ones when they change. */
export function FilterForm<K extends string>({
  applied,
  onApply,
  label,
  children,
}: {
  applied: Record<K, string>;
  onApply: (next: Record<K, string>) => void;
  label: string;
  children: (draft: Record<K, string>, set: (name: K, value: string) => void) => ReactNode;
}) {
  const [draft, setDraft] = useState(applied);
  const signature = JSON.stringify(applied);
  useEffect(() => setDraft(JSON.parse(signature) as Record<K, string>), [signature]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onApply(draft);
  };
  const clear = () => {
    const empty = Object.fromEntries(Object.keys(draft).map((k) => [k, ''])) as Record<K, string>;
    setDraft(empty);
    onApply(empty);
  };
  return (
    <form className="section ops-toolbar" onSubmit={submit} aria-label={label}>
      {children(draft, (name, value) => setDraft((d) => ({ ...d, [name]: value })))}
      <Button type="submit" variant="primary">
        Apply filters
      </Button>
      <Button onClick={clear}>Clear</Button>
    </form>
  );
}
