//! Service output as a stream of lines.
//!
//! The engine sends multiplexed frames (bollard splits the 8-byte headers into stdout and
//! stderr chunks); a chunk may hold several lines or part of one, so each stream is buffered
//! separately and cut at newlines, and what is left is flushed at the end. With timestamps on,
//! each line starts with an RFC 3339 time and a space.

use crate::error::map_docker_error;
use bollard::container::LogOutput;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use paas_core::Result;
use paas_core::ports::LogLine;

/// Buffers partial lines per output stream.
#[derive(Default, Debug)]
pub(crate) struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    /// Adds a chunk; returns the lines it completed.
    pub fn push(&mut self, chunk: &LogOutput) -> Vec<LogLine> {
        let (buf, bytes): (&mut Vec<u8>, &[u8]) = match chunk {
            LogOutput::StdErr { message } => (&mut self.stderr, message.as_ref()),
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => (&mut self.stdout, message.as_ref()),
        };
        buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let rest = buf.split_off(pos + 1);
            let line = std::mem::replace(buf, rest);
            lines.push(parse_line(&line[..pos]));
        }
        lines
    }

    /// The unterminated rest of each stream.
    pub fn finish(&mut self) -> Vec<LogLine> {
        [
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        ]
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| parse_line(&b))
        .collect()
    }
}

/// One raw line, with or without a leading timestamp.
pub(crate) fn parse_line(raw: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    if let Some((stamp, rest)) = text.split_once(' ')
        && let Ok(at) = chrono::DateTime::parse_from_rfc3339(stamp)
    {
        return LogLine {
            at: Some(at.with_timezone(&chrono::Utc)),
            line: rest.to_owned(),
        };
    }
    LogLine {
        at: None,
        line: text.to_owned(),
    }
}

/// Turns the engine's chunks into lines.
pub(crate) fn lines<S>(service: String, chunks: S) -> BoxStream<'static, Result<LogLine>>
where
    S: Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send + 'static,
{
    chunks
        .map(Some)
        .chain(stream::once(async { None }))
        .scan(LineSplitter::default(), move |splitter, item| {
            let out: Vec<Result<LogLine>> = match item {
                Some(Ok(chunk)) => splitter.push(&chunk).into_iter().map(Ok).collect(),
                Some(Err(e)) => vec![Err(map_docker_error(
                    e,
                    format!("reading the logs of service '{service}'"),
                ))],
                None => splitter.finish().into_iter().map(Ok).collect(),
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> LogOutput {
        LogOutput::StdOut {
            message: s.as_bytes().to_vec().into(),
        }
    }
    fn err(s: &str) -> LogOutput {
        LogOutput::StdErr {
            message: s.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn splits_joins_and_keeps_streams_apart() {
        let mut s = LineSplitter::default();
        assert!(
            s.push(&out("2026-11-23T04:31:05.123456789Z hel"))
                .is_empty()
        );
        assert!(s.push(&err("oops ")).is_empty());
        let lines = s.push(&out("lo\nsecond\r\nthi"));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, "hello");
        assert_eq!(
            lines[0]
                .at
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2026-11-23T04:31:05.123456789Z"
        );
        assert_eq!(
            lines[1],
            LogLine {
                at: None,
                line: "second".into()
            }
        );
        let rest = s.finish();
        assert_eq!(
            rest.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            vec!["thi", "oops "]
        );
    }

    #[tokio::test]
    async fn stream_flushes_the_tail() {
        let chunks = stream::iter(vec![Ok(out("a\nb")), Ok(out("c\n")), Ok(out("d"))]);
        let got: Vec<String> = lines("x".into(), chunks)
            .map(|l| l.unwrap().line)
            .collect()
            .await;
        assert_eq!(got, vec!["a", "bc", "d"]);
    }
}
