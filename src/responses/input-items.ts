import { ApiError } from '../common/errors/api-error';
import type { CreateResponseDto } from './dto/create-response.dto';
import type { ListInputItemsQuery } from './dto/list-input-items.dto';
import { functionCallItemId, messageItemId } from './response-shapes';

/** One input item as `input_items` lists it: the item the client sent, with an id (its own when it gave one). */
export type InputItem = { id: string; type: string } & Record<string, unknown>;

/** What `GET /v1/responses/{id}/input_items` answers. */
export interface InputItemList {
  object: 'list';
  data: InputItem[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/**
 * Above this size (in JSON characters) the kept items lose their inline attachments (`data:` image URLs, `file_data`):
 * a stored response must not hold a request body of many megabytes for its whole time to live (in Redis nothing else
 * bounds it).
 */
export const MAX_KEPT_INPUT_CHARS = 1024 * 1024;

/**
 * A request's `input` as the items `input_items` lists, in the order sent: a string is one user message, a message's
 * string content one `input_text` part (as OpenAI lists them), and every item without an id gets one. Past
 * `MAX_KEPT_INPUT_CHARS`, inline attachment data is left out (`image_url: null`, no `file_data`).
 */
export function inputItemsOf(input: CreateResponseDto['input']): InputItem[] {
  const items = listedItems(input);
  return JSON.stringify(items).length > MAX_KEPT_INPUT_CHARS ? items.map(withoutInlineData) : items;
}

function withoutInlineData(item: InputItem): InputItem {
  if (!Array.isArray(item.content)) return item;
  const content = (item.content as unknown[]).map((part) => {
    if (typeof part !== 'object' || part === null) return part;
    const { file_data: _data, ...rest } = part as Record<string, unknown>;
    if (typeof rest.image_url === 'string' && rest.image_url.startsWith('data:')) rest.image_url = null;
    return rest;
  });
  return { ...item, content };
}

function listedItems(input: CreateResponseDto['input']): InputItem[] {
  const items = typeof input === 'string' ? [{ type: 'message', role: 'user', content: input }] : input;
  return items.map((raw) => {
    const type = typeof raw.type === 'string' ? raw.type : 'message';
    const id = typeof raw.id === 'string' && raw.id ? raw.id : type === 'message' ? messageItemId() : functionCallItemId();
    if (type !== 'message') return { ...raw, id, type };
    const text = raw.role === 'assistant' ? 'output_text' : 'input_text';
    const content = typeof raw.content === 'string' ? [{ type: text, text: raw.content }] : raw.content;
    return { ...raw, id, type, status: 'completed', content };
  });
}

/** One page of the items, newest first unless `order` is `asc` (OpenAI's default is `desc`, 20 a page). */
export function inputItemsPage(items: readonly InputItem[], query: ListInputItemsQuery): InputItemList {
  const ordered = query.order === 'asc' ? [...items] : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at < 0)
      throw ApiError.invalidRequest(
        `Invalid value for 'after': no input item '${query.after}' in this response.`,
        'invalid_value',
        'after',
      );
    start = at + 1;
  }
  const data = ordered.slice(start, start + (query.limit ?? 20));
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + data.length < ordered.length,
  };
}
