/* The plan file: which conversations the run uses and who takes part in each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

/* Upper bounds, so a bad file fails early instead of exhausting memory. */
#define PLAN_MAX_CONVS 100000
#define PLAN_MAX_CONNS 100000

static int parse_ids(char *line, long long **ids, size_t *n)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        char *end;
        errno = 0;
        long long v = strtoll(tok, &end, 10);
        if (errno || *end || v <= 0)
            return -1;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            long long *grown = realloc(*ids, cap * sizeof(**ids));
            if (!grown)
                return -1;
            *ids = grown;
        }
        (*ids)[(*n)++] = v;
    }
    return 0;
}

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Fills the connection tables: one connection per member, and no user twice. */
static int index_connections(struct loadgen_plan *plan)
{
    size_t n = 0;
    for (size_t c = 0; c < plan->nconvs; c++)
        n += plan->convs[c].nmembers;
    if (n == 0 || n > PLAN_MAX_CONNS) {
        fprintf(stderr, "chat-loadgen: the plan has %zu members (1 to %d allowed)\n", n,
                PLAN_MAX_CONNS);
        return -1;
    }
    plan->conn_user = calloc(n, sizeof(*plan->conn_user));
    plan->conn_conv = calloc(n, sizeof(*plan->conn_conv));
    plan->conn_member = calloc(n, sizeof(*plan->conn_member));
    long long *sorted = calloc(n, sizeof(*sorted));
    int rc = -1;
    if (!plan->conn_user || !plan->conn_conv || !plan->conn_member || !sorted)
        goto out;
    size_t k = 0;
    for (size_t c = 0; c < plan->nconvs; c++) {
        struct loadgen_conv *conv = &plan->convs[c];
        conv->conn_index = calloc(conv->nmembers, sizeof(*conv->conn_index));
        if (!conv->conn_index)
            goto out;
        for (size_t m = 0; m < conv->nmembers; m++, k++) {
            plan->conn_user[k] = conv->user_ids[m];
            plan->conn_conv[k] = c;
            plan->conn_member[k] = m;
            conv->conn_index[m] = k;
            sorted[k] = conv->user_ids[m];
        }
    }
    plan->nconns = n;
    qsort(sorted, n, sizeof(*sorted), compare_ll);
    for (size_t i = 1; i < n; i++) {
        if (sorted[i] == sorted[i - 1]) {
            fprintf(stderr, "chat-loadgen: user %lld appears twice in the plan\n", sorted[i]);
            goto out;
        }
    }
    rc = 0;
out:
    free(sorted);
    return rc;
}

int loadgen_plan_read(const char *path, struct loadgen_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "chat-loadgen: cannot open the plan %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t line_cap = 0, cap = 0, lineno = 0;
    int rc = -1;
    while (getline(&line, &line_cap, f) >= 0) {
        lineno++;
        long long *ids;
        size_t n;
        if (parse_ids(line, &ids, &n) != 0) {
            free(ids);
            fprintf(stderr, "chat-loadgen: %s:%zu: expected positive ids\n", path, lineno);
            goto out;
        }
        if (n == 0) {
            free(ids);
            continue;
        }
        if (n < 2 || plan->nconvs == PLAN_MAX_CONVS) {
            free(ids);
            fprintf(stderr, "chat-loadgen: %s:%zu: a conversation id and at least one member "
                            "expected (and at most %d conversations)\n",
                    path, lineno, PLAN_MAX_CONVS);
            goto out;
        }
        if (plan->nconvs == cap) {
            cap = cap ? 2 * cap : 64;
            struct loadgen_conv *grown = realloc(plan->convs, cap * sizeof(*grown));
            if (!grown) {
                free(ids);
                goto out;
            }
            plan->convs = grown;
        }
        /* The members are the ids after the conversation id; keep one allocation. */
        struct loadgen_conv *conv = &plan->convs[plan->nconvs++];
        conv->id = ids[0];
        conv->nmembers = n - 1;
        memmove(ids, ids + 1, (n - 1) * sizeof(*ids));
        conv->user_ids = ids;
        conv->conn_index = NULL;
    }
    if (plan->nconvs == 0) {
        fprintf(stderr, "chat-loadgen: the plan %s is empty\n", path);
        goto out;
    }
    rc = index_connections(plan);
out:
    free(line);
    fclose(f);
    if (rc != 0)
        loadgen_plan_free(plan);
    return rc;
}

void loadgen_plan_free(struct loadgen_plan *plan)
{
    for (size_t c = 0; c < plan->nconvs; c++) {
        free(plan->convs[c].user_ids);
        free(plan->convs[c].conn_index);
    }
    free(plan->convs);
    free(plan->conn_user);
    free(plan->conn_conv);
    free(plan->conn_member);
    memset(plan, 0, sizeof(*plan));
}
