//! Markdown → search chunks: front matter and HTML comments dropped, sections split by headings, ≤3000 bytes each.
//!
//! A section is a heading plus everything up to the next heading of the same or higher level (so it
//! includes its subsections). A section that fits in [`CHUNK_MAX`] is one chunk; a larger one is
//! split into its own text and its subsections, packing consecutive small pieces together up to the
//! limit, and a long run of text without headings is cut into pieces at blank lines (then lines,
//! then characters). Every chunk's content starts with the headings above it (the document title
//! first), so a hit read on its own still says where it comes from.

use std::mem::take;

/// Upper bound (bytes, ≈ characters) for a chunk's text, not counting its heading context lines.
pub(super) const CHUNK_MAX: usize = 3000;

/// One row of the index.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Chunk {
    /// The document's title (front matter `title:`, else the first `#` heading, else the file name).
    pub title: String,
    /// The texts of the headings above and inside the chunk, one a line.
    pub headings: String,
    /// What a search returns: heading context lines, a blank line, then the Markdown text.
    pub content: String,
}

/// Splits one Markdown file into chunks. `fallback_title` (the file's relative path) names a
/// document that has neither a front-matter title nor a `#` heading. A redirect stub (front matter
/// with `redirect_to:`, as in GitLab's `doc/`) or a file without text yields no chunk.
pub(super) fn chunk_markdown(text: &str, fallback_title: &str) -> Vec<Chunk> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text.to_string() };
    let (front, body) = split_front_matter(&text);
    if front.is_some_and(|f| f.lines().any(|l| l.starts_with("redirect_to:"))) {
        return Vec::new();
    }
    let body = strip_html_comments(body);
    let root = build_tree(&body);
    let h1 = first_h1(&root);
    let fm_title = front.and_then(front_matter_title);
    let title = fm_title.clone().or_else(|| h1.clone()).unwrap_or_else(|| fallback_title.to_string());

    let mut ctx = Ctx::default();
    // GitLab's current docs keep the title in front matter only: put it back as the chunk's first line.
    if h1.is_none()
        && let Some(t) = &fm_title
    {
        ctx.lines.push(format!("# {t}"));
        ctx.titles.push(t.clone());
    }
    let mut pieces = Vec::new();
    split_section(&root, &mut ctx, &mut pieces);
    pieces
        .into_iter()
        .map(|p| {
            let content = if p.context.is_empty() {
                p.text.trim().to_string()
            } else {
                format!("{}\n\n{}", p.context, p.text.trim())
            };
            Chunk { title: title.clone(), headings: p.headings, content }
        })
        .collect()
}

/// YAML front matter: a first line `---`, up to a line `---` or `...`. Returns (front matter, rest).
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let Some((first, rest)) = text.split_once('\n') else { return (None, text) };
    if first.trim_end() != "---" {
        return (None, text);
    }
    let mut pos = 0;
    for line in rest.split_inclusive('\n') {
        let l = line.trim_end();
        if l == "---" || l == "..." {
            return (Some(&rest[..pos]), &rest[pos + line.len()..]);
        }
        pos += line.len();
    }
    (None, text)
}

/// The `title:` of a front matter, unquoted; None for an empty or block (`|`, `>`) value.
fn front_matter_title(front: &str) -> Option<String> {
    let raw = front.lines().find_map(|l| l.strip_prefix("title:"))?.trim();
    let value = if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
        raw[1..raw.len() - 1].replace("''", "'")
    } else if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        raw[1..raw.len() - 1].replace("\\\"", "\"")
    } else {
        raw.to_string()
    };
    let value = value.trim();
    (!value.is_empty() && !value.starts_with(['|', '>'])).then(|| value.to_string())
}

/// Tracks fenced code blocks (``` or ~~~, up to three spaces of indentation) line by line.
#[derive(Default)]
struct Fence(Option<(u8, usize)>);

