import { randomInt } from 'node:crypto';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `chatcmpl-` and 29 random letters and digits, like OpenAI's ids. */
export function completionId(): string {
  let id = 'chatcmpl-';
  for (let i = 0; i < 29; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** `call_` and 24 random letters and digits, the shape of OpenAI's tool call ids. */
export function toolCallId(): string {
  let id = 'call_';
  for (let i = 0; i < 24; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}
