/** The words the upstream decoder and the answer renderer share: one upstream message, and what changed in the stream. */

/** What a message is for, which decides how it shows in the answer. */
export type MessageKind =
  /** Prose for the user. */
  | { type: 'text' }
  /** Code, or text addressed to a tool: shown fenced under `label` (a language or a tool name, may be empty). */
  | { type: 'code'; label: string }
  /** What a tool printed, such as python's execution output. */
  | { type: 'tool_output' }
  /** A tool at work (browsing): its progress text under a caption, and a closing line once it is done. */
  | { type: 'tool_activity'; caption?: string; finishedText?: string }
  | { type: 'thoughts' }
  /** The "Thought for N seconds" line that closes the reasoning. */
  | { type: 'recap'; text: string }
  /** Written for the model, not the user (e.g. "DALL·E displayed 1 images…"), or of a type nothing shows. */
  | { type: 'hidden' };

export interface Thought {
  summary: string;
  content: string;
}

export interface Citation {
  url?: string;
  title: string;
}

/** Why the upstream stopped writing a message (`metadata.finish_details.type`). */
export type StopReason = 'stop' | 'length' | 'interrupted';

/** One state of an upstream message, as far as the answer needs it. */
export interface MessageView {
  id: string;
  role?: string;
  kind: MessageKind;
  /** The growing text: `content.text` for code and outputs, else the first part when it is a string. */
  text: string;
  thoughts: Thought[];
  citations: Citation[];
  /** Generated images: their asset pointers without the `file-service://` (or `sediment://`) scheme. */
  images: string[];
  finished: boolean;
  endTurn: boolean;
  stopReason?: StopReason;
}

/** What one upstream event changed, in order. */
export type UpstreamUpdate =
  /** A message's state after the event; `conversationId` is the latest one the stream named. */
  | { type: 'message'; message: MessageView; conversationId?: string }
  /** A delta appended exactly `text` to the message's text, so the renderer need not re-read the whole text. */
  | { type: 'text_appended'; message: MessageView; text: string }
  /** The same for the content of thought number `index`. */
  | { type: 'thought_appended'; message: MessageView; index: number; text: string }
  /** The content filter blocked the answer. */
  | { type: 'moderated' }
  | { type: 'error'; message: string; code: string }
  /** `[DONE]`. */
  | { type: 'done' };
