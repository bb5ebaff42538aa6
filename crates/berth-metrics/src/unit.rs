//! CloudWatch's units (`StandardUnit`). A datapoint keeps the unit it was put with; a query
//! that names no unit answers each unit's data apart, as CloudWatch does.

use std::fmt;

macro_rules! units {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// A unit as CloudWatch spells it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Unit { $($variant),* }

        impl Unit {
            /// Every unit, in the model's order (their stored numbers are positions here).
            pub const ALL: &'static [Unit] = &[$(Unit::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Unit::$variant => $name),* }
            }
        }
    };
}

units! {
    Seconds = "Seconds",
    Microseconds = "Microseconds",
    Milliseconds = "Milliseconds",
    Bytes = "Bytes",
    Kilobytes = "Kilobytes",
    Megabytes = "Megabytes",
    Gigabytes = "Gigabytes",
    Terabytes = "Terabytes",
    Bits = "Bits",
    Kilobits = "Kilobits",
    Megabits = "Megabits",
    Gigabits = "Gigabits",
    Terabits = "Terabits",
    Percent = "Percent",
    Count = "Count",
    BytesPerSecond = "Bytes/Second",
    KilobytesPerSecond = "Kilobytes/Second",
    MegabytesPerSecond = "Megabytes/Second",
    GigabytesPerSecond = "Gigabytes/Second",
    TerabytesPerSecond = "Terabytes/Second",
    BitsPerSecond = "Bits/Second",
    KilobitsPerSecond = "Kilobits/Second",
    MegabitsPerSecond = "Megabits/Second",
    GigabitsPerSecond = "Gigabits/Second",
    TerabitsPerSecond = "Terabits/Second",
    CountPerSecond = "Count/Second",
    None = "None",
}

impl Unit {
    /// The unit CloudWatch spells `name`, if any.
    pub fn parse(name: &str) -> Option<Unit> {
        Self::ALL.iter().copied().find(|unit| unit.name() == name)
    }

    /// Its number in a store.
    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|unit| *unit == self)
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(u8::MAX)
    }

    /// The unit stored as `code`.
    pub fn from_code(code: u8) -> Option<Unit> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Every name, for the message that refuses an unknown one.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|unit| unit.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for unit in Unit::ALL {
            assert_eq!(Unit::parse(unit.name()), Some(*unit));
            assert_eq!(Unit::from_code(unit.code()), Some(*unit));
        }
        assert_eq!(Unit::parse("Count/Second"), Some(Unit::CountPerSecond));
        assert_eq!(Unit::parse("count"), None);
        assert_eq!(Unit::from_code(200), None);
        assert_eq!(Unit::ALL.len(), 27);
    }
}
