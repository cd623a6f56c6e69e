DROP TABLE auth_login_failures;
DROP TABLE auth_sessions;
DROP TABLE auth_users;
