//! The stdio framing of `sidekey mcp`: one JSON-RPC message per line, each way (the MCP stdio
//! transport), read by sidekey rather than by `rmcp`'s own stdio transport, because that one
//! answers a line that is not JSON with silence (rmcp issue #938: it ignores unparsable input)
//! and answers JSON that is not a message with an error that has no `id` (which the MCP Python
//! SDK's client cannot parse: its `JSONRPCError.id` is required, nullable). A client that wrote
//! a broken line would wait for an answer that never comes.
//!
//! Here every line is answered as JSON-RPC 2.0 §5.1 says, or handed to the MCP session:
//!
//! | the line | the answer |
//! |---|---|
//! | a request, notification or answer rmcp reads | none here: the session's |
//! | not JSON (cut off, prose, not UTF-8) | `-32700 Parse error`, `"id": null` |
//! | JSON that is not an object (a number, `[]`) | `-32600 Invalid Request`, `"id": null` |
//! | a batch (an array of requests; MCP sends one message per line) | `-32600` for each request in it, by its id, so no request waits forever |
//! | an object with an id that is not a request | `-32600`, with its id (`-32602` when only the params are wrong) |
//! | longer than [`MAX_LINE`] | `-32600`, `"id": null`; the line is skipped, never held in memory |
//! | more than [`MAX_LINE_VALUES`] JSON values | `-32600`, with its id when it leads the line; refused before the values are built |
//! | an answer or a notification rmcp cannot read, a blank line | nothing: an answer or a notification is never answered, so a peer that echoes errors back cannot start an error storm |
//!
//! Writes are whole lines: each message is appended to a buffer under a lock and the buffer is
//! written out from there, so a write cut short (the session stops waiting) resumes where it
//! stopped and never interleaves two messages.

use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest line read: a `/v1/op` body as the daemon takes it (8 MiB: a 5 MB upload in
/// base64 and its JSON) plus room for the JSON-RPC envelope around the tool's arguments.
pub const MAX_LINE: usize = 9 * 1024 * 1024;

/// The most JSON values one line may hold: what a `/v1/op` body may
/// ([`crate::api::MAX_OP_VALUES`]) and the JSON-RPC envelope around a tool's arguments.
pub const MAX_LINE_VALUES: usize = crate::api::MAX_OP_VALUES + 64;

/// The id of a message whose body is not read: JSON-RPC messages as MCP clients write them
/// put `"jsonrpc"` and `"id"` first, so the id is looked for in the line's first bytes only.
fn leading_id(line: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Value,
    }
    let head = &line[..line.len().min(256)];
    let text = std::str::from_utf8(head).ok()?;
    let at = text.find("\"id\"")?;
    // At the top level only: nothing opened before it but the message itself.
    if text[..at].matches(['{', '[']).count() != 1 {
        return None;
    }
    let rest = &text[at..];
    let end = rest.find([',', '}'])?;
    let id: Id = serde_json::from_str(&format!("{{{}}}", &rest[..end])).ok()?;
    matches!(id.id, Value::String(_) | Value::Number(_)).then_some(id.id)
}

/// JSON-RPC 2.0 error codes (§5.1).
pub(crate) const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// What one line is.
#[derive(Debug)]
pub enum Incoming {
    /// A message for the MCP session.
    Message(Box<RxJsonRpcMessage<RoleServer>>),
    /// Not one: these error answers go back, nothing goes to the session.
    Answer(Vec<Value>),
    /// Nothing to do (a blank line, an answer or notification that cannot be read).
    Ignore,
}

/// A JSON-RPC 2.0 error answer.
pub(crate) fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The id of a message, if it has one JSON-RPC allows (a string or a number).
fn readable_id(v: &Value) -> Option<Value> {
    match v.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        _ => None,
    }
}

