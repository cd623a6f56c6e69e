//! Session tokens: HS256 JWTs that name a session row. The algorithm is pinned and
//! `exp`, `nbf`, `iss` and `aud` are required and checked; the session row decides
//! whether the token is still good (logout revokes it at once).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use natter_domain::{SessionId, UserId};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "natter";
const AUDIENCE: &str = "natter-api";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: i64,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// What a valid token says; the session still has to be checked in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.get(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The claims of a well-formed, correctly signed, current token; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<TokenClaims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some(TokenClaims {
            user_id: data.claims.sub.parse().ok()?,
            session_id: SessionId(data.claims.sid),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"a test secret that is long enough for HS256 use")
    }

    #[test]
    fn a_fresh_token_verifies() {
        let now = Utc::now();
        let token = keys()
            .issue(UserId(7), SessionId(9), now, now + Duration::days(1))
            .expect("issue");
        assert_eq!(
            keys().verify(&token),
            Some(TokenClaims {
                user_id: UserId(7),
                session_id: SessionId(9)
            })
        );
    }

    #[test]
    fn expired_or_foreign_tokens_do_not() {
        let now = Utc::now();
        let expired = keys()
            .issue(
                UserId(7),
                SessionId(9),
                now - Duration::days(2),
                now - Duration::days(1),
            )
            .expect("issue");
        assert_eq!(keys().verify(&expired), None);
        let other = TokenKeys::new(b"another secret, just as long as the first one")
            .issue(UserId(7), SessionId(9), now, now + Duration::days(1))
            .expect("issue");
        assert_eq!(keys().verify(&other), None);
        assert_eq!(keys().verify("not.a.token"), None);
        assert_eq!(keys().verify(""), None);
    }
}
