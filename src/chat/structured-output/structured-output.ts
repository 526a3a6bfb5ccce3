import { type AnswerContract, type AnswerReader, type Verdict, withSystemText } from '../answer-contract';
import type { ChatMessageDto } from '../dto/chat-completion.dto';
import type { ResponseFormatDto } from '../dto/tool-fields.dto';
import { extractJson } from './json-extraction';
import { schemaErrors } from './json-schema';

/** `response_format` asking for JSON: `json_object`, or `json_schema` with the schema to validate against. */
export interface JsonFormat {
  name?: string;
  description?: string;
  schema?: Record<string, unknown>;
}

export function jsonFormatOf(format: ResponseFormatDto | undefined): JsonFormat | null {
  if (format?.type === 'json_object') return {};
  if (format?.type === 'json_schema')
    return { name: format.json_schema?.name, description: format.json_schema?.description, schema: format.json_schema?.schema };
  return null;
}

/** The system text that asks for the JSON answer. */
export function renderJsonInstructions(format: JsonFormat): string {
  const lines = [
    '# Answer format',
    'Answer with a single JSON object and nothing else: no explanation before or after it, no Markdown, no code fences.',
  ];
  if (format.schema) {
    lines.push(
      `The object must be valid against this JSON schema${format.name ? ` ("${format.name}"${format.description ? `: ${format.description}` : ''})` : ''}:`,
    );
    lines.push(JSON.stringify(format.schema, null, 2));
  }
  return lines.join('\n');
}

/** Judges a whole answer: the JSON it contains, compact, or what is wrong with it. */
export function judgeJsonAnswer(text: string, format: JsonFormat): Verdict {
  const extracted = extractJson(text);
  let problem: string | null;
  if (!extracted.ok) problem = extracted.reason;
  else if (typeof extracted.value !== 'object' || extracted.value === null || (Array.isArray(extracted.value) && !format.schema))
    problem = 'it is not a JSON object';
  else problem = format.schema ? schemaErrors(format.schema, extracted.value) : null;
  if (problem === null && extracted.ok) return { ok: true, content: JSON.stringify(extracted.value), toolCalls: [] };
  return {
    ok: false,
    problem: `The answer is not the requested JSON: ${problem}.`,
    correction: `Your previous answer cannot be used: ${problem}. Answer again with only the JSON object${format.schema ? ' that satisfies the schema' : ''}: no other text, no code fences.`,
    code: 'invalid_structured_output',
    // Cut short, the JSON as far as it got (as OpenAI sends it), without a code fence opening it.
    cut: text.replace(/^\s*```[\w-]*[ \t]*\n?/, ''),
  };
}

/** Instructions in, JSON out: the answer is held back whole, then extracted, validated and sent compact. */
export function structuredOutputContract(messages: ChatMessageDto[], format: JsonFormat): AnswerContract {
  return {
    messages: withSystemText(messages, renderJsonInstructions(format)),
    plainText: false,
    reader: (): AnswerReader => {
      let text = '';
      return {
        push: (piece) => {
          text += piece;
          return '';
        },
        end: () => judgeJsonAnswer(text, format),
      };
    },
  };
}
