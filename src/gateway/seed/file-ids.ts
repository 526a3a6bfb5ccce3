/**
 * Upstream file ids, as the seed rules find them: `file-<letters and digits>` (the file service) or `file_<hex>` (the
 * 2025 store), bare or as an asset pointer (`file-service://…`, `sediment://…`). Any letter case is read as an id, so
 * one spelt otherwise (`FILE-…`) is checked too, and compared as written.
 */
const FILE_ID = /^file[-_][A-Za-z0-9]{8,}$/i;
const POINTER = /^(?:file-service|sediment):\/\//i;
/**
 * The fields a file id is given by in the upstream's answers: attachments' `id`, `file_id`, asset pointers, and the
 * `image_url` of a code-interpreter run's image (a chart it drew, `file-service://…` in its `aggregate_result`).
 */
const FILE_KEY = /^(?:id|file_?ids?|fileIds?|asset_pointer|asset_pointer_link|image_url)$/i;
const MAX_DEPTH = 64;

/** The file id a string is (bare or as an asset pointer); undefined for anything else. */
export function fileIdOf(value: string): string | undefined {
  const bare = value.replace(POINTER, '');
  return FILE_ID.test(bare) ? bare : undefined;
}

/**
 * The file ids an upstream answer gives in the fields that name files (`FILE_KEY`), not in free text: a conversation's
 * text is the seed's to write (or the model's to repeat), and a file id typed there is nobody's file. A delta patch
 * (`{"p": "…/asset_pointer", "v": "file-service://…"}`) names its field by its path.
 */
export function fileIdsIn(document: unknown): string[] {
  const found = new Set<string>();
  walk(document, '', 0, (key, value) => {
    const id = FILE_KEY.test(key) ? fileIdOf(value) : undefined;
    if (id) found.add(id);
  });
  return [...found];
}

/**
 * Where a request body holds what the user typed: a message's text parts and text fields. The upstream reads them as
 * text, never as a file, and a word such as "file-handling" is shaped like a file id.
 */
const TYPED_TEXT_KEY = /^(?:parts|text)$/;

/** Every string of a request body that is a file id, whatever its field but typed text: what the upstream may read as one. */
export function fileIdsAnywhereIn(document: unknown): string[] {
  const found = new Set<string>();
  walk(document, '', 0, (key, value) => {
    if (TYPED_TEXT_KEY.test(key)) return;
    const id = fileIdOf(value.trim());
    if (id) found.add(id);
  });
  return [...found];
}

function walk(value: unknown, key: string, depth: number, visit: (key: string, value: string) => void): void {
  if (depth > MAX_DEPTH) return;
  if (typeof value === 'string') return visit(key, value);
  if (Array.isArray(value)) {
    for (const item of value) walk(item, key, depth + 1, visit);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const record = value as Record<string, unknown>;
  for (const [name, item] of Object.entries(record)) walk(item, name, depth + 1, visit);
  if (typeof record.p === 'string' && typeof record.v === 'string') visit(record.p.split('/').pop() ?? '', record.v);
}

/** The file ids a complete SSE text (one or more events) gives, as `fileIdsIn` reads each event's JSON. */
export function fileIdsInSse(text: string): string[] {
  if (!/file[-_]/i.test(text)) return [];
  return [...new Set(sseData(text).flatMap((document) => fileIdsIn(document)))];
}

/** The JSON documents (objects or arrays) of the `data:` lines of SSE text; other data is skipped. */
export function sseData(text: string): unknown[] {
  const documents: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data.startsWith('{') && !data.startsWith('[')) continue;
    try {
      documents.push(JSON.parse(data));
    } catch {
      // Not JSON: names nothing.
    }
  }
  return documents;
}
