pub mod connection_status;
pub mod conversation_list;
pub mod icons;
pub mod members_panel;
pub mod message_item;
pub mod message_search;
pub mod server_status;
pub mod user_search;
