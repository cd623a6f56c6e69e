//! Files: uploaded (streamed, typed from their bytes), attached to a message, served
//! to the conversation's members only and in ways that cannot run in Natter's
//! origin, images without their metadata and with a thumbnail, removed with their
//! message or when never attached; in a directory or in S3-compatible storage.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use img_parts::png::{Png, PngChunk};
use natter_domain::api::Message;
use natter_tests::api::Person;
use natter_tests::{SpawnOptions, TestApp, backend, venv_tool};
use reqwest::StatusCode;
use serde_json::json;

/// A PNG of `width` × `height` carrying a text chunk with a GPS position.
fn png_with_position(width: u32, height: u32) -> Vec<u8> {
    let picture = DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb([30, 120, 200])));
    let mut out = Cursor::new(Vec::new());
    picture
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    let mut png = Png::from_bytes(out.into_inner().into()).expect("png");
    let end = png.chunks().len() - 1;
    png.chunks_mut().insert(
        end,
        PngChunk::new(*b"tEXt", b"GPSPosition\x0052.3731 N, 4.8922 E"[..].into()),
    );
    png.encoder().bytes().to_vec()
}

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// Files kept in the store below `dir` (a directory store).
fn stored_files(dir: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { walk(&path) } else { 1 }
                })
                .sum()
        })
    }
    walk(dir)
}

/// Waits (up to 15 s) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 15 s");
}