/// Classify one line (without its `\n`).
pub fn classify(line: &[u8]) -> Incoming {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Incoming::Ignore;
    }
    // A tree of values takes tens of bytes for each byte of a line of small values: a line
    // holding more than any tool call needs is refused before it is built.
    if crate::api::more_values_than(line, MAX_LINE_VALUES) {
        // Whether it is JSON at all, read once more without keeping anything.
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err() {
            return Incoming::Answer(vec![error(Value::Null, PARSE_ERROR, "Parse error")]);
        }
        return Incoming::Answer(vec![error(
            leading_id(line).unwrap_or(Value::Null),
            INVALID_REQUEST,
            &format!(
                "Invalid Request: the message holds more than {MAX_LINE_VALUES} JSON values; no tool takes that many"
            ),
        )]);
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Incoming::Answer(vec![error(Value::Null, PARSE_ERROR, "Parse error")]);
    };
    match &value {
        Value::Object(obj) => {
            // Typed from the parsed value: the line is read once.
            if let Ok(m) = serde_json::from_value::<RxJsonRpcMessage<RoleServer>>(value.clone()) {
                return Incoming::Message(Box::new(m));
            }
            let method = obj.get("method");
            let answer =
                method.is_none() && (obj.contains_key("result") || obj.contains_key("error"));
            let notification = matches!(method, Some(Value::String(_))) && !obj.contains_key("id");
            if answer || notification {
                return Incoming::Ignore;
            }
            let id = readable_id(&value);
            let code = if id.is_some()
                && obj.get("jsonrpc") == Some(&json!("2.0"))
                && matches!(method, Some(Value::String(_)))
            {
                INVALID_PARAMS
            } else {
                INVALID_REQUEST
            };
            let message = if code == INVALID_PARAMS {
                "Invalid params"
            } else {
                "Invalid Request: expected a JSON-RPC 2.0 request object"
            };
            Incoming::Answer(vec![error(id.unwrap_or(Value::Null), code, message)])
        }
        Value::Array(items) => {
            const BATCH: &str =
                "Invalid Request: batches are not supported (MCP sends one message per line)";
            let answers: Vec<Value> = items
                .iter()
                .filter(|i| i.get("method").is_some())
                .filter_map(readable_id)
                .map(|id| error(id, INVALID_REQUEST, BATCH))
                .collect();
            if answers.is_empty() {
                Incoming::Answer(vec![error(Value::Null, INVALID_REQUEST, BATCH)])
            } else {
                Incoming::Answer(answers)
            }
        }
        _ => Incoming::Answer(vec![error(
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: expected a JSON-RPC 2.0 request object",
        )]),
    }
}

/// The writing half: whole lines, from a buffer that survives a cancelled write.
struct Writer<W> {
    out: W,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Write out what the buffer holds. Cancelled, the rest stays for the next call.
    async fn flush(&mut self) -> std::io::Result<()> {
        while !self.buf.is_empty() {
            let n = self.out.write(&self.buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.buf.drain(..n);
        }
        self.out.flush().await
    }
}

/// One line that was read, or why not.
enum Line {
    Read,
    TooLong,
    Eof,
}

/// The transport `sidekey mcp` serves on: see the module's header.
pub struct LineTransport<R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Skipping the rest of a line longer than [`MAX_LINE`].
    skipping: bool,
    max: usize,
    write: Arc<Mutex<Writer<W>>>,
    /// Error answers not yet handed to the writer (kept here if the session stops waiting).
    pending: Vec<Value>,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        Self::with_max_line(read, write, MAX_LINE)
    }

    pub fn with_max_line(read: R, write: W, max: usize) -> Self {
        LineTransport {
            read: BufReader::new(read),
            line: Vec::new(),
            skipping: false,
            max,
            write: Arc::new(Mutex::new(Writer {
                out: write,
                buf: Vec::new(),
            })),
            pending: Vec::new(),
        }
    }

    /// Read one line into `self.line`, never holding more than `max` bytes of it. Safe to
    /// cancel: what was taken from the reader is in `self.line` (or skipped) for the next call.
    async fn read_line(&mut self) -> std::io::Result<Line> {
        enum Step {
            More,
            Done,
            EndSkip,
            TooLong,
            TooLongSkip,
        }
        loop {
            let (used, step) = {
                let available = self.read.fill_buf().await?;
                if available.is_empty() {
                    return Ok(Line::Eof);
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                let step = if self.skipping {
                    if newline.is_some() {
                        Step::EndSkip
                    } else {
                        Step::More
                    }
                } else if self.line.len() + take > self.max + 1 {
                    // (one byte over `max` is the `\n` itself)
                    self.line = Vec::new();
                    if newline.is_some() {
                        Step::TooLong
                    } else {
                        Step::TooLongSkip
                    }
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    if newline.is_some() {
                        Step::Done
                    } else {
                        Step::More
                    }
                };
                (take, step)
            };
            self.read.consume(used);
            match step {
                Step::More => {}
                Step::Done => return Ok(Line::Read),
                Step::EndSkip => self.skipping = false,
                Step::TooLong => return Ok(Line::TooLong),
                Step::TooLongSkip => {
                    self.skipping = true;
                    return Ok(Line::TooLong);
                }
            }
        }
    }

    /// Hand the pending answers to the writer and write them out.
    async fn answer_pending(&mut self) -> std::io::Result<()> {
        let mut w = self.write.lock().await;
        for v in self.pending.drain(..) {
            w.buf.extend_from_slice(v.to_string().as_bytes());
            w.buf.push(b'\n');
        }
        w.flush().await
    }
}

