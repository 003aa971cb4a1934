/* Webhook POSTs through libcurl's multi interface: every transfer runs at once on one
 * thread, so a slow or silent receiver holds one slot (up to notify_http_timeout_s) and
 * never stalls the other deliveries. */
#ifndef CHAT_NOTIFY_SENDER_H
#define CHAT_NOTIFY_SENDER_H

#include <curl/curl.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"

/* A receiver's answer is read up to this many bytes and the rest refused: only the
 * status matters. */
#define NOTIFY_MAX_RESPONSE_BYTES 65536
/* The last_error of a delivery dropped unsent because its message was deleted. */
#define NOTIFY_MESSAGE_DELETED "message deleted"

struct notify_transfer;

struct notify_sender {
    const struct chat_config *cfg;
    CURLM *multi;
    struct notify_transfer *slots; /* notify_max_in_flight of them */
    int nslots, active;
    long long delivered, retried, dropped; /* since start, for the log */
};

/* Sets up the multi handle and notify_max_in_flight slots. cfg must outlive s. Returns
 * CHAT_OK or CHAT_E_INTERNAL (libcurl failed to initialise). */
int notify_sender_init(struct notify_sender *s, const struct chat_config *cfg);
/* Abandons the transfers still running (their leases expire and they are sent again)
 * and frees everything. */
void notify_sender_free(struct notify_sender *s);

/* Claims due deliveries for the free slots and starts their POSTs. Returns the claim's
 * database error, else CHAT_OK. */
int notify_sender_start(struct notify_sender *s, struct chat_db *db);
/* Runs the transfers for up to timeout_ms (less when one needs attention), then records
 * every finished attempt in the database: delivered on a 2xx answer, else due again
 * after the backoff or, after notify_max_attempts, dropped (logged and counted).
 * Returns how many finished. */
int notify_sender_run(struct notify_sender *s, struct chat_db *db, int timeout_ms);

#endif
