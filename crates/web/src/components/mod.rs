pub mod server_status;