impl Fence {
    /// Feeds one line; true when the line is part of a code block (its fences included).
    fn code(&mut self, line: &str) -> bool {
        let t = line.trim_start_matches(' ');
        let marker = (line.len() - t.len() <= 3)
            .then(|| t.bytes().next())
            .flatten()
            .filter(|b| *b == b'`' || *b == b'~')
            .map(|b| (b, t.bytes().take_while(|x| *x == b).count()))
            .filter(|(_, n)| *n >= 3);
        match (self.0, marker) {
            (None, Some(m)) => {
                self.0 = Some(m);
                true
            }
            (None, None) => false,
            (Some((c, n)), Some((mc, mn))) if c == mc && mn >= n && t[mn..].trim().is_empty() => {
                self.0 = None;
                true
            }
            (Some(_), _) => true,
        }
    }
}

/// Removes `<!-- … -->` (possibly over several lines) outside code blocks, and collapses runs of
/// blank lines into one.
fn strip_html_comments(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut fence = Fence::default();
    let mut in_comment = false;
    let mut blank_run = 0;
    for line in body.split('\n') {
        let mut kept = String::new();
        if in_comment || (!fence.code(line) && line.contains("<!--")) {
            let mut rest = line;
            loop {
                if in_comment {
                    match rest.find("-->") {
                        Some(i) => {
                            rest = &rest[i + 3..];
                            in_comment = false;
                        }
                        None => break,
                    }
                } else {
                    match rest.find("<!--") {
                        Some(i) => {
                            kept.push_str(&rest[..i]);
                            rest = &rest[i + 4..];
                            in_comment = true;
                        }
                        None => {
                            kept.push_str(rest);
                            break;
                        }
                    }
                }
            }
            if kept.trim().is_empty() {
                continue; // a line that only held a comment
            }
        } else {
            kept.push_str(line);
        }
        if kept.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// An ATX heading (`## Text ##`, `## Text {#anchor}`): (level, text).
fn atx_heading(line: &str) -> Option<(u8, String)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let n = t.bytes().take_while(|b| *b == b'#').count();
    if n == 0 || n > 6 {
        return None;
    }
    let rest = &t[n..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = rest.trim();
    let unclosed = text.trim_end_matches('#');
    if unclosed.is_empty() || unclosed.ends_with([' ', '\t']) {
        text = unclosed.trim_end();
    }
    if text.ends_with('}')
        && let Some(i) = text.rfind("{#")
    {
        text = text[..i].trim_end();
    }
    Some((n as u8, text.to_string()))
}

#[derive(Default)]
struct Section {
    level: u8,
    /// The heading line as written (empty for the part before the first heading).
    line: String,
    /// The heading's text.
    text: String,
    /// Text up to the first subsection.
    body: String,
    children: Vec<Section>,
    /// Rendered size in bytes, subsections included.
    size: usize,
}

impl Section {
    fn render(&self, out: &mut String) {
        if !self.line.is_empty() {
            out.push_str(&self.line);
            out.push('\n');
        }
        out.push_str(&self.body);
        for c in &self.children {
            c.render(out);
        }
    }

    fn collect_titles(&self, out: &mut Vec<String>) {
        if !self.text.is_empty() {
            out.push(self.text.clone());
        }
        for c in &self.children {
            c.collect_titles(out);
        }
    }

    fn finish(&mut self) {
        self.size = if self.line.is_empty() { 0 } else { self.line.len() + 1 }
            + self.body.len()
            + self.children.iter().map(|c| c.size).sum::<usize>();
    }
}

/// The heading tree of a body: a root (level 0) holding the text before the first heading.
fn build_tree(body: &str) -> Section {
    let mut stack = vec![Section::default()];
    let mut fence = Fence::default();
    for line in body.split_inclusive('\n') {
        let heading = if fence.code(line) { None } else { atx_heading(line) };
        match heading {
            Some((level, text)) => {
                while stack.last().is_some_and(|s| s.level >= level) {
                    close_top(&mut stack);
                }
                stack.push(Section { level, line: line.trim().to_string(), text, ..Section::default() });
            }
            None => stack.last_mut().expect("root stays").body.push_str(line),
        }
    }
    while stack.len() > 1 {
        close_top(&mut stack);
    }
    let mut root = stack.pop().expect("root stays");
    root.finish();
    root
}

fn close_top(stack: &mut Vec<Section>) {
    let mut s = stack.pop().expect("non-root section");
    s.finish();
    stack.last_mut().expect("root stays").children.push(s);
}

fn first_h1(root: &Section) -> Option<String> {
    fn walk(s: &Section) -> Option<String> {
        if s.level == 1 && !s.text.is_empty() {
            return Some(s.text.clone());
        }
        s.children.iter().find_map(walk)
    }
    walk(root)
}

/// The headings above the section being split: their lines (for content) and texts (for the
/// `headings` column).
#[derive(Default)]
struct Ctx {
    lines: Vec<String>,
    titles: Vec<String>,
}

struct Piece {
    context: String,
    headings: String,
    text: String,
}

fn push_piece(ctx: &Ctx, text: String, inner_titles: &[String], out: &mut Vec<Piece>) {
    if text.trim().is_empty() {
        return;
    }
    let headings = ctx.titles.iter().chain(inner_titles).map(String::as_str).collect::<Vec<_>>().join("\n");
    out.push(Piece { context: ctx.lines.join("\n"), headings, text });
}

fn split_section(sec: &Section, ctx: &mut Ctx, out: &mut Vec<Piece>) {
    if sec.size <= CHUNK_MAX {
        let mut text = String::with_capacity(sec.size);
        sec.render(&mut text);
        let mut titles = Vec::new();
        sec.collect_titles(&mut titles);
        push_piece(ctx, text, &titles, out);
        return;
    }
    let pushed = !sec.line.is_empty();
    if pushed {
        ctx.lines.push(sec.line.clone());
        ctx.titles.push(sec.text.clone());
    }
    let mut buf = String::new();
    let mut buf_titles = Vec::new();
    let mut parts = split_text(&sec.body);
    if let Some(last) = parts.pop() {
        for part in parts {
            push_piece(ctx, part, &[], out);
        }
        buf = last;
    }
    for child in &sec.children {
        if child.size <= CHUNK_MAX && buf.len() + child.size <= CHUNK_MAX {
            child.render(&mut buf);
            child.collect_titles(&mut buf_titles);
            continue;
        }
        push_piece(ctx, take(&mut buf), &take(&mut buf_titles), out);
        if child.size <= CHUNK_MAX {
            child.render(&mut buf);
            child.collect_titles(&mut buf_titles);
        } else {
            split_section(child, ctx, out);
        }
    }
    push_piece(ctx, buf, &buf_titles, out);
    if pushed {
        ctx.lines.pop();
        ctx.titles.pop();
    }
}

/// Cuts text without headings into pieces of at most [`CHUNK_MAX`] bytes: whole blocks (separated
/// by blank lines outside code) packed together; a longer block is cut at line, then character,
/// boundaries.
fn split_text(text: &str) -> Vec<String> {
    if text.len() <= CHUNK_MAX {
        return if text.trim().is_empty() { Vec::new() } else { vec![text.to_string()] };
    }
    let mut blocks = Vec::new();
    let mut cur = String::new();
    let mut fence = Fence::default();
    for line in text.split_inclusive('\n') {
        let code = fence.code(line);
        if !code && line.trim().is_empty() {
            if !cur.is_empty() {
                blocks.push(take(&mut cur));
            }
            continue;
        }
        cur.push_str(line);
    }
    if !cur.is_empty() {
        blocks.push(cur);
    }
    let mut out = Vec::new();
    let mut buf = String::new();
    for block in &blocks {
        for piece in hard_split(block, CHUNK_MAX) {
            if !buf.is_empty() && buf.len() + 1 + piece.len() > CHUNK_MAX {
                out.push(take(&mut buf));
            }
            if !buf.is_empty() {
                buf.push('\n');
            }
            buf.push_str(piece);
        }
    }
    if !buf.is_empty() {
        out.push(buf);
    }
    out
}

/// Pieces of at most `max` bytes, cut after a newline when one lies in the second half, else at a
/// character boundary.
fn hard_split(mut s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    while s.len() > max {
        let limit = floor_char_boundary(s, max);
        let cut = match s[..limit].rfind('\n') {
            Some(i) if i + 1 >= max / 2 => i + 1,
            _ => limit,
        };
        let cut = if cut == 0 { s.chars().next().map_or(s.len(), char::len_utf8) } else { cut };
        out.push(&s[..cut]);
        s = &s[cut..];
    }
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// The largest char boundary ≤ `i` in `s`.
pub(super) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0)
}
