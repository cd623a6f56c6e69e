//! Debian's Chromium, headless, driven through chromedriver by a WebDriver client.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// A headless Chromium with a fresh profile. Call [`Browser::close`] at the end.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start chromedriver (scripts/setup.sh installs chromium-driver)")?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not listen on {address} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir()?;
        // The flags that work on these machines as root with no network (TOOLCHAIN.md).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://{address}"))
            .await
            .context("cannot open a Chromium session through chromedriver")?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Runs axe-core (which scripts/setup.sh installs) on the page as it is and
    /// answers its serious and critical findings against WCAG 2.1 A and AA, one line
    /// each: the rule, and where.
    pub async fn accessibility_faults(&self) -> anyhow::Result<Vec<String>> {
        let source = std::fs::read_to_string(axe_path())
            .context("axe-core is missing: run scripts/setup.sh test")?;
        // WebDriver runs scripts outside the page's Content-Security-Policy.
        self.client.execute(&source, Vec::new()).await?;
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag',
                     values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                   .then(result => done(result.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): '
                       + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(error => done(['axe failed: ' + error]));",
                Vec::new(),
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Waits up to 20 s for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element matching `{css}` appeared"))
    }

    /// Waits up to 20 s until `css` matches no element.
    pub async fn wait_gone(&self, css: &str) -> anyhow::Result<()> {
        self.wait_until(&format!("no `{css}`"), || async {
            Ok(self.client.find_all(Locator::Css(css)).await?.is_empty())
        })
        .await
    }

    /// Waits up to 20 s for an element matching `css` whose text contains `text`.
    pub async fn wait_for_text(
        &self,
        css: &str,
        text: &str,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        let started = Instant::now();
        loop {
            for element in self.client.find_all(Locator::Css(css)).await? {
                if element.text().await.is_ok_and(|t| t.contains(text)) {
                    return Ok(element);
                }
            }
            if started.elapsed() > WAIT {
                let seen = self.texts(css).await.unwrap_or_default();
                bail!("no `{css}` with text {text:?} appeared; there are {seen:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The texts of every element matching `css`, in document order. A list the
    /// page redraws between finding its elements and reading them is read again.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut attempts = 0;
        loop {
            match self.read_texts(css).await {
                Err(CmdError::Standard(e))
                    if e.error == ErrorStatus::StaleElementReference && attempts < 5 =>
                {
                    attempts += 1;
                }
                read => return Ok(read?),
            }
        }
    }

    async fn read_texts(&self, css: &str) -> Result<Vec<String>, CmdError> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            texts.push(element.text().await?);
        }
        Ok(texts)
    }

    /// Polls `check` until it says yes, for up to 20 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<bool>>,
    {
        let started = Instant::now();
        while !check().await? {
            if started.elapsed() > WAIT {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css).await?.click().await?;
        Ok(())
    }

    /// Replaces the value of the input matching `css` with `text`, as typed.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.wait_for(css).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let dir = crate::repo_root().join("target/screenshots");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("{name}.png")),
            self.client.screenshot().await?,
        )?;
        Ok(())
    }

    /// Ends the browser session (Chromium exits with it).
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

/// axe-core's script: `$NATTER_AXE`, else `$XDG_DATA_HOME/natter/axe`, as
/// scripts/setup.sh installs it.
fn axe_path() -> std::path::PathBuf {
    let base = std::env::var_os("NATTER_AXE").map_or_else(
        || {
            let data = std::env::var_os("XDG_DATA_HOME").map_or_else(
                || {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".local/share")
                },
                std::path::PathBuf::from,
            );
            data.join("natter/axe")
        },
        std::path::PathBuf::from,
    );
    base.join("node_modules/axe-core/axe.min.js")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
