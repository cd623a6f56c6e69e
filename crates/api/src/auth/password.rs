//! Password hashing with Argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane).

use std::cell::RefCell;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use natter_domain::Password;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

thread_local! {
    /// This thread's Argon2 working memory (19 MiB), kept from one hash to the next
    /// rather than allocated and freed each time (see [`off_thread`]).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` with `salt` (base64, as the PHC string holds it) into `out`.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'_>,
    out: &mut [u8],
) -> argon2::password_hash::Result<()> {
    let mut decoded = [0_u8; 64];
    let salt = salt.decode_b64(&mut decoded)?;
    MEMORY.with_borrow_mut(|memory| {
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..])?)
    })
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy: run it through
/// [`off_thread`].
pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = argon2();
    let phc = || -> argon2::password_hash::Result<String> {
        let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            compute(&argon2, password.expose().as_bytes(), salt.as_salt(), out)
        })?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon2.params())?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    };
    phc().map_err(|error| anyhow::anyhow!("hashing a password failed: {error}"))
}

/// Whether `candidate` matches `stored`. An unreadable stored hash never matches.
pub fn verify(candidate: &str, stored: &str) -> bool {
    let check = || -> argon2::password_hash::Result<bool> {
        let parsed = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let version = parsed.version.map(Version::try_from).transpose()?;
        let argon2 = Argon2::new(
            Algorithm::try_from(parsed.algorithm)?,
            version.unwrap_or_default(),
            Params::try_from(&parsed)?,
        );
        let actual = Output::init_with(expected.len(), |out| {
            compute(&argon2, candidate.as_bytes(), salt, out)
        })?;
        // Output's equality is constant-time.
        Ok(actual == expected)
    };
    check().unwrap_or(false)
}

type Job = Box<dyn FnOnce() + Send>;

/// Why [`off_thread`] could not run its work.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// As many checks are waiting as `--password-queue` allows: answer 503.
    #[error("the password queue is full")]
    Full,
    #[error("the password threads are gone")]
    Gone,
}

/// Jobs that may wait for a hashing thread when [`set_queue_limit`] was not called.
pub const DEFAULT_QUEUE_LIMIT: usize = 64;

static QUEUE_LIMIT: OnceLock<usize> = OnceLock::new();

/// How many jobs may wait for a hashing thread (the first call wins, and only before
/// the first [`off_thread`]).
pub fn set_queue_limit(limit: usize) {
    let _ = QUEUE_LIMIT.set(limit.max(1));
}

/// Runs `work` (hashing or checking a password) on natter's hashing threads, one per
/// core, and answers its result; refuses at once when the queue is full, so a burst of
/// sign-ins costs a bounded wait and bounded memory rather than an ever longer line.
///
/// Each hash works in 19 MiB. Allocated per hash on the general blocking pool, the
/// freed blocks stayed in the malloc arenas of whichever threads had hashed (100
/// sign-ups left natter at 227 MiB resident, and it kept growing); here each of
/// these threads keeps one block for good, and a burst of sign-ins waits in line
/// instead of crowding out the database work of the blocking pool.
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QueueError> {
    static QUEUE: OnceLock<SyncSender<Job>> = OnceLock::new();
    let queue =
        QUEUE.get_or_init(|| start_hashers(*QUEUE_LIMIT.get_or_init(|| DEFAULT_QUEUE_LIMIT)));
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        metrics::gauge!(crate::metrics::PASSWORD_QUEUE).decrement(1.0);
        let _ = reply.send(work());
    });
    // Counted before it is queued: a hashing thread may take it (and count it out)
    // before try_send returns.
    metrics::gauge!(crate::metrics::PASSWORD_QUEUE).increment(1.0);
    queue.try_send(job).map_err(|error| {
        metrics::gauge!(crate::metrics::PASSWORD_QUEUE).decrement(1.0);
        match error {
            TrySendError::Full(_) => {
                metrics::counter!(crate::metrics::PASSWORD_REFUSED).increment(1);
                QueueError::Full
            }
            TrySendError::Disconnected(_) => QueueError::Gone,
        }
    })?;
    answer.await.map_err(|_| QueueError::Gone)
}

fn start_hashers(limit: usize) -> SyncSender<Job> {
    let (queue, jobs) = mpsc::sync_channel::<Job>(limit);
    let jobs = Arc::new(Mutex::new(jobs));
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for n in 0..threads {
        let jobs = jobs.clone();
        let started = std::thread::Builder::new()
            .name(format!("natter-argon2-{n}"))
            .spawn(move || hasher(&jobs));
        if let Err(error) = started {
            tracing::error!(%error, "could not start a password thread");
        }
    }
    queue
}

fn hasher(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
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
    fn hashes_agree_with_the_argon2_crates_own_hashing() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours =
            hash(&Password::parse("correct horse battery staple").expect("valid")).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        // Hashes stored before natter kept its own memory still verify.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2()
            .hash_password(b"an older passphrase", &salt)
            .expect("hash")
            .to_string();
        assert!(verify("an older passphrase", &theirs));
        assert!(!verify("an older passphrasE", &theirs));
    }

    #[test]
    fn long_passphrases_are_not_truncated() {
        let long = "a".repeat(1000);
        let stored = hash(&Password::parse(&long).expect("valid")).expect("hash");
        assert!(verify(&long, &stored));
        assert!(!verify(&"a".repeat(999), &stored));
    }
}
