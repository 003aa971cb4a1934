/* One event of the log as the push daemon carries it: built by the DB worker from an
 * `events` row (its frame serialized once), handed to the lws thread in a result, and
 * fanned out by push/fanout.c. Kept apart from db_worker.h so the fan-out needs no
 * worker types. */
#ifndef CHAT_PUSH_EVENT_H
#define CHAT_PUSH_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"

/* How an event changes who receives what (decided on the worker from its payload). */
enum push_event_kind {
    PUSH_EVENT_PLAIN,               /* deliver to the conversation's subscribers */
    PUSH_EVENT_CONV_CREATED,        /* subscribe users[] first, then deliver */
    PUSH_EVENT_PARTICIPANT_ADDED,   /* subscribe users[0] first, then deliver */
    PUSH_EVENT_PARTICIPANT_REMOVED, /* deliver (to users[0] too), then unsubscribe users[0] */
    PUSH_EVENT_USERS,               /* no conversation: deliver to users[] */
    PUSH_EVENT_PRESENCE,            /* worker only: users[0] is the subject; becomes USERS
                                     * addressed to those sharing a conversation */
    PUSH_EVENT_USER_UPDATED,        /* worker only: users[0] is the subject; becomes USERS
                                     * addressed to the subject and everyone sharing any
                                     * conversation with them */
    PUSH_EVENT_REVOKE,              /* session.revoked: delivered to nobody; ends the
                                     * connections of users[0] that authenticated with one of
                                     * sessions[] (all of them when nsessions is 0) */
    PUSH_EVENT_BLOCK,               /* block.changed: delivered to users[0] (the blocker);
                                     * first the typing filter of both users' connections
                                     * learns that block_user is (un)blocked */
};

struct push_event {
    long long id;
    long long conversation_id; /* 0 when the row has none */
    long long created_us;      /* events.created_at in Unix microseconds (live events) */
    enum push_event_kind kind;
    long long *users;  /* owned */
    size_t nusers;
    long long *sessions; /* REVOKE: owned */
    size_t nsessions;
    long long block_user; /* BLOCK: the user users[0] blocked or unblocked */
    bool blocked;         /* BLOCK: whether either of the two still blocks the other
                           * (the event's "blocked", and after an unblock the worker's
                           * look-up of a block the other way) */
    struct push_frame *frame; /* one reference owned */
};

/* Frees the event's users and drops its frame reference; e is zeroed. */
void push_event_clear(struct push_event *e);

#endif
