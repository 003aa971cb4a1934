/* The life cycle of struct chat_app, the state one worker process or thread keeps across
 * requests: its lazily opened MariaDB connection and the datagram socket that wakes the
 * push daemons after a commit. */
#include "app_state.h"

#include <string.h>
#include <unistd.h>

#include "wake.h"

void chat_app_init(struct chat_app *app, const struct chat_config *cfg)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->wake_fd = chat_wake_open();
}

void chat_app_free(struct chat_app *app)
{
    if (app->db_open)
        chat_db_close(&app->db);
    app->db_open = false;
    if (app->wake_fd >= 0)
        close(app->wake_fd);
    app->wake_fd = -1;
}

void chat_app_wake_push(struct chat_app *app)
{
    chat_wake_push_daemons(app->wake_fd, app->cfg);
}

void chat_app_sessions_ended(struct chat_app *app, long long user_id)
{
    chat_session_cache_forget_user(&app->sessions, user_id);
}
