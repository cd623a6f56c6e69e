//! The authorization matrix: every route of the OpenAPI document, called by the owner,
//! a member who is not the owner, a member who was removed, and a stranger. The route
//! list comes from the served document, so a route added later without a row here
//! fails this test.

use std::collections::BTreeSet;

use natter_tests::api::Person;
use natter_tests::{SpawnOptions, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Owner,
    Member,
    Removed,
    Stranger,
}

/// Who may call a route that names a conversation or a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Any member.
    Members,
    /// Only the owner; other members get 403.
    Owner,
    /// Only the owner (of the conversation, and here the message's author too); other
    /// members get 404, as if it did not exist.
    OwnerElseHidden,
}

struct Scoped {
    method: Method,
    path: &'static str,
    access: Access,
    body: fn(&World) -> Option<Value>,
}

/// Everything a scoped call needs: a conversation owned by `owner` with `member`,
/// `removed` (added, then removed) and `other` (a member the calls act upon), one
/// message by the owner, and `outsider`, who is registered but in no conversation.
struct World {
    conversation: i64,
    message: i64,
    other: Person,
    outsider: Person,
}

#[allow(clippy::too_many_lines)] // the table of routes, a row each
fn scoped_routes() -> Vec<Scoped> {
    use Access::{Members, Owner, OwnerElseHidden};
    let none: fn(&World) -> Option<Value> = |_| None;
    vec![
        Scoped {
            method: Method::GET,
            path: "/conversations/{id}",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::GET,
            path: "/conversations/{id}/export",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::PATCH,
            path: "/conversations/{id}",
            access: Owner,
            body: |_| Some(json!({"title": "Renamed"})),
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/close",
            access: Owner,
            body: none,
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/members",
            access: Owner,
            body: |w| Some(json!({"user_id": w.outsider.id})),
        },
        Scoped {
            method: Method::DELETE,
            path: "/conversations/{id}/members/{user_id}",
            access: Owner,
            body: none,
        },
        Scoped {
            method: Method::PUT,
            path: "/conversations/{id}/owner",
            access: Owner,
            body: |w| Some(json!({"user_id": w.other.id})),
        },
        Scoped {
            method: Method::GET,
            path: "/conversations/{id}/messages",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/messages",
            access: Members,
            body: |_| Some(json!({"content": "hello"})),
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/seen",
            access: Members,
            body: |w| Some(json!({"up_to_message_id": w.message})),
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/unread",
            access: Members,
            body: |w| Some(json!({"from_message_id": w.message})),
        },
        Scoped {
            method: Method::POST,
            path: "/conversations/{id}/typing",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::PUT,
            path: "/conversations/{id}/notifications",
            access: Members,
            body: |_| Some(json!({"level": "mentions"})),
        },
        Scoped {
            method: Method::PATCH,
            path: "/messages/{id}",
            access: Owner,
            body: |_| Some(json!({"content": "edited", "expected_version": 1})),
        },
        Scoped {
            method: Method::DELETE,
            path: "/messages/{id}",
            access: Owner,
            body: none,
        },
        Scoped {
            method: Method::GET,
            path: "/messages/{id}/edits",
            access: OwnerElseHidden,
            body: none,
        },
        Scoped {
            method: Method::GET,
            path: "/messages/{id}/seen",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::PUT,
            path: "/messages/{id}/reactions/{emoji_key}",
            access: Members,
            body: none,
        },
        Scoped {
            method: Method::DELETE,
            path: "/messages/{id}/reactions/{emoji_key}",
            access: Members,
            body: none,
        },
    ]
}

/// Routes that name no conversation: who may call them.
const UNSCOPED: &[(&str, &str, bool)] = &[
    // (method, path, needs a login)
    ("GET", "/health", false),
    ("GET", "/openapi.json", false),
    ("POST", "/users", false),
    ("GET", "/users", true),
    ("POST", "/sessions", false),
    ("DELETE", "/sessions/current", true),
    ("GET", "/sessions", true),
    ("DELETE", "/sessions", true),
    ("DELETE", "/sessions/{id}", true),
    ("GET", "/me", true),
    ("PATCH", "/me/settings", true),
    ("GET", "/presence", true),
    ("GET", "/push/key", true),
    ("POST", "/push/subscriptions", true),
    ("DELETE", "/push/subscriptions", true),
    ("PUT", "/me/password", true),
    ("DELETE", "/me", true),
    ("POST", "/password-resets", false),
    // Admins only: the 403 for everyone else is in tests/suite/admin.rs.
    ("GET", "/invites", true),
    ("POST", "/invites", true),
    ("DELETE", "/invites/{code}", true),
    ("GET", "/admin/users", true),
    ("POST", "/admin/users/{id}/disable", true),
    ("POST", "/admin/users/{id}/enable", true),
    ("GET", "/emojis", true),
    // Its conversation_id is optional; a conversation not mine is 404 (search.rs).
    ("GET", "/search", true),
    ("GET", "/conversations", true),
    ("POST", "/conversations", true),
    ("GET", "/events", true),
    // A file is served to the members of its message's conversation only, and to its
    // uploader before it is attached: tests/suite/files.rs.
    ("POST", "/uploads", true),
    ("GET", "/attachments/{id}", true),
    ("GET", "/attachments/{id}/thumbnail", true),
];

