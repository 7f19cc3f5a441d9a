//! Log lines as the AIM runtime writes them (`aim-build: src/aim_runtime/logging_config.py`): to stderr, as
//! `%(asctime)s - %(name)s - %(levelname)s - %(message)s`, the runtime's loggers at `AIM_LOG_LEVEL` (INFO unless
//! set). Stdout stays for what a command prints (the dry run's JSON).

use k8s_openapi::jiff::Timestamp;

/// A level, in Python's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    fn parse(name: &str) -> Level {
        match name.to_uppercase().as_str() {
            "DEBUG" => Level::Debug,
            "WARNING" | "WARN" => Level::Warning,
            "ERROR" => Level::Error,
            "CRITICAL" => Level::Critical,
            _ => Level::Info,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Writes the runtime's log lines at or above a level.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    min: Level,
}

impl Log {
    /// A log at `AIM_LOG_LEVEL`'s level.
    pub fn at(level: &str) -> Log {
        Log {
            min: Level::parse(level),
        }
    }

    /// One line from logger `name` (`aim_runtime.<module>`).
    pub fn line(&self, level: Level, name: &str, message: &str) {
        if level >= self.min {
            eprintln!("{}", format_line(Timestamp::now(), level, name, message));
        }
    }

    pub fn info(&self, name: &str, message: &str) {
        self.line(Level::Info, name, message);
    }

    pub fn warning(&self, name: &str, message: &str) {
        self.line(Level::Warning, name, message);
    }

    pub fn error(&self, name: &str, message: &str) {
        self.line(Level::Error, name, message);
    }
}

/// `2026-12-05 10:00:01,123 - aim_runtime.x - INFO - message`.
fn format_line(at: Timestamp, level: Level, name: &str, message: &str) -> String {
    let millis = at.subsec_millisecond();
    format!(
        "{},{millis:03} - {name} - {} - {message}",
        at.strftime("%Y-%m-%d %H:%M:%S"),
        level.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_pythons_logging_writes_them() {
        let at = Timestamp::from_millisecond(1_764_928_801_123).unwrap();
        assert_eq!(
            format_line(at, Level::Warning, "aim_runtime.aim_runtime", "careful"),
            "2025-12-05 10:00:01,123 - aim_runtime.aim_runtime - WARNING - careful"
        );
        assert!(Level::parse("warning") > Level::parse("info"));
    }
}
