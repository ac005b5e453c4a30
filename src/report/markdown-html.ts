// A small Markdown-to-HTML converter for the report: the HTML is rendered from the very Markdown
// that report.md holds, so the two never disagree. It covers what reports use — headings,
// paragraphs, pipe tables, fenced code, lists, images, `code`, **bold**, *emphasis*/_emphasis_, links — and
// escapes everything else, so text from config files or callers cannot inject markup.

export interface HtmlOptions {
  title: string;
  /** Maps an image path from the Markdown to the src to use (e.g. a data: URI). */
  imageSrc?: (path: string) => string;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function inline(text: string, options: HtmlOptions): string {
  // Code spans first, parked behind placeholders so nothing inside them is interpreted.
  const spans: string[] = [];
  let s = text.replace(/`([^`]+)`/g, (_, code: string) => `\u0000${spans.push(`<code>${escapeHtml(code)}</code>`) - 1}\u0000`);
  s = escapeHtml(s);
  s = s.replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_, alt: string, src: string) => {
    const resolved = options.imageSrc ? options.imageSrc(src.replace(/&amp;/g, '&')) : src;
    return `<img src="${escapeHtml(resolved)}" alt="${alt}">`;
  });
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
  // _emphasis_ only at word edges, so snake_case names stay as they are.
  s = s.replace(/(^|[\s(])_([^_\s](?:.*?[^_\s])?)_(?=$|[\s).,;:!?])/g, '$1<em>$2</em>');
  s = s.replace(/\\\|/g, '|');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i: string) => spans[Number(i)]!);
}

/** Splits a pipe-table row into cells, honouring `\|` as a literal pipe. */
function cells(row: string): string[] {
  const body = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return body.split(/(?<!\\)\|/).map((c) => c.trim());
}

const isTableSeparator = (line: string | undefined) => line !== undefined && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);
const listItem = /^\s*(?:[-*]|\d+\.)\s+(.*)$/;

export function markdownToHtmlBody(markdown: string, options: HtmlOptions): string {
  const lines = markdown.replace(/\r\n/g, '\n').split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = /^```\s*([\w-]*)\s*$/.exec(line);
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (line.trim() === '') {
      i++;
    } else if (fence) {
      const code: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) code.push(lines[i]!);
      i++;
      const language = fence[1] ? ` class="language-${fence[1]}"` : '';
      out.push(`<pre><code${language}>${escapeHtml(code.join('\n'))}</code></pre>`);
    } else if (heading) {
      const level = heading[1]!.length;
      out.push(`<h${level}>${inline(heading[2]!, options)}</h${level}>`);
      i++;
    } else if (line.trim().startsWith('|') && isTableSeparator(lines[i + 1])) {
      const header = cells(line);
      const align = cells(lines[i + 1]!).map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : null));
      const td = (tag: string, c: string, k: number) => `<${tag}${align[k] ? ` style="text-align:${align[k]}"` : ''}>${inline(c, options)}</${tag}>`;
      const rows: string[] = [];
      for (i += 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) rows.push(`<tr>${cells(lines[i]!).map((c, k) => td('td', c, k)).join('')}</tr>`);
      out.push(`<table>\n<thead><tr>${header.map((c, k) => td('th', c, k)).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`);
    } else if (listItem.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const items: string[] = [];
      for (; i < lines.length && listItem.test(lines[i]!); i++) items.push(`<li>${inline(listItem.exec(lines[i]!)![1]!, options)}</li>`);
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>\n${items.join('\n')}\n</${tag}>`);
    } else {
      const paragraph: string[] = [];
      for (; i < lines.length && lines[i]!.trim() !== '' && !/^(#{1,6}\s|```|\s*\|)/.test(lines[i]!) && !listItem.test(lines[i]!); i++) paragraph.push(lines[i]!);
      if (paragraph.length === 0) paragraph.push(lines[i++]!); // a lone line no other rule took (e.g. '|' without a table)
      const html = inline(paragraph.join('\n'), options);
      // A paragraph that is only an image becomes a figure, so it can be centred and sized as one.
      out.push(/^<img [^>]*>$/.test(html) ? `<figure>${html}</figure>` : `<p>${html}</p>`);
    }
  }
  return out.join('\n');
}

const CSS = `
body { font-family: 'DejaVu Sans', system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .35em .7em; text-align: left; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .85em; }
code { font-family: 'DejaVu Sans Mono', monospace; }
`;

/** A complete, self-contained HTML page for `markdown`. */
export function markdownToHtmlPage(markdown: string, options: HtmlOptions): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    markdownToHtmlBody(markdown, options),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
