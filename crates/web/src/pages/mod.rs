pub mod account;
pub mod admin;
pub mod auth;
pub mod conversation;
pub mod new_conversation;
pub mod not_found;
