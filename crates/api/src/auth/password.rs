//! Password hashing with Argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use natter_domain::Password;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy: call off the workers.
pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing a password failed: {error}"))?;
    Ok(hash.to_string())
}

/// Whether `candidate` matches `stored`. An unreadable stored hash never matches.
pub fn verify(candidate: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        argon2()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the same work as a real check, for logins with an unknown nickname, so that
/// the answer time does not tell which nicknames exist.
pub fn verify_against_dummy(candidate: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let password = Password::parse("natter-dummy-password").expect("valid");
        hash(&password).unwrap_or_default()
    });
    let _ = verify(candidate, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_use_argon2id_at_owasp_minimum() {
        let password = Password::parse("correct horse battery staple").expect("valid");
        let stored = hash(&password).expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery staple", &stored));
        assert!(!verify("correct horse battery stapl", &stored));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn long_passphrases_are_not_truncated() {
        let long = "a".repeat(1000);
        let stored = hash(&Password::parse(&long).expect("valid")).expect("hash");
        assert!(verify(&long, &stored));
        assert!(!verify(&"a".repeat(999), &stored));
    }
}
