import { segments } from '../lib/text';

/** Post or comment text with @mentions, #tags and links made into links. */
export function RichText({ text }: { text: string }) {
  return (
    <div class="rich-text">
      {segments(text).map((s, i) => {
        switch (s.kind) {
          case 'mention':
            return (
              <a key={i} href={`/u/${encodeURIComponent(s.username)}`} class="mention">
                {s.text}
              </a>
            );
          case 'tag':
            return (
              <a key={i} href={`/tags/${encodeURIComponent(s.tag)}`} class="tag">
                {s.text}
              </a>
            );
          case 'link':
            return (
              <a key={i} href={s.href} target="_blank" rel="noopener noreferrer nofollow ugc">
                {s.text}
              </a>
            );
          default:
            return s.text;
        }
      })}
    </div>
  );
}
