//! The cryptography of Web Push: the payload encrypted for one browser (RFC 8291,
//! `aes128gcm` of RFC 8188, one record), and the application server's signed claim
//! (VAPID, RFC 8292).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::rand_core::{OsRng, RngCore};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use p256::{PublicKey, SecretKey};
use serde::Serialize;
use sha2::Sha256;

/// The one record's size: a push service must accept 4096-byte payloads.
const RECORD_SIZE: u32 = 4096;
/// The record's own overhead: the padding delimiter and the AEAD tag.
const RECORD_OVERHEAD: usize = 1 + 16;
/// The most plaintext one push carries.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - RECORD_OVERHEAD - HEADER_LEN;
/// salt (16) + record size (4) + key id length (1) + the server's public key (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the payload is {0} bytes, over the {MAX_PLAINTEXT} one push carries")]
    TooLong(usize),
    #[error("key derivation or encryption failed")]
    Failed,
    #[error("the VAPID key is not a P-256 private key")]
    BadKey,
    #[error("signing the VAPID claim failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// A browser's keys, from its subscription.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub public: PublicKey,
    pub auth: [u8; 16],
}

/// `plaintext` encrypted for `to`, with a fresh key pair and salt: the body of a push.
pub fn encrypt(plaintext: &[u8], to: &Receiver) -> Result<Vec<u8>, CryptoError> {
    let mut salt = [0; 16];
    OsRng.fill_bytes(&mut salt);
    encrypt_with(plaintext, to, &SecretKey::random(&mut OsRng), salt)
}

fn encrypt_with(
    plaintext: &[u8],
    to: &Receiver,
    server: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(CryptoError::TooLong(plaintext.len()));
    }
    let server_public = server.public_key().to_encoded_point(false);
    let receiver_public = to.public.to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(server.to_nonzero_scalar(), to.public.as_affine());
    // RFC 8291 §3.4: the input keying material, from the shared secret and the
    // browser's authentication secret, bound to both public keys.
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(receiver_public.as_bytes());
    key_info.extend_from_slice(server_public.as_bytes());
    let mut ikm = [0; 32];
    Hkdf::<Sha256>::new(Some(&to.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| CryptoError::Failed)?;
    // RFC 8188 §2.2 and §2.3: the content key and nonce, from the salt.
    let derived = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let (mut key, mut nonce) = ([0; 16], [0; 12]);
    derived
        .expand(b"Content-Encoding: aes128gcm\0", &mut key)
        .and_then(|()| derived.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| CryptoError::Failed)?;
    // One record, the last: the delimiter 2 and no padding.
    let mut record = Vec::with_capacity(plaintext.len() + RECORD_OVERHEAD);
    record.extend_from_slice(plaintext);
    record.push(2);
    let sealed = Aes128Gcm::new_from_slice(&key)
        .map_err(|_| CryptoError::Failed)?
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| CryptoError::Failed)?;
    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(server_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// The application server's identity (RFC 8292): a P-256 key pair and a contact.
#[derive(Clone)]
pub struct Vapid {
    signing: EncodingKey,
    /// The public key, unpadded base64url of the uncompressed point.
    public: String,
    subject: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

/// How long a VAPID claim holds (RFC 8292 allows at most 24 hours).
pub const CLAIM_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

impl Vapid {
    /// A new private key: 32 bytes as unpadded base64url.
    pub fn generate() -> String {
        URL_SAFE_NO_PAD.encode(SecretKey::random(&mut OsRng).to_bytes())
    }

    /// The identity of `private` (as [`Self::generate`] writes it), reachable at
    /// `subject` (a `mailto:` or `https:` URL).
    pub fn new(private: &str, subject: String) -> Result<Self, CryptoError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(private.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let secret = SecretKey::from_slice(&bytes).map_err(|_| CryptoError::BadKey)?;
        let der = secret.to_pkcs8_der().map_err(|_| CryptoError::BadKey)?;
        Ok(Self {
            signing: EncodingKey::from_ec_der(der.as_bytes()),
            public: URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false)),
            subject,
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `origin` (the endpoint's scheme, host
    /// and port), valid for [`CLAIM_LIFETIME`].
    pub fn authorization(&self, origin: &str) -> Result<String, CryptoError> {
        let claims = Claims {
            aud: origin,
            exp: (chrono::Utc::now() + CLAIM_LIFETIME).timestamp(),
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    }

    /// RFC 8291, Appendix A: the same keys, salt and text give the same message.
    #[test]
    fn encrypts_as_the_rfc_example() {
        let receiver = Receiver {
            public: PublicKey::from_sec1_bytes(&b64(
                "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            ))
            .expect("the user agent's public key"),
            auth: b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().expect("16 bytes"),
        };
        let server = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
            .expect("the application server's private key");
        let salt = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &receiver,
            &server,
            salt,
        )
        .expect("encrypted");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn a_payload_over_one_record_is_refused() {
        let receiver = Receiver {
            public: SecretKey::random(&mut OsRng).public_key(),
            auth: [7; 16],
        };
        assert!(encrypt(&[b'x'; MAX_PLAINTEXT], &receiver).is_ok());
        assert!(matches!(
            encrypt(&[b'x'; MAX_PLAINTEXT + 1], &receiver),
            Err(CryptoError::TooLong(_))
        ));
    }

    #[test]
    fn the_vapid_header_names_the_key_and_a_signed_claim() {
        let vapid =
            Vapid::new(&Vapid::generate(), "mailto:admin@example.org".into()).expect("a fresh key");
        assert_eq!(b64(vapid.public_key()).len(), 65);
        let header = vapid
            .authorization("https://push.example.net")
            .expect("signed");
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=…, k=…");
        assert_eq!(key, vapid.public_key());
        assert_eq!(token.split('.').count(), 3);
    }
}
