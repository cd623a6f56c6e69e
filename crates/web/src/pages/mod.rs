pub mod account;
pub mod auth;
pub mod conversation;
pub mod new_conversation;
pub mod not_found;
