//! The live progress line of `run` and `demo` on a terminal: events written, pages, how far behind
//! now the stream position is, and the rate, redrawn in place on stderr (indicatif). Only when
//! stderr is a terminal, outside Lambda, and without `--quiet`; stdout is never touched, so the
//! JSON summary of `run` stays exactly what it was. Log lines are printed above the line.
use atlassian_audit::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// Whether a command shows the line.
pub fn wanted(quiet: bool) -> bool {
    decide(quiet, std::io::stderr().is_terminal(), in_lambda())
}

/// A Lambda runtime (the CLI run as a function, or a test harness that looks like one).
fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

fn decide(quiet: bool, stderr_is_terminal: bool, in_lambda: bool) -> bool {
    !quiet && stderr_is_terminal && !in_lambda
}

/// The line, redrawn from the counters until it is dropped, then cleared.
pub struct ProgressLine {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl ProgressLine {
    pub fn start(progress: Arc<Progress>) -> Self {
        ProgressLine::start_on(progress, ProgressDrawTarget::stderr())
    }

    pub fn start_on(progress: Arc<Progress>, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        let drawn = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(REDRAW_EVERY);
            loop {
                every.tick().await;
                let now_ms = now_ms();
                drawn.set_message(progress.snapshot(now_ms).line());
                drawn.tick();
            }
        });
        ProgressLine { bar, ticker }
    }

    /// Where log lines go so they are printed above the line instead of through it.
    pub fn log_writer(&self) -> AboveTheLine {
        AboveTheLine(Some(self.bar.clone()))
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A `tracing` writer to stderr that, while a progress line is shown, lifts the line, prints
/// the log line, and draws the line again.
#[derive(Clone, Default)]
pub struct AboveTheLine(Option<ProgressBar>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for AboveTheLine {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            bar: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// One log record, written out whole when dropped.
pub struct LogLine {
    bar: Option<ProgressBar>,
    buf: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        if buf.is_empty() {
            return Ok(());
        }
        let write = || std::io::stderr().lock().write_all(&buf);
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlassian_audit::progress::ObservedSink;
    use atlassian_audit::sink::{EncodedObject, MemorySink, ObjectSink};
    use indicatif::InMemoryTerm;

    #[test]
    fn shown_only_on_a_terminal_outside_lambda_without_quiet() {
        assert!(decide(false, true, false));
        assert!(!decide(true, true, false), "--quiet");
        assert!(!decide(false, false, false), "stderr is a file or a pipe");
        assert!(!decide(false, true, true), "in Lambda");
    }

    #[tokio::test]
    async fn the_line_follows_the_counters_and_is_cleared_at_the_end() {
        let term = InMemoryTerm::new(4, 120);
        let progress = Progress::new();
        let line = ProgressLine::start_on(
            progress.clone(),
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        );
        let sink = ObservedSink::new(std::sync::Arc::new(MemorySink::default()), progress);
        let object = EncodedObject {
            body: Default::default(),
            event_count: 1_234,
        };
        sink.put("logs/atlassian_audit/a.json.gz", &object)
            .await
            .unwrap();
        let mut shown = String::new();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            shown = term.contents();
            if shown.contains("1,234 events written") {
                break;
            }
        }
        assert!(
            shown.contains("1,234 events written · 0 pages"),
            "{shown:?}"
        );
        assert!(shown.contains("stream position not known yet"), "{shown:?}");
        drop(line);
        assert_eq!(term.contents().trim(), "", "cleared when the run ends");
    }
}
