// @generated automatically by Diesel CLI.

diesel::table! {
    auth_invites (code) {
        code -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        uses_left -> Int8,
    }
}

diesel::table! {
    auth_password_resets (user_id) {
        user_id -> Int8,
        code_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Int8,
        user_id -> Int8,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    auth_sign_in_throttle (key) {
        key -> Text,
        failures -> Int8,
        last_attempt_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    auth_users (id) {
        id -> Int8,
        nickname -> Text,
        nickname_key -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        nickname_skeleton -> Nullable<Text>,
        admin -> Bool,
        disabled_at -> Nullable<Timestamp>,
        last_active_at -> Nullable<Timestamp>,
        share_read_receipts -> Bool,
        share_presence -> Bool,
    }
}

diesel::table! {
    chat_attachments (id) {
        id -> Int8,
        uploader_id -> Nullable<Int8>,
        message_id -> Nullable<Int8>,
        position -> Int4,
        filename -> Text,
        content_type -> Text,
        size -> Int8,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        thumbnail_type -> Nullable<Text>,
        storage_key -> Text,
        created_at -> Timestamp,
        stored_at -> Nullable<Timestamp>,
        discarded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    chat_conversation_members (conversation_id, user_id) {
        conversation_id -> Int8,
        user_id -> Int8,
        owner -> Bool,
        joined_at -> Timestamp,
        last_seen_message_id -> Nullable<Int8>,
        joined_seq -> Int8,
        notification_level -> Nullable<Text>,
    }
}

diesel::table! {
    chat_conversations (id) {
        id -> Int8,
        title -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_activity_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        last_event_seq -> Int8,
    }
}

diesel::table! {
    chat_emojis (id) {
        id -> Int8,
        key -> Text,
        unicode -> Text,
    }
}

diesel::table! {
    chat_events (id) {
        id -> Int8,
        conversation_id -> Int8,
        seq -> Int8,
        kind -> Text,
        subject_user_id -> Nullable<Int8>,
        payload -> Text,
        created_at -> Timestamp,
        txid -> Int8,
        position -> Nullable<Int8>,
        message_id -> Nullable<Int8>,
    }
}

diesel::table! {
    chat_mentions (user_id, conversation_id, message_id) {
        user_id -> Int8,
        conversation_id -> Int8,
        message_id -> Int8,
    }
}

diesel::table! {
    chat_message_edits (message_id, version) {
        message_id -> Int8,
        version -> Int8,
        content -> Text,
        written_at -> Timestamp,
        replaced_at -> Timestamp,
    }
}

diesel::table! {
    chat_message_reactions (id) {
        id -> Int8,
        conversation_id -> Int8,
        message_id -> Int8,
        user_id -> Int8,
        emoji_id -> Int8,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> Int8,
        conversation_id -> Int8,
        sender_id -> Nullable<Int8>,
        content -> Text,
        client_id -> Nullable<Text>,
        created_at -> Timestamp,
        version -> Int8,
        edited_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        reply_to_id -> Nullable<Int8>,
    }
}

diesel::table! {
    chat_presence (user_id) {
        user_id -> Int8,
        presence -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    chat_presence_streams (user_id, node_id) {
        user_id -> Int8,
        node_id -> Text,
        active_at -> Timestamp,
    }
}

diesel::table! {
    chat_seen_messages (id) {
        id -> Int8,
        conversation_id -> Int8,
        user_id -> Int8,
        up_to_message_id -> Int8,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    natter_nodes (id) {
        id -> Text,
        alive_at -> Timestamp,
    }
}

diesel::table! {
    natter_settings (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    push_outbox (id) {
        id -> Int8,
        subscription_id -> Int8,
        payload -> Text,
        urgency -> Text,
        attempts -> Int4,
        due_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    push_subscriptions (id) {
        id -> Int8,
        user_id -> Int8,
        endpoint -> Text,
        p256dh -> Text,
        auth -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(auth_invites -> auth_users (created_by));
diesel::joinable!(auth_password_resets -> auth_users (user_id));
diesel::joinable!(auth_sessions -> auth_users (user_id));
diesel::joinable!(chat_attachments -> auth_users (uploader_id));
diesel::joinable!(chat_attachments -> chat_messages (message_id));
diesel::joinable!(chat_conversation_members -> auth_users (user_id));
diesel::joinable!(chat_conversation_members -> chat_conversations (conversation_id));
diesel::joinable!(chat_conversations -> auth_users (created_by));
diesel::joinable!(chat_events -> auth_users (subject_user_id));
diesel::joinable!(chat_events -> chat_conversations (conversation_id));
diesel::joinable!(chat_mentions -> auth_users (user_id));
diesel::joinable!(chat_mentions -> chat_conversations (conversation_id));
diesel::joinable!(chat_mentions -> chat_messages (message_id));
diesel::joinable!(chat_message_edits -> chat_messages (message_id));
diesel::joinable!(chat_message_reactions -> auth_users (user_id));
diesel::joinable!(chat_message_reactions -> chat_emojis (emoji_id));
diesel::joinable!(chat_messages -> auth_users (sender_id));
diesel::joinable!(chat_messages -> chat_conversations (conversation_id));
diesel::joinable!(chat_presence -> auth_users (user_id));
diesel::joinable!(chat_presence_streams -> auth_users (user_id));
diesel::joinable!(chat_presence_streams -> natter_nodes (node_id));
diesel::joinable!(chat_seen_messages -> auth_users (user_id));
diesel::joinable!(push_outbox -> push_subscriptions (subscription_id));
diesel::joinable!(push_subscriptions -> auth_users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    auth_invites,
    auth_password_resets,
    auth_sessions,
    auth_sign_in_throttle,
    auth_users,
    chat_attachments,
    chat_conversation_members,
    chat_conversations,
    chat_emojis,
    chat_events,
    chat_mentions,
    chat_message_edits,
    chat_message_reactions,
    chat_messages,
    chat_presence,
    chat_presence_streams,
    chat_seen_messages,
    natter_nodes,
    natter_settings,
    push_outbox,
    push_subscriptions,
);
