/* The DB worker's thread and its queues: jobs in (an eventfd wakes the thread), results
 * out (lws_cancel_service wakes the loop), the wake-up socket drained, and each round's
 * order (jobs, presence upkeep, waking the other daemons, a tail round). What a round
 * does lives in jobs.c, presence_upkeep.c and event_tail.c. */
#include "db_worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "event_tail.h"
#include "job_batch.h"
#include "jobs.h"
#include "log.h"
#include "presence_upkeep.h"
#include "retention.h"
#include "store.h"
#include "typing_wire.h"
#include "wake.h"
#include "worker_internal.h"
#include "xalloc.h"

/* The loop's clock: the worker wakes the lws thread at least this often, whatever
 * push_poll_interval_ms is (auth deadlines, typing expiry, long-poll timeouts). */
#define CLOCK_TICK_MS 500

void push_job_free(struct push_job *job)
{
    if (!job)
        return;
    if (job->token) {
        memset(job->token, 0, strlen(job->token));
        free(job->token);
    }
    free(job->text);
    free(job->client_msg_id);
    free(job->attachment_ids);
    free(job);
}

void push_result_free(struct push_result *r)
{
    if (!r)
        return;
    push_frame_unref(r->hello);
    push_frame_unref(r->body);
    free(r->user_json);
    free(r->client_msg_id);
    free(r->conv_ids);
    free(r->block_peers);
    for (size_t i = 0; i < r->nevents; i++)
        push_event_clear(&r->events[i]);
    free(r->events);
    free(r);
}

static void notify_loop(struct push_worker *w)
{
    long long expected = 0;
    atomic_compare_exchange_strong(&w->notified_ms, &expected, chat_now_ms());
    w->notify(w->notify_arg);
}

static void post_result(struct push_worker *w, struct push_result *r)
{
    pthread_mutex_lock(&w->lock);
    r->next = NULL;
    *w->results_tail = r;
    w->results_tail = &r->next;
    pthread_mutex_unlock(&w->lock);
    notify_loop(w);
}

/* ---- the round's jobs ---- */

/* Jobs of one round waiting for a batch: auth, resume, or presence changes. */
struct job_batch {
    struct push_job *jobs[PUSH_RESUME_BATCH]; /* the largest batch */
    size_t n, max;
};

static void count_done(struct push_worker *w, unsigned long long n)
{
    pthread_mutex_lock(&w->lock);
    w->stats.jobs_done += n;
    pthread_mutex_unlock(&w->lock);
}

static void flush_batch(struct push_worker *w, struct job_batch *b, enum push_job_kind kind)
{
    struct push_result *results[PUSH_RESUME_BATCH];
    if (b->n == 0)
        return;
    if (kind == PUSH_JOB_AUTH || kind == PUSH_JOB_RESUME) {
        if (kind == PUSH_JOB_AUTH)
            push_run_auth_batch(w, b->jobs, b->n, results);
        else
            push_run_resume_batch(w, b->jobs, b->n, results);
        count_done(w, b->n);
        for (size_t i = 0; i < b->n; i++)
            post_result(w, results[i]);
    } else {
        push_run_presence_batch(w, b->jobs, b->n);
    }
    for (size_t i = 0; i < b->n; i++)
        push_job_free(b->jobs[i]);
    b->n = 0;
}

/* Runs a round's jobs (taking them). Auth, resume and presence jobs go in batches
 * (job_batch.c), each answered with a few statements; every other job runs on its own,
 * in the order it came. Nothing depends on the order between them: a connection's
 * resume and later jobs are only submitted once the loop has its auth result, a
 * connection has one resume at a time, and each batch keeps its own jobs in order. */
static void run_jobs(struct push_worker *w, struct push_job *jobs)
{
    struct job_batch auth = {.max = CHAT_DB_BATCH}, resume = {.max = PUSH_RESUME_BATCH},
                     presence = {.max = CHAT_DB_BATCH};
    while (jobs) {
        struct push_job *job = jobs;
        jobs = job->next;
        struct job_batch *b = job->kind == PUSH_JOB_AUTH       ? &auth
                              : job->kind == PUSH_JOB_RESUME   ? &resume
                              : job->kind == PUSH_JOB_PRESENCE ? &presence
                                                               : NULL;
        if (b) {
            b->jobs[b->n++] = job;
            if (b->n == b->max)
                flush_batch(w, b, job->kind);
            continue;
        }
        struct push_result *res = push_job_run(w, job);
        if (res) {
            count_done(w, 1);
            post_result(w, res);
        }
        push_job_free(job);
    }
    flush_batch(w, &auth, PUSH_JOB_AUTH);
    flush_batch(w, &resume, PUSH_JOB_RESUME);
    flush_batch(w, &presence, PUSH_JOB_PRESENCE);
}