async fn send_files(
    app: &TestApp,
    conversation: i64,
    who: &Person,
    content: &str,
    ids: &[i64],
) -> natter_tests::api::Reply {
    app.post(
        &format!("/conversations/{conversation}/messages"),
        who,
        &json!({"content": content, "attachment_ids": ids}),
    )
    .await
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one file's whole life, from upload to removal
async fn an_image_and_a_pdf_are_attached_and_served_to_members_only() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let id = app.conversation(&alice, "Files", &[&bob]).await;

    let original = png_with_position(800, 600);
    let image = app.upload(&alice, "holiday.png", original.clone()).await;
    assert_eq!(image.status, StatusCode::CREATED, "{:?}", image.body);
    assert_eq!(image.body["content_type"], "image/png");
    assert_eq!(
        (image.body["width"].as_i64(), image.body["height"].as_i64()),
        (Some(800), Some(600))
    );
    assert_eq!(image.body["thumbnail"], true);
    assert_eq!(image.body["filename"], "holiday.png");
    let image_id = image.body["id"].as_i64().expect("id");

    let pdf = app
        .upload(&alice, "../../etc/report.pdf", PDF.to_vec())
        .await;
    assert_eq!(pdf.status, StatusCode::CREATED, "{:?}", pdf.body);
    assert_eq!(pdf.body["filename"], "report.pdf", "never a path");
    assert_eq!(pdf.body["content_type"], "application/pdf");
    assert_eq!(pdf.body["size"], PDF.len());
    assert!(pdf.body.get("width").is_none());
    let pdf_id = pdf.body["id"].as_i64().expect("id");

    // Someone else's upload, and too many, are refused by name.
    let other = app
        .uploaded(&bob, "notes.txt", b"bob's notes".to_vec())
        .await;
    let refused = send_files(&app, id, &alice, "", &[other]).await;
    assert_eq!(
        (refused.status, refused.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachment_ids")
    );
    let eleven: Vec<i64> = (1..=11).collect();
    let refused = send_files(&app, id, &alice, "x", &eleven).await;
    assert_eq!(
        (refused.status, refused.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachment_ids")
    );
    let no_text = send_files(&app, id, &alice, "", &[]).await;
    assert_eq!(
        (no_text.status, no_text.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "content")
    );
    assert_eq!(app.count("chat_messages"), 0, "nothing was sent");

    // A message with files and no text.
    let sent = send_files(&app, id, &alice, "", &[image_id, pdf_id]).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    let message: Message = serde_json::from_value(sent.body).expect("a message");
    assert_eq!(message.content, "");
    let attached: Vec<i64> = message.attachments.iter().map(|a| a.id.get()).collect();
    assert_eq!(attached, [image_id, pdf_id], "in the order sent");
    // A caption may come and go by edits; a message without files may not lose its text.
    let patch =
        |content: &str, version: i64| json!({"content": content, "expected_version": version});
    let message_path = format!("/messages/{}", message.id);
    let captioned = app
        .call(
            reqwest::Method::PATCH,
            &message_path,
            Some(&alice.token),
            Some(&patch("Holiday", 1)),
        )
        .await;
    assert_eq!(captioned.status, StatusCode::OK, "{:?}", captioned.body);
    let bare = app
        .call(
            reqwest::Method::PATCH,
            &message_path,
            Some(&alice.token),
            Some(&patch("", 2)),
        )
        .await;
    assert_eq!(bare.status, StatusCode::OK, "{:?}", bare.body);
    assert!(
        bare.body.get("content").is_none()
            && bare.body["attachments"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
    );
    let text_only = app.send(id, &alice, "words").await;
    let emptied = app
        .call(
            reqwest::Method::PATCH,
            &format!("/messages/{text_only}"),
            Some(&alice.token),
            Some(&patch("", 1)),
        )
        .await;
    assert_eq!(
        (emptied.status, emptied.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "content")
    );
    // Attached once only.
    let again = send_files(&app, id, &alice, "again", &[pdf_id]).await;
    assert_eq!(
        (again.status, again.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachment_ids")
    );

    // Bob sees them in the history.
    let page = app
        .get(&format!("/conversations/{id}/messages"), &bob)
        .await;
    let files = &page.body["messages"][0]["attachments"];
    assert_eq!(files[0]["filename"], "holiday.png");
    assert_eq!(files[1]["filename"], "report.pdf");

    // The export lists them.
    let export = app.get(&format!("/conversations/{id}/export"), &bob).await;
    assert_eq!(export.body["messages"][0]["id"], message.id.get());
    assert_eq!(
        export.body["messages"][0]["attachments"][1]["filename"],
        "report.pdf"
    );

    // The image: inline, sandboxed, without the position it carried.
    let response = app
        .fetch(&format!("/attachments/{image_id}"), &bob, &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("inline")
    );
    let served = response.bytes().await.expect("bytes");
    assert!(served.len() < original.len());
    assert!(
        !String::from_utf8_lossy(&served).contains("52.3731"),
        "the position is gone"
    );
    let decoded = image::load_from_memory(&served).expect("still an image");
    assert_eq!((decoded.width(), decoded.height()), (800, 600));

    let thumbnail = app
        .fetch(&format!("/attachments/{image_id}/thumbnail"), &bob, &[])
        .await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");
    let small =
        image::load_from_memory(&thumbnail.bytes().await.expect("bytes")).expect("an image");
    assert_eq!((small.width(), small.height()), (400, 300));

    // The PDF: a download, and by parts.
    let response = app
        .fetch(&format!("/attachments/{pdf_id}"), &bob, &[])
        .await;
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("report.pdf"),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PDF);
    let part = app
        .fetch(
            &format!("/attachments/{pdf_id}"),
            &bob,
            &[("Range", "bytes=0-3")],
        )
        .await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-3/{}", PDF.len()).as_str()
    );
    assert_eq!(part.bytes().await.expect("bytes").as_ref(), b"%PDF");
    let tail = app
        .fetch(
            &format!("/attachments/{pdf_id}"),
            &bob,
            &[("Range", "bytes=-4")],
        )
        .await;
    assert_eq!(tail.bytes().await.expect("bytes").as_ref(), b"EOF\n");
    let outside = app
        .fetch(
            &format!("/attachments/{pdf_id}"),
            &bob,
            &[("Range", &format!("bytes={}-", PDF.len()))],
        )
        .await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Not a member: not found, whatever the path.
    for path in [
        format!("/attachments/{image_id}"),
        format!("/attachments/{image_id}/thumbnail"),
        format!("/attachments/{pdf_id}"),
    ] {
        assert_eq!(
            app.fetch(&path, &carol, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // An upload not attached yet is its uploader's alone.
    assert_eq!(
        app.fetch(&format!("/attachments/{other}"), &bob, &[])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.fetch(&format!("/attachments/{other}"), &alice, &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Deleting the message deletes its files from the store.
    let files_before = stored_files(app.db.files());
    assert_eq!(files_before, 4, "two files, a thumbnail, bob's notes");
    let deleted = app
        .call(
            reqwest::Method::DELETE,
            &format!("/messages/{}", message.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.fetch(&format!("/attachments/{pdf_id}"), &bob, &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let files = app.db.files().to_owned();
    eventually("the files' removal", || stored_files(&files) == 1).await;
    eventually("the rows' removal", || app.count("chat_attachments") == 1).await;
    let page = app
        .get(&format!("/conversations/{id}/messages"), &bob)
        .await;
    assert!(page.body["messages"][0].get("attachments").is_none());
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_by_name_and_nothing_is_kept() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_MAX_UPLOAD", "64KiB")])).await;
    let alice = app.register("alice").await;

    let empty = app.upload(&alice, "empty.txt", Vec::new()).await;
    assert_eq!(
        (empty.status, empty.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "file")
    );
    let large = app.upload(&alice, "large.bin", vec![7; 65 * 1024]).await;
    assert_eq!(
        (large.status, large.field()),
        (StatusCode::PAYLOAD_TOO_LARGE, "file")
    );

    // Without a length to refuse it by, it is refused once it passes the limit.
    let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![1u8; 4096]));
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .query(&[("filename", "stream.bin")])
        .bearer_auth(&alice.token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    } // (or the server closed the connection while the body still came)

    // A picture that claims 100,000 × 100,000 pixels: refused, not decoded.
    let mut bomb = Png::from_bytes(png_with_position(1, 1).into()).expect("png");
    let mut header = bomb.chunks()[0].contents().to_vec();
    header[0..8].copy_from_slice(&[0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0]);
    bomb.chunks_mut()[0] = PngChunk::new(*b"IHDR", header.into());
    let refused = app
        .upload(&alice, "bomb.png", bomb.encoder().bytes().to_vec())
        .await;
    assert_eq!(
        (refused.status, refused.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "file")
    );

    for name in ["\u{202e}", "../", " . "] {
        let reply = app.upload(&alice, name, b"x".to_vec()).await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "filename"),
            "{name:?}"
        );
    }
    assert_eq!(app.count("chat_attachments"), 0);
    assert_eq!(stored_files(app.db.files()), 0, "nothing of them is kept");

    // Looks like a PNG, is not one: a plain file, no thumbnail, no error.
    let broken = app
        .upload(&alice, "broken.png", b"\x89PNG\r\n\x1a\nbroken".to_vec())
        .await;
    assert_eq!(broken.status, StatusCode::CREATED, "{:?}", broken.body);
    assert_eq!(broken.body["content_type"], "application/octet-stream");
    assert_eq!(broken.body["thumbnail"], false);
    let id = broken.body["id"].as_i64().expect("id");
    let response = app.fetch(&format!("/attachments/{id}"), &alice, &[]).await;
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(
        app.fetch(&format!("/attachments/{id}/thumbnail"), &alice, &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // An HTML page is a download with a sandbox, never a page of this origin.
    let page = app
        .upload(
            &alice,
            "x.html",
            b"<!DOCTYPE html><script>alert(1)</script>".to_vec(),
        )
        .await;
    let id = page.body["id"].as_i64().expect("id");
    let response = app.fetch(&format!("/attachments/{id}"), &alice, &[]).await;
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn uploads_never_attached_are_purged() {
    let app =
        TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_KEEP_UNATTACHED", "1s")])).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = app.conversation(&alice, "Files", &[&bob]).await;
    let kept = app.uploaded(&alice, "kept.txt", b"kept".to_vec()).await;
    let reply = send_files(&app, id, &alice, "here", &[kept]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    app.uploaded(&alice, "forgotten.txt", b"forgotten".to_vec())
        .await;
    let files = app.db.files().to_owned();
    eventually("the purge", || {
        app.count("chat_attachments") == 1 && stored_files(&files) == 1
    })
    .await;
    let response = app.fetch(&format!("/attachments/{kept}"), &bob, &[]).await;
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), b"kept");
}

/// A moto S3 server on a free port, for as long as this lives.
struct S3Server {
    child: tokio::process::Child,
    endpoint: String,
}

impl S3Server {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server starts (scripts/setup.sh installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(&endpoint).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = client
            .put(format!("{endpoint}/natter-files"))
            .send()
            .await
            .expect("create a bucket");
        assert!(created.status().is_success(), "{created:?}");
        Self { child, endpoint }
    }

    fn env(&self) -> SpawnOptions {
        SpawnOptions::with_env(&[
            ("NATTER_STORAGE", "s3://natter-files/team"),
            ("AWS_ENDPOINT", &self.endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])
    }

    /// The keys under `prefix` in the bucket.
    async fn keys(&self) -> Vec<String> {
        let listing = reqwest::get(format!(
            "{}/natter-files?list-type=2&prefix=team/",
            self.endpoint
        ))
        .await
        .expect("list")
        .text()
        .await
        .expect("a listing");
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// With `--storage s3://…`, a file uploaded on one node is served by another (on
/// SQLite, one node), a large one goes up in parts, and deleting the message removes
/// the objects.
#[tokio::test]
async fn files_in_s3_are_shared_by_nodes() {
    let s3 = S3Server::start().await;
    let first = TestApp::spawn_with(s3.env()).await;
    let second = if backend() == natter_tests::Backend::Postgres {
        Some(first.spawn_node_with(s3.env()).await)
    } else {
        None
    };
    let other = second.as_ref().unwrap_or(&first);
    let alice = first.register("alice").await;
    let bob = first.register("bob").await;
    let id = first.conversation(&alice, "Files", &[&bob]).await;

    let image = first
        .uploaded(&alice, "map.png", png_with_position(640, 480))
        .await;
    // Over S3's 5 MiB part: a multipart upload.
    let large: Vec<u8> = (0..6 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let log = first.uploaded(&alice, "big.log", large.clone()).await;
    let reply = send_files(&first, id, &alice, "both", &[image, log]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(s3.keys().await.len(), 3, "{:?}", s3.keys().await);

    let served = other.fetch(&format!("/attachments/{log}"), &bob, &[]).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.expect("bytes").len(), large.len());
    let part = other
        .fetch(
            &format!("/attachments/{log}"),
            &bob,
            &[("Range", "bytes=5242880-5242889")],
        )
        .await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("bytes").as_ref(),
        &large[5_242_880..5_242_890]
    );
    let thumbnail = other
        .fetch(&format!("/attachments/{image}/thumbnail"), &bob, &[])
        .await;
    assert_eq!(thumbnail.status(), StatusCode::OK);

    let message = reply.body["id"].as_i64().expect("id");
    let deleted = other
        .call(
            reqwest::Method::DELETE,
            &format!("/messages/{message}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for _ in 0..150 {
        if s3.keys().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s3.keys().await,
        Vec::<String>::new(),
        "the objects are removed"
    );
    assert!(
        first.internal_errors().is_empty(),
        "{:?}",
        first.internal_errors()
    );
}
