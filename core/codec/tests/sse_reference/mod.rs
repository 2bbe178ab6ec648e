//! The server-sent-events reference interpretation, shared by
//! `tests/sse.rs` and the `sse` fuzz body (`tests/src/fuzz/sse.rs`
//! includes this file by path), so both check the decoder against the
//! same model.

use wirestate_codec::{SseError, SseEvent};

/// What the decoder yields.
pub type Item = Result<SseEvent, SseError>;

/// The interpretation rules applied to the whole stream at once (BOM, then
/// lines at `\r\n`, `\n` or `\r`, then fields), with the decoder's limit
/// rules. Returns the items, the last event ID and the retry.
pub fn reference(
    input: &[u8],
    max_line: usize,
    max_event: usize,
) -> (Vec<Item>, String, Option<u64>) {
    let s = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines = Vec::new();
    let mut rest = s;
    let partial = loop {
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) => {
                lines.push(&rest[..i]);
                let n = if rest[i..].starts_with(b"\r\n") { 2 } else { 1 };
                rest = &rest[i + n..];
            }
            None => break rest,
        }
    };
    let mut out = Vec::new();
    let (mut last_id, mut retry) = (String::new(), None);
    let mut failed = false;
    let mut ev = SseEvent::default();
    let mut data: Option<String> = None;
    for line in lines {
        if line.is_empty() {
            if !failed {
                if let Some(id) = &ev.id {
                    last_id.clone_from(id);
                }
                if let Some(d) = data.take() {
                    ev.data = d;
                    out.push(Ok(std::mem::take(&mut ev)));
                }
            }
            failed = false;
            ev = SseEvent::default();
            data = None;
            continue;
        }
        if failed {
            continue;
        }
        if line.len() > max_line {
            out.push(Err(SseError::LineTooLong { max: max_line }));
            failed = true;
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value_text = String::from_utf8_lossy(value).into_owned();
        match name {
            b"data" => {
                let new = match &data {
                    Some(d) => format!("{d}\n{value_text}"),
                    None => value_text,
                };
                if new.len() > max_event {
                    out.push(Err(SseError::EventTooLong { max: max_event }));
                    failed = true;
                } else {
                    data = Some(new);
                }
            }
            b"event" => ev.event = (!value_text.is_empty()).then_some(value_text),
            b"id" if !value.contains(&0) => ev.id = Some(value_text),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(n) = value_text.parse::<u64>() {
                    ev.retry = Some(n);
                    retry = Some(n);
                }
            }
            _ => {}
        }
    }
    if partial.len() > max_line && !failed {
        out.push(Err(SseError::LineTooLong { max: max_line }));
    }
    (out, last_id, retry)
}
