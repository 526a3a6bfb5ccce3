/**
 * The lines of a text a person wrote, such as a list of tokens: a line ends at CRLF, LF or a lone CR (an old Mac file,
 * or a client that sends one as it is); split only at LF, such a text would be one line. Blank lines are kept, so a
 * line's number is the file's.
 */
export function textLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}
