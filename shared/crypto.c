#include "crypto.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "errors.h"
#include "log.h"

int chat_crypto_init(void)
{
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialise");
        return -1;
    }
    return 0;
}

void chat_token_new(char out[CHAT_TOKEN_CHARS + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, CHAT_TOKEN_CHARS + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void chat_token_hash(const char *token, size_t len, unsigned char out[CHAT_TOKEN_HASH_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

/* Every argon2id computation of this process, hash or verify (chat_password_runs). */
static atomic_long argon2_runs;

/* The gate of chat_password_gate_init: 0 slots means no gate. */
static sem_t gate;
static int gate_slots;

int chat_password_hash(const struct chat_config *cfg, const char *password, char out[128])
{
    atomic_fetch_add(&argon2_runs, 1);
    _Static_assert(crypto_pwhash_STRBYTES <= 128, "hash buffer too small");
    if (crypto_pwhash_str_alg(out, password, strlen(password),
                              (unsigned long long)cfg->password_opslimit,
                              (size_t)cfg->password_memlimit_kib * 1024u,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        log_error("argon2id hashing failed (out of memory?)");
        return CHAT_E_NOMEM;
    }
    return CHAT_OK;
}

bool chat_password_verify(const char *stored_hash, const char *password)
{
    if (strncmp(stored_hash, "$argon2id$", 10) != 0)
        return false;
    atomic_fetch_add(&argon2_runs, 1);
    return crypto_pwhash_str_verify(stored_hash, password, strlen(password)) == 0;
}

/* The dummy hash, made once per process with the configured cost (the first unknown
 * username pays for it, every later one runs only the verification). */
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[128];

void chat_password_dummy_verify(const struct chat_config *cfg, const char *password)
{
    char hash[128] = "";
    pthread_mutex_lock(&dummy_lock);
    if (!dummy_hash[0] && chat_password_hash(cfg, "timing-equaliser", hash) == CHAT_OK)
        memcpy(dummy_hash, hash, sizeof(hash));
    memcpy(hash, dummy_hash, sizeof(hash));
    pthread_mutex_unlock(&dummy_lock);
    if (hash[0])
        (void)chat_password_verify(hash, password);
}

long chat_password_runs(void)
{
    return atomic_load(&argon2_runs);
}

void chat_password_gate_init(int slots)
{
    assert(gate_slots == 0 && slots >= 0);
    if (slots > 0 && sem_init(&gate, 0, (unsigned)slots) == 0)
        gate_slots = slots;
}

bool chat_password_gate_enter(void)
{
    if (gate_slots == 0)
        return true;
    while (sem_trywait(&gate) != 0)
        if (errno != EINTR)
            return false;
    return true;
}

void chat_password_gate_leave(void)
{
    if (gate_slots > 0)
        sem_post(&gate);
}

bool chat_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    return sodium_memcmp(a, b, la) == 0;
}
