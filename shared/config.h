/* Configuration: one table of settings (name, type, default, bounds, help). Values come
 * from the defaults, then the config file (`name = value` lines), then environment
 * variables named CHAT_<NAME in upper case>, e.g. CHAT_DB_HOST. The example config file
 * and every program's --help are generated from the same table. */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct chat_config {
    /* Network */
    char *listen_host;
    int http_port;
    int push_port;
    char *push_public_url;
    char *allowed_origins;
    char *push_wake_sockets;
    char *push_wake_bind;
    char *push_wake_secret_file;
    char *push_wake_allowed_users;
    int push_poll_interval_ms;
    int push_gap_timeout_ms;
    int push_max_queue_bytes;
    int push_max_frame_bytes;
    int push_ping_interval_s;
    int push_resume_max_events;
    int push_rx_buffer_bytes;
    int push_max_connections_per_user;
    int push_client_frames_per_s;
    int push_client_frame_burst;
    int push_presence_offline_delay_ms;
    int presence_max_group_size;
    char *push_metrics_allow;
    char *fcgi_socket;
    char *fcgi_socket_group;   /* empty: the process's group */
    int fcgi_workers;
    int httpd_threads;
    int httpd_max_connections;
    int httpd_max_connections_per_ip;
    int httpd_head_timeout_s;
    char *trusted_proxies;     /* space-separated addresses/CIDRs whose X-Forwarded-For counts */
    /* Database */
    char *db_host;
    int db_port;
    char *db_socket;
    char *db_user;
    char *db_password;
    char *db_migrate_user;     /* empty: db_user */
    char *db_migrate_password; /* used with db_migrate_user */
    char *db_name;
    int db_timeout_s;
    int db_wsrep_sync_wait;
    /* Files */
    char *static_dir;
    char *templates_dir;
    char *i18n_dir;
    char *sql_dir;
    /* Behaviour and limits */
    bool registration_enabled;
    int session_ttl_hours;
    bool cookie_secure;
    int max_body_bytes;
    int session_cache_ms;
    int rate_lease_max;
    int group_max_participants;
    int max_message_chars;
    int password_memlimit_kib;
    int password_opslimit;
    int event_retention_hours;
    int audit_retention_days;
    int retention_interval_s;
    char *log_level;
    /* Attachments */
    char *data_dir;
    int attachment_max_bytes;
    int avatar_max_bytes;
    char *attachment_types;
    /* Rate limits: a token bucket per route class and user (client address for auth) */
    bool rate_limit_enabled;
    int rate_auth_per_minute;
    int rate_auth_burst;
    int rate_login_per_user_per_minute;
    int rate_login_per_user_burst;
    int rate_read_per_minute;
    int rate_read_burst;
    int rate_write_per_minute;
    int rate_write_burst;
    int rate_upload_per_minute;
    int rate_upload_burst;
    int rate_conversations_per_hour;
    int rate_invitations_per_hour;
    /* Notifications and bots (chat-notify) */
    int notify_offline_delay_s;
    int notify_poll_interval_ms;
    int notify_http_timeout_s;
    int notify_max_attempts;
    int notify_retry_base_ms;
    int notify_retry_max_s;
    int notify_max_in_flight;
    int notify_preview_chars;
    char *notify_ca_file;
};

enum chat_setting_type { CHAT_SETTING_INT, CHAT_SETTING_STR, CHAT_SETTING_BOOL };

struct chat_setting {
    const char *name;
    enum chat_setting_type type;
    unsigned offset;
    const char *default_value;
    long min, max; /* for CHAT_SETTING_INT */
    const char *help;
};

extern const struct chat_setting chat_settings[];
extern const unsigned chat_settings_count;

/* The config file used when neither --config nor CHAT_CONFIG names one. */
#define CHAT_CONFIG_DEFAULT_PATH "etc/chat.conf"

/* The largest group_max_participants allowed, so a request's participant list has a
 * bound before the setting is consulted. */
#define CHAT_GROUP_PARTICIPANTS_CEILING 100000

/* Loads defaults, then `path` (or CHAT_CONFIG, or the default path when both are NULL),
 * then the environment. A missing file is an error only when it was named explicitly.
 * Returns 0, or -1 with a message in err. On success the caller owns cfg's strings and
 * frees them with chat_config_free(). */
int chat_config_load(struct chat_config *cfg, const char *path, char *err, size_t errlen);
void chat_config_free(struct chat_config *cfg);

/* Sets one setting from its text form, checking type and bounds. Returns 0 or -1 with
 * a message in err. */
int chat_config_set(struct chat_config *cfg, const char *name, const char *value, char *err,
                    size_t errlen);

/* Writes an example config file with every setting, its help and its default. */
void chat_config_write_example(FILE *out);
/* Writes the settings and their environment variables, for --help. */
void chat_config_write_help(FILE *out);

#endif
