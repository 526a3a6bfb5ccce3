import { randomBytes } from 'node:crypto';

/** The Responses API's wire shapes, as far as this server produces them (OpenAI's `Response` object). */
export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs: never[];
}

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface MessageItem {
  type: 'message';
  id: string;
  status: ItemStatus;
  role: 'assistant';
  content: OutputText[];
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ItemStatus;
}

export interface SummaryText {
  type: 'summary_text';
  text: string;
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: SummaryText[];
  status?: ItemStatus;
}

export type OutputItem = MessageItem | FunctionCallItem | ReasoningItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

/** What `DELETE /v1/responses/{id}` answers. */
export interface DeletedResponse {
  id: string;
  object: 'response';
  deleted: true;
}

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  completed_at: number | null;
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  service_tier: 'default';
  store: boolean;
  temperature: number;
  text: { format: Record<string, unknown> };
  tool_choice: unknown;
  tools: Record<string, unknown>[];
  top_p: number;
  truncation: 'disabled';
  usage: ResponseUsage | null;
  user?: string;
  metadata: Record<string, string>;
}

/** One server-sent event of a streamed response; `type` is also the SSE `event:` name. */
export type ResponseStreamEvent = { type: string; sequence_number: number } & Record<string, unknown>;

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}

export const responseId = (): string => randomId('resp');
export const messageItemId = (): string => randomId('msg');
export const functionCallItemId = (): string => randomId('fc');
export const reasoningItemId = (): string => randomId('rs');
