/* The per-thread application state, struct chat_app (http.h): one per FastCGI worker
 * process or per chat-httpd thread, holding its MariaDB connection and the socket that
 * wakes the push daemons. */
#ifndef CHAT_APP_STATE_H
#define CHAT_APP_STATE_H

#include "http.h"

/* Prepares app for one thread. The database connection is opened lazily and reopened
 * after a failure, so a MariaDB outage gives 503s rather than a dead worker. */
void chat_app_init(struct chat_app *app, const struct chat_config *cfg);
void chat_app_free(struct chat_app *app);

/* After a commit that wrote events: wakes the push daemons. */
void chat_app_wake_push(struct chat_app *app);

/* After this process ended sessions of user_id (logout, password change, deactivation,
 * deletion), or changed what they carry (the language setting): its session cache
 * forgets them at once. Other processes' entries expire within session_cache_ms. */
void chat_app_sessions_ended(struct chat_app *app, long long user_id);

#endif
