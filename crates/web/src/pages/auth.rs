use leptos::prelude::*;
use natter_domain::ErrorCode;
use natter_domain::api::{LoginRequest, RegisterRequest};

use crate::api::{self, ApiError};
use crate::session::{Session, use_session};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    LogIn,
    Register,
}

/// An error beside the field it concerns, or for the whole form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FormErrors {
    nickname: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

impl FormErrors {
    fn from_api(error: &ApiError) -> Self {
        let message = error.to_string();
        let field = match error.code() {
            Some(ErrorCode::NicknameTaken) => Some("nickname"),
            _ => error.field(),
        };
        match field {
            Some("nickname") => Self {
                nickname: Some(message),
                ..Self::default()
            },
            Some("password") => Self {
                password: Some(message),
                ..Self::default()
            },
            _ => Self {
                form: Some(message),
                ..Self::default()
            },
        }
    }
}

/// The invitation code of an invite link (`/invite/CODE`), if this is one.
fn invite_in(path: &str) -> Option<String> {
    path.strip_prefix("/invite/")
        .map(|code| code.trim_matches('/').to_owned())
        .filter(|code| !code.is_empty())
}

/// Log in or create an account; both sign in at once. An invite link opens the
/// sign-up form with its code filled in.
#[component]
pub fn AuthPage(notice: Option<String>) -> impl IntoView {
    let session = use_session();
    let location = leptos_router::hooks::use_location();
    let invited = invite_in(&location.pathname.get_untracked());
    let mode = RwSignal::new(if invited.is_some() {
        Mode::Register
    } else {
        Mode::LogIn
    });
    let invite_code = RwSignal::new(invited.unwrap_or_default());
    let navigate = leptos_router::hooks::use_navigate();
    let nickname = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::default());

    let submit = Action::new_local(move |(): &()| {
        let (nickname, password, mode) = (nickname.get(), password.get(), mode.get());
        let invite_code = Some(invite_code.get().trim().to_owned()).filter(|c| !c.is_empty());
        let navigate = navigate.clone();
        async move {
            let answer = match mode {
                Mode::Register => {
                    let request = RegisterRequest {
                        nickname,
                        password,
                        invite_code,
                    };
                    if let Err(error) = request.validate() {
                        let message = api::sentence(&error.to_string());
                        errors.set(match error.field.as_ref() {
                            "nickname" => FormErrors {
                                nickname: Some(message),
                                ..FormErrors::default()
                            },
                            _ => FormErrors {
                                password: Some(message),
                                ..FormErrors::default()
                            },
                        });
                        return;
                    }
                    api::register(&request).await
                }
                Mode::LogIn => {
                    if nickname.trim().is_empty() || password.is_empty() {
                        errors.set(FormErrors {
                            form: Some("Enter your nickname and password.".to_owned()),
                            ..FormErrors::default()
                        });
                        return;
                    }
                    api::login(&LoginRequest { nickname, password }).await
                }
            };
            match answer {
                Ok(auth) => {
                    // Off the invite link: the messenger has no page there.
                    if invite_in(&location.pathname.get_untracked()).is_some() {
                        navigate(
                            "/",
                            leptos_router::NavigateOptions {
                                replace: true,
                                ..Default::default()
                            },
                        );
                    }
                    session.set(Session::SignedIn(auth.user));
                }
                Err(error) => errors.set(FormErrors::from_api(&error)),
            }
        }
    });
    let pending = submit.pending();

    let switch = move |to: Mode| {
        mode.set(to);
        errors.set(FormErrors::default());
    };
    let title = move || match mode.get() {
        Mode::LogIn => "Log in",
        Mode::Register => "Create an account",
    };

    view! {
        <section class="auth">
            <h1>"Welcome to Natter"</h1>
            <p class="lead">"Conversations, reactions and read receipts, live in every tab."</p>
            {notice.map(|n| view! { <p class="notice" role="alert" data-testid="auth-notice">{n}</p> })}
            <div class="tabs" role="tablist">
                <button
                    type="button"
                    role="tab"
                    aria-selected=move || (mode.get() == Mode::LogIn).to_string()
                    on:click=move |_| switch(Mode::LogIn)
                >
                    "Log in"
                </button>
                <button
                    type="button"
                    role="tab"
                    data-testid="show-register"
                    aria-selected=move || (mode.get() == Mode::Register).to_string()
                    on:click=move |_| switch(Mode::Register)
                >
                    "Create an account"
                </button>
            </div>
            <form
                class="card"
                aria-label=title
                novalidate
                on:submit=move |ev| {
                    ev.prevent_default();
                    submit.dispatch(());
                }
            >
                <label for="nickname">"Nickname"</label>
                <input
                    id="nickname"
                    name="nickname"
                    autocomplete="username"
                    required
                    prop:value=nickname
                    on:input=move |ev| nickname.set(event_target_value(&ev))
                    aria-invalid=move || errors.with(|e| e.nickname.is_some()).to_string()
                    aria-describedby="nickname-error"
                />
                <p class="field-error" id="nickname-error" data-testid="nickname-error">
                    {move || errors.with(|e| e.nickname.clone())}
                </p>
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    required
                    autocomplete=move || match mode.get() {
                        Mode::LogIn => "current-password",
                        Mode::Register => "new-password",
                    }
                    prop:value=password
                    on:input=move |ev| password.set(event_target_value(&ev))
                    aria-invalid=move || errors.with(|e| e.password.is_some()).to_string()
                    aria-describedby="password-error"
                />
                <p class="field-error" id="password-error" data-testid="password-error">
                    {move || errors.with(|e| e.password.clone())}
                </p>
                <Show when=move || mode.get() == Mode::Register>
                    <label for="invite-code">"Invitation code (if you were sent one)"</label>
                    <input
                        id="invite-code"
                        name="invite_code"
                        autocomplete="off"
                        data-testid="invite-code"
                        prop:value=invite_code
                        on:input=move |ev| invite_code.set(event_target_value(&ev))
                    />
                </Show>
                <p class="form-error" role="alert" data-testid="form-error">
                    {move || errors.with(|e| e.form.clone())}
                </p>
                <button type="submit" class="primary" data-testid="auth-submit" disabled=pending>
                    {title}
                </button>
            </form>
        </section>
    }
}