/* ---- the thread ---- */

/* Whether the sender of a datagram may talk to us: on a UNIX socket its uid (the kernel
 * attaches SCM_CREDENTIALS, SO_PASSCRED being set) must be ours, root's or an allowed one;
 * on UDP the datagram must be sealed with the shared key and recent. On success *msg and
 * *len are the message itself. Returns PUSH_WAKE_REJECT_COUNT when it is accepted. */
static enum push_wake_reject check_sender(const struct push_wake_policy *p, struct msghdr *mh,
                                          const unsigned char *buf, size_t n,
                                          const unsigned char **msg, size_t *len)
{
    if (mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return PUSH_WAKE_REJECT_MALFORMED;
    if (p->udp) {
        switch (chat_wake_unseal(p->key, buf, n, chat_wake_now_ms(), msg, len)) {
        case CHAT_WAKE_OPEN_OK:
            return PUSH_WAKE_REJECT_COUNT;
        case CHAT_WAKE_OPEN_STALE:
            return PUSH_WAKE_REJECT_STALE;
        default:
            return PUSH_WAKE_REJECT_MAC;
        }
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS)
            continue;
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        bool ok = cred.uid == geteuid() || cred.uid == 0;
        for (size_t i = 0; !ok && i < p->nuids; i++)
            ok = cred.uid == p->uids[i];
        *msg = buf;
        *len = n;
        return ok ? PUSH_WAKE_REJECT_COUNT : PUSH_WAKE_REJECT_UID;
    }
    return PUSH_WAKE_REJECT_UID;
}

static void count_reject(struct push_worker *w, enum push_wake_reject why)
{
    static const char *const reasons[] = {"sender's uid", "MAC", "timestamp", "content"};
    log_debug("wake-up datagram dropped: %s", reasons[why]);
    pthread_mutex_lock(&w->lock);
    w->stats.wake_rejected[why]++;
    pthread_mutex_unlock(&w->lock);
}

/* Reads every pending datagram of the wake-up socket. A datagram from a sender the
 * policy refuses is dropped and counted. A plain wake-up needs nothing more (the round
 * that follows tails the log); a typing relay from another daemon (typing_wire.h) is
 * rebuilt from its fields and goes to the loop for its local subscribers. */