async fn documented_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let document: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

async fn world(app: &TestApp, people: &[Person; 5]) -> World {
    let [owner, member, removed, other, outsider] = people;
    let conversation = app
        .conversation(owner, "Matrix", &[member, removed, other])
        .await;
    let gone = app
        .call(
            Method::DELETE,
            &format!("/conversations/{conversation}/members/{}", removed.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let message = app.send(conversation, owner, "first").await;
    World {
        conversation,
        message,
        other: other.clone(),
        outsider: outsider.clone(),
    }
}

#[tokio::test]
async fn every_route_is_in_the_matrix() {
    let app = TestApp::spawn().await;
    let documented = documented_routes(&app).await;
    let mut known: BTreeSet<(String, String)> = scoped_routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    known.extend(
        UNSCOPED
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())),
    );
    let missing: Vec<_> = documented.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
    let stale: Vec<_> = known.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist: {stale:?}"
    );
}

#[tokio::test]
async fn unscoped_routes_need_a_login_where_they_say() {
    let app = TestApp::spawn().await;
    for (method, path, needs_login) in UNSCOPED {
        let method: Method = method.parse().expect("method");
        let reply = app.call(method.clone(), path, None, Some(&json!({}))).await;
        if *needs_login {
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
            assert_eq!(reply.code(), "unauthenticated", "{method} {path}");
        } else {
            assert_ne!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} is public"
            );
        }
    }
}

#[tokio::test]
async fn scoped_routes_answer_each_actor() {
    // A conversation per call, more than a person may start in an hour by default.
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[(
        "NATTER_RATE_CONVERSATIONS",
        "1000/h",
    )]))
    .await;
    let people = [
        app.register("owner").await,
        app.register("member").await,
        app.register("removed").await,
        app.register("other").await,
        app.register("outsider").await,
    ];
    let stranger = app.register("stranger").await;
    let mut cases = 0;
    for route in scoped_routes() {
        for actor in [Actor::Owner, Actor::Member, Actor::Removed, Actor::Stranger] {
            // A fresh conversation for every call: some calls change it for good.
            let world = world(&app, &people).await;
            let caller = match actor {
                Actor::Owner => &people[0],
                Actor::Member => &people[1],
                Actor::Removed => &people[2],
                Actor::Stranger => &stranger,
            };
            let id = if route.path.starts_with("/messages") {
                world.message
            } else {
                world.conversation
            };
            let path = route
                .path
                .replace("{id}", &id.to_string())
                .replace("{user_id}", &world.other.id.to_string())
                .replace("{emoji_key}", "thumbs_up");
            let body = (route.body)(&world);
            let reply = app
                .call(
                    route.method.clone(),
                    &path,
                    Some(&caller.token),
                    body.as_ref(),
                )
                .await;
            let expected = match (actor, route.access) {
                (Actor::Removed | Actor::Stranger, _)
                | (Actor::Member, Access::OwnerElseHidden) => Some(StatusCode::NOT_FOUND),
                (Actor::Member, Access::Owner) => Some(StatusCode::FORBIDDEN),
                _ => None,
            };
            match expected {
                Some(status) => {
                    assert_eq!(
                        reply.status, status,
                        "{actor:?} {} {}: {:?}",
                        route.method, route.path, reply.body
                    );
                    let code = if status == StatusCode::NOT_FOUND {
                        "not_found"
                    } else {
                        "forbidden"
                    };
                    assert_eq!(
                        reply.code(),
                        code,
                        "{actor:?} {} {}",
                        route.method,
                        route.path
                    );
                }
                None => assert!(
                    reply.status.is_success(),
                    "{actor:?} {} {} should succeed: {} {:?}",
                    route.method,
                    route.path,
                    reply.status,
                    reply.body
                ),
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 19 * 4);
}
