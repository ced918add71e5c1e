// Splits post and comment text into plain runs, @mentions, #tags and links,
// with the same boundary rules as the server (crates/services/src/text.rs).

export type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'mention'; text: string; username: string }
  | { kind: 'tag'; text: string; tag: string }
  | { kind: 'link'; text: string; href: string };

const isNamePart = (c: string) => /[A-Za-z0-9_]/.test(c);
const isTagPart = (c: string) => /[\p{L}\p{N}_]/u.test(c);
const LINK = /^https?:\/\/[^\s<>"]+/;

export function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let plain = '';
  const flush = () => {
    if (plain) out.push({ kind: 'text', text: plain });
    plain = '';
  };
  const chars = Array.from(text);
  let i = 0;
  let prev = '';
  while (i < chars.length) {
    const c = chars[i];
    if ((c === 'h' || c === 'H') && (!prev || /\s|[(\[]/.test(prev))) {
      const m = LINK.exec(chars.slice(i, i + 2048).join(''));
      if (m) {
        // Leave trailing punctuation out of the link.
        const href = m[0].replace(/[.,;:!?)\]'"]+$/, '');
        flush();
        out.push({ kind: 'link', text: href, href });
        i += Array.from(href).length;
        prev = href[href.length - 1];
        continue;
      }
    }
    if (c === '@' || c === '#') {
      const part = c === '@' ? isNamePart : isTagPart;
      const boundary = !prev || (!part(prev) && prev !== c);
      if (boundary) {
        let j = i + 1;
        while (j < chars.length && part(chars[j])) j++;
        const word = chars.slice(i + 1, j).join('');
        const ok = c === '@' ? word.length >= 3 && word.length <= 30 : word.length > 0 && /\D/.test(word);
        if (ok) {
          flush();
          const raw = c + word;
          if (c === '@') out.push({ kind: 'mention', text: raw, username: word.toLowerCase() });
          else out.push({ kind: 'tag', text: raw, tag: word.toLowerCase() });
          i = j;
          prev = chars[j - 1];
          continue;
        }
      }
    }
    plain += c;
    prev = c;
    i++;
  }
  flush();
  return out;
}

/** The @word or #word being typed just before the caret, if any. */
export function tokenAt(text: string, caret: number): { sigil: '@' | '#'; query: string; start: number } | null {
  const before = text.slice(0, caret);
  const m = /(^|[^\p{L}\p{N}_@#])([@#])([\p{L}\p{N}_]*)$/u.exec(before);
  if (!m) return null;
  const sigil = m[2] as '@' | '#';
  const query = m[3];
  return { sigil, query, start: caret - query.length - 1 };
}
