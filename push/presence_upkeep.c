/* Presence upkeep, on the DB worker thread: the heartbeat that keeps this daemon's
 * connections counting, and the offline sweep (any daemon may run it). */
#include "presence_upkeep.h"

#include "errors.h"
#include "event_tail.h"
#include "log.h"
#include "store.h"

/* Presence upkeep: the heartbeat that keeps this daemon's connections counting, and the
 * sweep that takes users offline once the delay has passed (any daemon may do it). */
void push_presence_upkeep(struct push_worker *w, long long now)
{
    int rc = CHAT_OK;
    if (now >= w->next_heartbeat_ms) {
        rc = chat_presence_heartbeat(&w->db, w->daemon_id);
        w->next_heartbeat_ms = now + HEARTBEAT_MS;
    }
    if (rc == CHAT_OK && now >= w->next_sweep_ms) {
        int announced = 0;
        rc = chat_presence_sweep(&w->db, w->cfg->push_presence_offline_delay_ms,
                                 HEARTBEAT_STALE_MS, &announced);
        w->wrote_events |= announced > 0;
        int every = w->cfg->push_presence_offline_delay_ms / 4;
        w->next_sweep_ms = now + (every < 250 ? 250 : every > HEARTBEAT_MS ? HEARTBEAT_MS : every);
    }
    if (rc == CHAT_E_DB)
        push_worker_disconnect(w, "presence upkeep failed");
    else if (rc != CHAT_OK)
        log_warn("presence upkeep: %s", chat_err_code(rc));
}
