//! How events are shown: as `docker compose logs` shows them, `<task>/<container> | <line>`
//! with the prefix padded to one width and colored one color per task on a terminal; or one
//! JSON object per line for programs.

use serde::Serialize;
use std::collections::HashMap;

/// ANSI foreground colors, in the order tasks get them, as `docker compose` picks them;
/// red comes last so that it rarely looks like an error.
const PALETTE: [&str; 12] = [
    "36", "33", "32", "35", "34", "96", "93", "92", "95", "94", "31", "91",
];

/// How many characters of a task id the text output shows (`berth logs` takes them back).
pub const SHORT_ID_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Whether text gets colors: only on a terminal, and not when `NO_COLOR` is set to anything
/// (no-color.org).
pub fn use_color(stdout_is_terminal: bool, no_color: Option<&str>) -> bool {
    stdout_is_terminal && no_color.is_none_or(str::is_empty)
}

/// One event and where it comes from.
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub timestamp: i64,
    pub task: &'a str,
    pub container: &'a str,
    /// The log group and stream, for `awslogs` output; none for output its machine keeps.
    pub group: Option<&'a str>,
    pub stream: Option<&'a str>,
    pub message: &'a str,
}

pub struct Printer {
    output: Output,
    color: bool,
    colors: HashMap<String, &'static str>,
    /// The widest prefix of the streams shown so far; it only grows, so columns never jump
    /// back.
    width: usize,
}

impl Printer {
    pub fn new(output: Output, color: bool) -> Self {
        Self {
            output,
            color,
            colors: HashMap::new(),
            width: 0,
        }
    }

    /// Makes the prefix column wide enough for the prefix of `task` and `container`.
    pub fn make_room(&mut self, task: &str, container: &str) {
        self.width = self.width.max(prefix(task, container).chars().count());
    }

    /// The text to write for `line`, ending in a newline. A message of several lines gets the
    /// prefix on each.
    pub fn render(&mut self, line: &Line<'_>) -> String {
        if self.output == Output::Json {
            let mut json = serde_json::to_string(line).expect("a line serializes");
            json.push('\n');
            return json;
        }
        self.make_room(line.task, line.container);
        let prefix = format!(
            "{:<width$} |",
            prefix(line.task, line.container),
            width = self.width
        );
        let prefix = if self.color {
            let next = PALETTE[self.colors.len() % PALETTE.len()];
            let color = *self.colors.entry(line.task.to_owned()).or_insert(next);
            format!("\x1b[{color}m{prefix}\x1b[0m")
        } else {
            prefix
        };
        let message = line.message.strip_suffix('\n').unwrap_or(line.message);
        let mut text = String::with_capacity(prefix.len() + message.len() + 2);
        for part in message.split('\n') {
            text.push_str(&prefix);
            let part = part.strip_suffix('\r').unwrap_or(part);
            if !part.is_empty() {
                text.push(' ');
                text.push_str(part);
            }
            text.push('\n');
        }
        text
    }
}

fn prefix(task: &str, container: &str) -> String {
    let short: String = task.chars().take(SHORT_ID_LEN).collect();
    format!("{short}/{container}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_A: &str = "0123456789abcdef0123456789abcdef";
    const TASK_B: &str = "fedcba9876543210fedcba9876543210";

    fn line<'a>(task: &'a str, container: &'a str, message: &'a str) -> Line<'a> {
        Line {
            timestamp: 1_714_557_600_000,
            task,
            container,
            group: Some("/ecs/portal"),
            stream: Some("portal/web/x"),
            message,
        }
    }

    #[test]
    fn text_lines_carry_a_padded_prefix() {
        let mut printer = Printer::new(Output::Text, false);
        printer.make_room(TASK_B, "worker");
        assert_eq!(
            printer.render(&line(TASK_A, "web", "GET / 200")),
            "01234567/web    | GET / 200\n"
        );
        assert_eq!(
            printer.render(&line(TASK_B, "worker", "done\n")),
            "fedcba98/worker | done\n"
        );
        assert_eq!(
            printer.render(&line(TASK_A, "web", "Traceback:\r\n  at x\n\nend")),
            "01234567/web    | Traceback:\n01234567/web    |   at x\n01234567/web    |\n01234567/web    | end\n"
        );
    }

    #[test]
    fn each_task_keeps_its_own_color() {
        let mut printer = Printer::new(Output::Text, true);
        let a = printer.render(&line(TASK_A, "web", "one"));
        let b = printer.render(&line(TASK_B, "web", "two"));
        let again = printer.render(&line(TASK_A, "worker", "three"));
        assert_eq!(a, "\x1b[36m01234567/web |\x1b[0m one\n");
        assert!(b.starts_with("\x1b[33m"), "{b:?}");
        assert!(again.starts_with("\x1b[36m"), "{again:?}");
        let mut many = Printer::new(Output::Text, true);
        let colors: Vec<String> = (0..13)
            .map(|i| many.render(&line(&format!("{i:032}"), "c", "x"))[..7].to_owned())
            .collect();
        assert_eq!(colors[0], colors[12], "the palette cycles");
        assert_ne!(colors[0], colors[1]);
    }

    #[test]
    fn json_lines_are_objects_that_parse() {
        let mut printer = Printer::new(Output::Json, true);
        let text = printer.render(&line(TASK_A, "web", "say \"hi\"\n"));
        assert!(text.ends_with('\n') && !text.contains('\x1b'));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "timestamp": 1_714_557_600_000_i64, "task": TASK_A, "container": "web",
                "group": "/ecs/portal", "stream": "portal/web/x", "message": "say \"hi\"\n"
            })
        );
    }

    #[test]
    fn colors_only_on_a_terminal_without_no_color() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some("")));
        assert!(!use_color(true, Some("1")));
        assert!(!use_color(false, None));
    }
}