static void drain(struct push_worker *w)
{
    unsigned char buf[PUSH_PEER_TYPING_MAX + CHAT_WAKE_SEAL_BYTES];
    char text[PUSH_PEER_TYPING_MAX + 1], frame[PUSH_PEER_TYPING_MAX];
    union {
        struct cmsghdr align;
        char data[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    for (;;) {
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.data,
                            .msg_controllen = sizeof(control.data)};
        ssize_t n = recvmsg(w->wake_fd, &mh, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: drained */
        const unsigned char *msg;
        size_t len;
        enum push_wake_reject why = check_sender(&w->wake_policy, &mh, buf, (size_t)n, &msg, &len);
        if (why == PUSH_WAKE_REJECT_COUNT && len > PUSH_PEER_TYPING_MAX)
            why = PUSH_WAKE_REJECT_MALFORMED;
        if (why != PUSH_WAKE_REJECT_COUNT) {
            count_reject(w, why);
            continue;
        }
        if (len == 0 || msg[0] != 'T')
            continue; /* a plain wake-up */
        memcpy(text, msg, len);
        text[len] = '\0';
        struct push_typing_wire relay;
        int flen = -1;
        if (push_typing_wire_decode(text, len, &relay))
            flen = push_typing_wire_rebuild(&relay, frame, sizeof(frame));
        if (flen < 0) {
            count_reject(w, PUSH_WAKE_REJECT_MALFORMED);
            continue;
        }
        struct push_result *res = chat_xcalloc(1, sizeof(*res));
        res->kind = PUSH_RESULT_TYPING;
        res->conversation_id = relay.conversation_id;
        res->user_id = relay.user_id;
        res->body = push_frame_new(frame, (size_t)flen, 0);
        log_debug("typing relay for conversation %lld from another daemon", relay.conversation_id);
        post_result(w, res);
    }
}

static void *worker_main(void *arg)
{
    struct push_worker *w = arg;
    bool more = false;
    long long next_tail_ms = 0;
    chat_log_set_request_id("db-worker");
    while (!atomic_load(&w->stop)) {
        long long now = chat_now_ms();
        if (!w->connected && now >= w->next_connect_ms)
            push_worker_connect(w);
        long long until = w->connected ? next_tail_ms : w->next_connect_ms;
        if (w->connected && w->next_heartbeat_ms < until)
            until = w->next_heartbeat_ms;
        if (w->connected && w->next_sweep_ms < until)
            until = w->next_sweep_ms;
        int timeout = until > now ? (int)(until - now) : 0;
        if (timeout > CLOCK_TICK_MS)
            timeout = CLOCK_TICK_MS;
        if (more)
            timeout = 0;
        struct pollfd fds[2] = {{.fd = w->wake_fd, .events = POLLIN},
                                {.fd = w->job_fd, .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        bool woken = more || (fds[0].revents & POLLIN) || (fds[1].revents & POLLIN);
        if (fds[0].revents & POLLIN)
            drain(w);
        if (fds[1].revents & POLLIN) {
            uint64_t v;
            if (read(w->job_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("eventfd read: %s", strerror(errno));
        }
        if (atomic_load(&w->stop))
            break;

        pthread_mutex_lock(&w->lock);
        struct push_job *jobs = w->jobs;
        w->jobs = NULL;
        w->jobs_tail = &w->jobs;
        pthread_mutex_unlock(&w->lock);
        run_jobs(w, jobs);
        if (w->connected)
            push_presence_upkeep(w, chat_now_ms());
        if (w->connected) /* chatctl gc's work, one daemon per interval (shared/retention.h) */
            chat_retention_tick(&w->db, w->cfg, chat_now_ms());
        if (w->wrote_events) {
            chat_wake_push_daemons(w->wake_send_fd, w->cfg);
            w->wrote_events = false;
        }
        more = false;
        if (w->connected && (woken || chat_now_ms() >= next_tail_ms)) {
            struct push_result *events;
            more = push_tail_round(w, &events);
            if (events)
                post_result(w, events);
            next_tail_ms = chat_now_ms() + w->cfg->push_poll_interval_ms;
        }
        notify_loop(w); /* the loop's clock, see push_worker_start */
    }
    if (w->connected && chat_presence_daemon_stop(&w->db, w->daemon_id) != CHAT_OK)
        log_warn("could not clear this daemon's presence rows; they expire by heartbeat");
    chat_db_close(&w->db);
    return NULL;
}

struct push_worker *push_worker_start(const struct chat_config *cfg, int wake_fd,
                                      const struct push_wake_policy *policy,
                                      const char *daemon_id, void (*notify)(void *arg),
                                      void *arg)
{
    struct push_worker *w = chat_xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->wake_fd = wake_fd;
    w->wake_policy = *policy;
    w->wake_send_fd = chat_wake_open();
    snprintf(w->daemon_id, sizeof(w->daemon_id), "%s", daemon_id);
    w->notify = notify;
    w->notify_arg = arg;
    w->jobs_tail = &w->jobs;
    w->results_tail = &w->results;
    atomic_init(&w->stop, false);
    atomic_init(&w->notified_ms, 0);
    pthread_mutex_init(&w->lock, NULL);
    push_gap_init(&w->gaps, 0, GAP_MAX);
    w->job_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->job_fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        goto fail;
    }
    /* The worker never handles signals: SIGTERM and SIGINT belong to the lws thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        log_error("pthread_create: %s", strerror(err));
        close(w->job_fd);
        goto fail;
    }
    return w;
fail:
    if (w->wake_send_fd >= 0)
        close(w->wake_send_fd);
    pthread_mutex_destroy(&w->lock);
    push_gap_free(&w->gaps);
    free(w);
    return NULL;
}

void push_worker_submit(struct push_worker *w, struct push_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    *w->jobs_tail = job;
    w->jobs_tail = &job->next;
    pthread_mutex_unlock(&w->lock);
    uint64_t one = 1;
    if (write(w->job_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("eventfd write: %s", strerror(errno));
}

void push_worker_stats(struct push_worker *w, struct push_worker_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}

long long push_worker_take_notify_time(struct push_worker *w)
{
    return atomic_exchange(&w->notified_ms, 0);
}

struct push_result *push_worker_take_results(struct push_worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct push_result *r = w->results;
    w->results = NULL;
    w->results_tail = &w->results;
    pthread_mutex_unlock(&w->lock);
    return r;
}

void push_worker_stop(struct push_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    uint64_t one = 1;
    if (write(w->job_fd, &one, sizeof(one)) < 0)
        log_warn("eventfd write: %s", strerror(errno));
    pthread_join(w->thread, NULL);
    close(w->job_fd);
    if (w->wake_send_fd >= 0)
        close(w->wake_send_fd);
    for (struct push_job *j = w->jobs, *next; j; j = next) {
        next = j->next;
        push_job_free(j);
    }
    for (struct push_result *r = w->results, *next; r; r = next) {
        next = r->next;
        push_result_free(r);
    }
    log_info("event tail stopped at id %lld; %llu gaps abandoned, %llu dropped, %zu open",
             w->gaps.high, w->gaps.abandoned, w->gaps.dropped, push_gap_count(&w->gaps));
    push_gap_free(&w->gaps);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