impl<R, W> rmcp::transport::Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        let line = serde_json::to_vec(&item);
        async move {
            let mut line = line.map_err(std::io::Error::other)?;
            line.push(b'\n');
            let mut w = write.lock().await;
            w.buf.extend_from_slice(&line);
            w.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let unwritten = !self.write.lock().await.buf.is_empty();
            if (unwritten || !self.pending.is_empty()) && self.answer_pending().await.is_err() {
                // stdout is gone: the client is.
                return None;
            }
            match self.read_line().await {
                Ok(Line::Read) => {}
                Ok(Line::TooLong) => {
                    self.pending.push(error(
                        Value::Null,
                        INVALID_REQUEST,
                        &format!("Invalid Request: a line longer than {} bytes", self.max),
                    ));
                    continue;
                }
                Ok(Line::Eof) => return None,
                Err(e) => {
                    eprintln!("sidekey mcp: cannot read stdin: {e}");
                    return None;
                }
            }
            let line = std::mem::take(&mut self.line);
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            match classify(body) {
                Incoming::Message(m) => return Some(*m),
                Incoming::Answer(errors) => self.pending.extend(errors),
                Incoming::Ignore => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.answer_pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::transport::Transport;

    fn answers(line: &str) -> Vec<Value> {
        match classify(line.as_bytes()) {
            Incoming::Answer(a) => a,
            other => panic!(
                "{}: {}",
                &line[..line.len().min(200)],
                matches!(other, Incoming::Message(_))
            ),
        }
    }

    #[test]
    fn every_kind_of_line_is_classified() {
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Incoming::Message(_)
        ));
        assert!(matches!(
            classify(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r"),
            Incoming::Message(_)
        ));
        assert_eq!(
            answers("{"),
            [json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})]
        );
        assert_eq!(answers("42")[0]["error"]["code"], -32600);
        assert_eq!(answers("[]")[0]["id"], Value::Null);
        let batch = answers(
            r#"[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
        );
        let ids: Vec<&Value> = batch.iter().map(|a| &a["id"]).collect();
        assert_eq!(ids, [&json!("a"), &json!(2)]);
        assert_eq!(answers(r#"{"jsonrpc":"2.0","id":3}"#)[0]["id"], 3);
        assert_eq!(
            answers(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":1}"#)[0]["error"]["code"],
            -32602
        );
        // An id that is neither a string nor a number is not echoed.
        assert_eq!(
            answers(r#"{"jsonrpc":"2.0","id":{"x":1}}"#)[0]["id"],
            Value::Null
        );
        for quiet in [
            "",
            "  ",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
            r#"{"jsonrpc":"2.0","result":5}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/unknown"}"#,
            r#"{"jsonrpc":"2.0","method":"tools/list","params":7}"#,
        ] {
            // Ignored here, or an answer rmcp reads (and does not answer either).
            assert!(
                !matches!(classify(quiet.as_bytes()), Incoming::Answer(_)),
                "{quiet}"
            );
        }
    }

    /// A tool call made of more small values than any operation takes (an `inbox read` of
    /// millions of ids) is refused before it is built into a tree of values (which would take
    /// tens of bytes of memory for each byte of the line), with its id when it is readable;
    /// a call of ordinary size is a message.
    #[test]
    fn a_line_of_too_many_values_is_refused_before_it_is_built() {
        let ids = vec!["a"; MAX_LINE_VALUES];
        let call = |ids: &[&str]| {
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"google_inbox_read","arguments":{"ids":ids}}})
                .to_string()
        };
        let answer = answers(&call(&ids));
        assert_eq!(answer[0]["error"]["code"], -32600, "{answer:?}");
        assert_eq!(answer[0]["id"], 7, "{answer:?}");
        assert!(
            answer[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("JSON values"),
            "{answer:?}"
        );
        assert!(matches!(
            classify(call(&ids[..50]).as_bytes()),
            Incoming::Message(_)
        ));
        // The id is read only at the top level of the message.
        let nested = call(&ids).replacen(r#"{"id":7,"#, r#"{"params2":{"id":9},"#, 1);
        assert_eq!(answers(&nested)[0]["id"], Value::Null);
        // Still a parse error when it is not JSON at all, however long.
        let cut = call(&ids);
        assert_eq!(answers(&cut[..cut.len() - 2])[0]["error"]["code"], -32700);
    }

    /// A long line is answered and skipped without being kept, the next one is served, and
    /// the answers arrive in order as whole lines.
    #[tokio::test]
    async fn long_lines_are_skipped_and_answered() {
        let (mut client, server) = tokio::io::duplex(64);
        let (server_read, server_write) = tokio::io::split(server);
        let mut t = LineTransport::with_max_line(server_read, server_write, 100);
        let writer = tokio::spawn(async move {
            let mut input = Vec::new();
            input.extend(std::iter::repeat_n(b'x', 1000));
            input.extend(b"\nnot json\n");
            input.extend(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
            input.push(b'\n');
            let (mut r, mut w) = tokio::io::split(&mut client);
            let reading = async {
                let mut got = Vec::new();
                let mut lines = tokio::io::BufReader::new(&mut r).lines();
                while got.len() < 2 {
                    got.push(lines.next_line().await.unwrap().unwrap());
                }
                got
            };
            let (got, _) = tokio::join!(reading, async {
                w.write_all(&input).await.unwrap();
                w.flush().await.unwrap();
            });
            got
        });
        let m = t.receive().await.expect("the ping");
        assert!(matches!(m, rmcp::model::JsonRpcMessage::Request(_)));
        t.close().await.unwrap();
        let got = writer.await.unwrap();
        let v: Vec<Value> = got
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["error"]["code"], -32600, "{got:?}");
        assert!(
            v[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("longer than 100")
        );
        assert_eq!(v[1]["error"]["code"], -32700, "{got:?}");
    }
}
