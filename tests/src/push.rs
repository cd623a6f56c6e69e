//! A push service on loopback that speaks RFC 8030 (a push is a POST of the
//! encrypted message to the subscription's endpoint), and a browser's side of a
//! subscription: its keys, and the decryption of what arrives (RFC 8291). The
//! cryptography is the real thing, written here from the RFCs, so that natter's own
//! encryption is checked by an independent reading; only the service is ours.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::rand_core::{OsRng, RngCore};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One push as the service took it.
#[derive(Debug, Clone)]
pub struct Push {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Push {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The service: every push it takes arrives on [`Self::next`]; each is answered with
/// the next status scripted by [`Self::answer`], else 201.
pub struct PushService {
    port: u16,
    pushes: mpsc::UnboundedReceiver<Push>,
    script: Arc<Mutex<VecDeque<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PushService {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (sender, pushes) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let task = tokio::spawn({
            let script = script.clone();
            async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let (sender, script) = (sender.clone(), script.clone());
                    tokio::spawn(async move {
                        let _ = serve(socket, sender, script).await;
                    });
                }
            }
        });
        Ok(Self {
            port,
            pushes,
            script,
            task,
        })
    }

    /// The endpoint of a subscription named `name`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/push/{name}", self.port)
    }

    /// The audience a VAPID claim for this service names.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next pushes are answered with `statuses`, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.script
            .lock()
            .expect("script lock")
            .extend(statuses.iter().copied());
    }

    /// The next push within `wait`.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<Push> {
        tokio::time::timeout(wait, self.pushes.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers the requests of one connection (HTTP/1.1, keep-alive).
async fn serve(
    socket: tokio::net::TcpStream,
    pushes: mpsc::UnboundedSender<Push>,
    script: Arc<Mutex<VecDeque<u16>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or_default();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let status = script
            .lock()
            .expect("script lock")
            .pop_front()
            .unwrap_or(201);
        let _ = pushes.send(Push {
            path,
            headers,
            body,
        });
        let answer = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\n\r\n");
        reader.get_mut().write_all(answer.as_bytes()).await?;
    }
}

/// A browser's side of a subscription: its key pair and authentication secret.
pub struct BrowserKeys {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Default for BrowserKeys {
    fn default() -> Self {
        let mut auth = [0; 16];
        OsRng.fill_bytes(&mut auth);
        Self {
            secret: SecretKey::random(&mut OsRng),
            auth,
        }
    }
}

impl BrowserKeys {
    /// The body of `POST /api/push/subscriptions` for `endpoint`.
    pub fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false)),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    /// What a push says, decrypted as RFC 8291 and RFC 8188 tell a browser to.
    pub fn decrypt(&self, body: &[u8]) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(body.len() > 86, "shorter than the aes128gcm header");
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into()?);
        anyhow::ensure!(body[20] == 65, "the key id is not a P-256 point");
        let server_point = &body[21..86];
        let sealed = &body[86..];
        anyhow::ensure!(
            sealed.len() <= usize::try_from(record_size)?,
            "more than one record"
        );
        let server = PublicKey::from_sec1_bytes(server_point)?;
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), server.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.secret.public_key().to_encoded_point(false).as_bytes());
        info.extend_from_slice(server_point);
        let mut ikm = [0; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .map_err(|_| anyhow::anyhow!("hkdf"))?;
        let derived = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut key, mut nonce) = ([0; 16], [0; 12]);
        derived
            .expand(b"Content-Encoding: aes128gcm\0", &mut key)
            .and_then(|()| derived.expand(b"Content-Encoding: nonce\0", &mut nonce))
            .map_err(|_| anyhow::anyhow!("hkdf"))?;
        let mut plain = Aes128Gcm::new_from_slice(&key)?
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| anyhow::anyhow!("the record does not decrypt"))?;
        // Padding: zeros after the delimiter, which is 2 in the last record.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        anyhow::ensure!(plain.pop() == Some(2), "not the last record's delimiter");
        Ok(plain)
    }
}

/// The claims of a push's `Authorization: vapid t=…, k=…` (RFC 8292), once its
/// signature is checked against `k`; with `k`.
pub fn vapid_claims(authorization: &str) -> anyhow::Result<(Value, String)> {
    let (token, key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .ok_or_else(|| anyhow::anyhow!("not `vapid t=…, k=…`: {authorization}"))?;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("not a JWT")
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
    anyhow::ensure!(header["alg"] == "ES256", "alg {}", header["alg"]);
    let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key)?)?;
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature)?)?;
    let signed = &token[..token.len() - token.rsplit('.').next().unwrap_or_default().len() - 1];
    verifying.verify(signed.as_bytes(), &signature)?;
    Ok((
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?,
        key.to_owned(),
    ))
}
