//! GetRandomPassword: characters drawn from the operating system's generator, with Secrets
//! Manager's defaults (32 characters; letters, digits and punctuation; at least one of each
//! included kind).

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// The punctuation Secrets Manager draws from.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRules {
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("PasswordLength must be between 1 and 4096, got {0}")]
    Length(usize),
    #[error("the exclusions leave no character to draw from")]
    NothingLeft,
    #[error(
        "a password of {length} characters cannot hold one of each of the {kinds} kinds of \
         character it must include"
    )]
    TooShortForEachKind { length: usize, kinds: usize },
}

pub fn generate(rules: &PasswordRules) -> Result<String, PasswordError> {
    if !(1..=4096).contains(&rules.length) {
        return Err(PasswordError::Length(rules.length));
    }
    let kinds: Vec<Vec<char>> = [
        (!rules.exclude_lowercase, ('a'..='z').collect::<String>()),
        (!rules.exclude_uppercase, ('A'..='Z').collect()),
        (!rules.exclude_numbers, ('0'..='9').collect()),
        (!rules.exclude_punctuation, PUNCTUATION.to_string()),
        (rules.include_space, " ".to_string()),
    ]
    .into_iter()
    .filter(|(included, _)| *included)
    .map(|(_, chars)| {
        chars
            .chars()
            .filter(|c| !rules.exclude_characters.contains(*c))
            .collect::<Vec<char>>()
    })
    .filter(|chars| !chars.is_empty())
    .collect();
    let all: Vec<char> = kinds.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(PasswordError::NothingLeft);
    }
    let mut rng = OsRng;
    let mut password: Vec<char> = Vec::with_capacity(rules.length);
    if rules.require_each_included_type {
        if kinds.len() > rules.length {
            return Err(PasswordError::TooShortForEachKind {
                length: rules.length,
                kinds: kinds.len(),
            });
        }
        for kind in &kinds {
            password.push(kind[rng.gen_range(0..kind.len())]);
        }
    }
    while password.len() < rules.length {
        password.push(all[rng.gen_range(0..all.len())]);
    }
    password.shuffle(&mut rng);
    Ok(password.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_holds_every_kind() {
        for _ in 0..50 {
            let password = generate(&PasswordRules::default()).unwrap();
            assert_eq!(password.chars().count(), 32);
            assert!(password.chars().any(|c| c.is_ascii_lowercase()));
            assert!(password.chars().any(|c| c.is_ascii_uppercase()));
            assert!(password.chars().any(|c| c.is_ascii_digit()));
            assert!(password.chars().any(|c| PUNCTUATION.contains(c)));
            assert!(!password.contains(' '));
        }
    }

    #[test]
    fn exclusions_are_honoured() {
        let rules = PasswordRules {
            length: 200,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_characters: "abc0".into(),
            include_space: true,
            ..PasswordRules::default()
        };
        let password = generate(&rules).unwrap();
        assert!(password.chars().all(|c| (c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == ' ')
            && !"abc0".contains(c)));
        assert!(password.contains(' '));
    }

    #[test]
    fn impossible_rules_say_why() {
        let nothing = PasswordRules {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..PasswordRules::default()
        };
        assert_eq!(generate(&nothing), Err(PasswordError::NothingLeft));
        let short = PasswordRules {
            length: 3,
            ..PasswordRules::default()
        };
        assert!(matches!(
            generate(&short),
            Err(PasswordError::TooShortForEachKind { .. })
        ));
        assert!(generate(&PasswordRules {
            length: 3,
            require_each_included_type: false,
            ..PasswordRules::default()
        })
        .is_ok());
        for length in [0, 4097] {
            assert_eq!(
                generate(&PasswordRules {
                    length,
                    ..PasswordRules::default()
                }),
                Err(PasswordError::Length(length))
            );
        }
    }
}
